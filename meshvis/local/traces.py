"""The local mesh's trace collector: an OTLP/HTTP receiver on loopback, and what its spans show.

It stands where the CloudWatch agent (ECS) or Tempo (EKS) stands: every sidecar's
OpenTelemetry tracer posts ``ExportTraceServiceRequest`` protobufs to ``/v1/traces``
(components/sidecar/tracing.py). The report says how many traces arrived, the spans per
service, the share of complete traces (every hop of the entry request's path in one trace)
and the slowest trace as a waterfall.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from components.settings.model import Settings
from components.sidecar.names import INGRESS_PREFIX, TRACE_COLLECTOR_CLUSTER, egress_prefix
from components.sidecar.tracing import OTLP_TRACES_PATH, span_name

PROTOBUF = "application/x-protobuf"
WATERFALL_WIDTH = 40


@dataclass(frozen=True)
class Span:
    """One span as the receiver keeps it (ids in hex, times in ns since the epoch)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def decode_spans(body: bytes) -> list[Span]:
    """The spans of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        service = attributes.get("service.name", "")
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                spans.append(
                    Span(
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        span.name,
                        service,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                    )
                )
    return spans


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on ``host:port`` (port 0: any free one) in a thread."""

    def __init__(self, host: str, port: int = 0) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self._last = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self._body()
                if self.path != OTLP_TRACES_PATH:
                    self._answer(404, b"")
                    return
                try:
                    spans = decode_spans(body)
                except Exception:
                    self._answer(400, b"")
                    return
                receiver._add(spans)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _body(self) -> bytes:
                # Envoy's OTLP/HTTP exporter sends its body chunked, without a length.
                if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                    return self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = b""
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()  # the blank line after the last (empty) chunk
                return body

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; what was received stays readable."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def _add(self, spans: list[Span]) -> None:
        with self._lock:
            self._spans.extend(spans)
            self._last = time.monotonic()

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Wait until nothing arrived for ``quiet`` seconds since the call or the last export
        (Envoy flushes its spans every 5 s), at most ``timeout`` seconds."""
        called = time.monotonic()
        deadline = called + timeout
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - max(self._last, called)
            if idle >= quiet:
                return
            time.sleep(min(0.2, quiet - idle))


def with_collector(bootstrap: dict, address: tuple[str, int]) -> dict:
    """``bootstrap`` with its trace collector cluster (if it traces) pointing at the run's
    receiver at ``address``: the CloudWatch agent's or Tempo's place. Nothing else changes."""
    for cluster in bootstrap["static_resources"]["clusters"]:
        if cluster["name"] == TRACE_COLLECTOR_CLUSTER:
            host, port = address
            cluster.pop("dns_lookup_family", None)
            cluster["type"] = "STATIC"
            cluster["load_assignment"]["endpoints"] = [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": port}}
                            }
                        }
                    ]
                }
            ]
    return bootstrap


def expected_hops(settings: Settings, caller: str, upstream: str) -> set[str]:
    """The span names of one complete request from ``caller`` to ``upstream``: the caller's
    egress hop, then the upstream's ingress and, recursively, every call it makes (a demo
    app calls each of its upstreams once per request)."""
    hops = {span_name(caller, egress_prefix(upstream)), span_name(upstream, INGRESS_PREFIX)}
    for nxt in settings.service(upstream).upstreams:
        hops |= expected_hops(settings, upstream, nxt)
    return hops


def _by_trace(spans: Iterable[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def root_span(trace: list[Span]) -> Span | None:
    """The span with no parent in the trace (the hop where the request entered the mesh)."""
    ids = {s.span_id for s in trace}
    roots = [s for s in trace if not s.parent_id or s.parent_id not in ids]
    return min(roots, key=lambda s: s.start_ns) if roots else None


def trace_report(settings: Settings, spans: list[Span]) -> dict:
    """``traces`` of the summary: counts, spans per service, complete-trace share and the
    slowest trace's waterfall.

    A trace is complete when it holds every hop (``expected_hops``) of the path its root
    started: a load generator's call into its upstream, or an outside request to an app's
    ingress. Only traces whose root is such an entry count towards the share.
    """
    traces = _by_trace(spans)
    per_service: dict[str, int] = {}
    for span in spans:
        per_service[span.service] = per_service.get(span.service, 0) + 1
    entries = complete = 0
    for trace in traces.values():
        hops = _entry_hops(settings, root_span(trace))
        if hops is None:
            continue
        entries += 1
        complete += hops <= {s.name for s in trace}
    slowest = max(traces.values(), key=_trace_ms, default=[])
    return {
        "received": len(traces),
        "spans": len(spans),
        "spans_per_service": dict(sorted(per_service.items())),
        "entry_traces": entries,
        "complete_traces": complete,
        "complete_share": round(complete / entries, 4) if entries else None,
        "slowest": waterfall(slowest),
    }


def _entry_hops(settings: Settings, root: Span | None) -> set[str] | None:
    if root is None:
        return None
    for service in settings.services:
        for upstream in service.upstreams:
            if root.name == span_name(service.name, egress_prefix(upstream)):
                return expected_hops(settings, service.name, upstream)
        if root.name == span_name(service.name, INGRESS_PREFIX):
            return {root.name} | {
                h for u in service.upstreams for h in expected_hops(settings, service.name, u)
            }
    return None


def _trace_ms(trace: list[Span]) -> float:
    if not trace:
        return 0.0
    return (max(s.end_ns for s in trace) - min(s.start_ns for s in trace)) / 1e6


def waterfall(trace: list[Span]) -> dict:
    """One trace as rows in call order: name, depth, offset and duration (ms)."""
    if not trace:
        return {}
    start = min(s.start_ns for s in trace)
    children: dict[str, list[Span]] = {}
    for span in trace:
        children.setdefault(span.parent_id, []).append(span)
    ids = {s.span_id for s in trace}
    rows: list[dict] = []

    def walk(span: Span, depth: int) -> None:
        rows.append(
            {
                "name": span.name,
                "service": span.service,
                "depth": depth,
                "start_ms": round((span.start_ns - start) / 1e6, 2),
                "duration_ms": round(span.duration_ms, 2),
            }
        )
        for child in sorted(children.get(span.span_id, []), key=lambda s: s.start_ns):
            walk(child, depth + 1)

    for root in sorted((s for s in trace if s.parent_id not in ids), key=lambda s: s.start_ns):
        walk(root, 0)
    return {"trace_id": trace[0].trace_id, "duration_ms": round(_trace_ms(trace), 2), "spans": rows}


def waterfall_lines(slowest: dict, width: int = WATERFALL_WIDTH) -> list[str]:
    """The waterfall as text: one line per span, a bar placed on the trace's time line."""
    if not slowest:
        return []
    total = slowest["duration_ms"] or 1.0
    label = max(len("  " * r["depth"] + r["name"]) for r in slowest["spans"])
    lines = []
    for row in slowest["spans"]:
        begin = int(row["start_ms"] / total * width)
        length = max(1, round(row["duration_ms"] / total * width))
        bar = " " * begin + "█" * min(length, width - begin)
        name = ("  " * row["depth"] + row["name"]).ljust(label)
        lines.append(f"{name} |{bar.ljust(width)}| {row['duration_ms']:7.2f} ms")
    return lines


def trace_lines(report: dict) -> list[str]:
    """The trace report for the terminal: counts, complete share, the slowest trace."""
    if not report.get("received") and report.get("enabled") is False:
        return ["traces: tracing is off (mesh-visibility:tracing)"]
    share = report.get("complete_share")
    lines = [
        f"traces: {report['received']} received, {report['spans']} spans "
        f"({', '.join(f'{k} {v}' for k, v in report['spans_per_service'].items())}); "
        f"complete: {report['complete_traces']} of {report['entry_traces']} entry traces"
        + ("" if share is None else f" ({share * 100:.1f} %)")
    ]
    slowest = report.get("slowest")
    if slowest:
        lines.append(f"slowest trace {slowest['trace_id']} ({slowest['duration_ms']:.1f} ms):")
        lines += [f"  {line}" for line in waterfall_lines(slowest)]
    return lines
