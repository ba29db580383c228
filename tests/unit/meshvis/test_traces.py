"""The local OTLP/HTTP receiver and the trace report (pure, plus one loopback HTTP server)."""

from __future__ import annotations

import http.client

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import TRACE_COLLECTOR_CLUSTER
from components.stack import stack_settings
from meshvis.local.traces import (
    OtlpReceiver,
    Span,
    expected_hops,
    trace_lines,
    trace_report,
    with_collector,
)

DEV = stack_settings("dev")


def _export(spans: list[tuple[str, str, str, str]]) -> bytes:
    """An export request: (service, name, span id, parent id) per span, one trace."""
    request = ExportTraceServiceRequest()
    for service, name, span_id, parent in spans:
        resource = ResourceSpans()
        attribute = resource.resource.attributes.add()
        attribute.key, attribute.value.string_value = "service.name", service
        span = resource.scope_spans.add().spans.add()
        span.trace_id = bytes.fromhex("ab" * 16)
        span.span_id, span.parent_span_id = bytes.fromhex(span_id), bytes.fromhex(parent)
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = name, 1_000, 3_000_000
        request.resource_spans.append(resource)
    return request.SerializeToString()


def test_receiver_takes_chunked_protobuf_like_envoy_sends(tmp_path):
    """Envoy's exporter posts chunked bodies without Content-Length (seen with Envoy 1.40)."""
    receiver = OtlpReceiver("127.0.0.1")
    receiver.start()
    try:
        body = _export([("name", "name ingress", "01" * 8, "")])
        connection = http.client.HTTPConnection(*receiver.address, timeout=5)
        connection.putrequest("POST", "/v1/traces")
        connection.putheader("Content-Type", "application/x-protobuf")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        half = len(body) // 2
        for chunk in (body[:half], body[half:]):
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        receiver.stop()
    [span] = receiver.spans()
    assert (span.service, span.name, span.parent_id) == ("name", "name ingress", "")


def test_complete_traces_hold_every_hop_of_the_entry_path():
    hops = expected_hops(DEV, "load-generator", "greeter")
    assert hops == {
        "load-generator egress_greeter",
        "greeter ingress",
        "greeter egress_greeting",
        "greeting ingress",
        "greeter egress_name",
        "name ingress",
    }

    def trace(trace_id: str, names: list[str]) -> list[Span]:
        spans, parent = [], ""
        for i, name in enumerate(names):
            span_id = f"{i + 1:016x}"
            spans.append(Span(trace_id, span_id, parent, name, name.split()[0], i, 100 - i))
            parent = span_id
        return spans

    complete = trace(
        "a" * 32,
        [
            "load-generator egress_greeter",
            "greeter ingress",
            "greeter egress_greeting",
            "greeting ingress",
            "greeter egress_name",
            "name ingress",
        ],
    )
    broken = trace("b" * 32, ["load-generator egress_greeter", "greeter ingress"])
    report = trace_report(DEV, complete + broken)
    assert (report["received"], report["entry_traces"], report["complete_traces"]) == (2, 2, 1)
    assert report["complete_share"] == 0.5
    assert report["spans_per_service"]["greeter"] == 4
    assert [row["depth"] for row in report["slowest"]["spans"]] == list(range(6))
    assert any("complete: 1 of 2" in line for line in trace_lines(report))


def test_only_the_collector_address_changes():
    boot = envoy_bootstrap(DEV, DEV.service("greeter"))
    local = with_collector(envoy_bootstrap(DEV, DEV.service("greeter")), ("127.9.0.1", 4318))
    changed = [
        c["name"]
        for c, d in zip(
            boot["static_resources"]["clusters"],
            local["static_resources"]["clusters"],
            strict=True,
        )
        if c != d
    ]
    assert changed == [TRACE_COLLECTOR_CLUSTER]
    [collector] = [
        c for c in local["static_resources"]["clusters"] if c["name"] == TRACE_COLLECTOR_CLUSTER
    ]
    endpoint = collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.9.0.1", "port_value": 4318}
    assert {k: v for k, v in local.items() if k != "static_resources"} == {
        k: v for k, v in boot.items() if k != "static_resources"
    }
