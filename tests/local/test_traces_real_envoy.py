"""Traces and the service map from real Envoys: the dev mesh (one replica a service) as the
local runner starts it (meshvis.local.mesh.LocalMesh: the deployed bootstraps, localized; only
the tracer's collector address points at the run's OTLP receiver), with requests sent by the
test through the load generator's egress listener, as the load generator sends them.

Bounded: three meshes of four replicas, about 25 s in all.
"""

from __future__ import annotations

import math
import time
import urllib.request

import pytest

from components.settings.model import Settings
from components.settings.ports import METRICS_PORT
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.names import INGRESS_PREFIX, TRACE_SAMPLER_CLUSTER, egress_prefix
from components.sidecar.tracing import span_name
from meshvis.local.mesh import LocalMesh
from meshvis.local.service_map import configured_edges, service_map
from meshvis.local.traces import Span, root_span, trace_report

pytestmark = pytest.mark.integration
# Envoy exports every 5 s; wait a little longer than that after the last span.
QUIET, WAIT = 6.0, 20.0


def _settings(**changes: object) -> Settings:
    config = stack_config("dev")
    config.update({f"mesh-visibility:{k}": v for k, v in changes.items()})
    settings = settings_from_config(config)
    return settings.model_copy(
        update={"services": tuple(s.model_copy(update={"replicas": 1}) for s in settings.services)}
    )


def _run(settings: Settings, requests: int, tmp_path) -> tuple[list[Span], LocalMesh]:
    """Start the mesh (no load generator process), send ``requests`` through the load
    generator's sidecar, wait for the spans; the mesh is stopped on return."""
    with LocalMesh(settings, tmp_path) as mesh:
        mesh.start()
        [load] = mesh.plan.of("load-generator")
        url = load.egress_url("greeter")
        for _ in range(requests):
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
        assert mesh.traces is not None
        mesh.traces.wait_quiet(QUIET, WAIT)
        spans = mesh.traces.spans()
        if settings.tracing and settings.trace_sample_rate == 100:
            _check_service_map(settings, mesh, url)  # after the spans were taken
    return spans, mesh


def _check_service_map(settings: Settings, mesh: LocalMesh, url: str) -> None:
    """The summary's service map from this Prometheus: exactly the configured edges, each with
    a rate (traffic goes on while Prometheus scrapes: a burst before the first scrape of a new
    counter has no rate)."""
    assert mesh.prometheus is not None
    deadline = time.monotonic() + 25
    graph: dict = {"edges": []}
    while time.monotonic() < deadline:
        for _ in range(3):
            urllib.request.urlopen(url, timeout=10).close()
        graph = service_map(settings, mesh.prometheus.query_series, "60s", {})
        if len(graph["edges"]) == len(configured_edges(settings)) and all(
            (e.get("rate_per_s") or 0) > 0 and e.get("p99_ms") is not None for e in graph["edges"]
        ):
            break
        time.sleep(1)
    assert [(e["source"], e["target"]) for e in graph["edges"]] == sorted(
        configured_edges(settings)
    )
    for edge in graph["edges"]:
        assert edge["rate_per_s"] > 0 and edge["error_ratio"] == 0
        assert 0 < edge["p50_ms"] <= edge["p99_ms"]


def test_every_hop_is_one_trace_with_the_right_parents(tmp_path):
    settings = _settings(traceSampleRate=100, traceLimitPerMinute=0)
    requests = 20
    spans, _ = _run(settings, requests, tmp_path)
    report = trace_report(settings, spans)
    assert report["received"] == report["entry_traces"] == requests
    assert report["complete_share"] >= 0.95
    assert report["spans_per_service"]["name"] == requests
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    # The call tree: each hop's nearest traced ancestor hop (router upstream spans between).
    expected_parent = {
        span_name("greeter", INGRESS_PREFIX): span_name("load-generator", egress_prefix("greeter")),
        span_name("greeter", egress_prefix("greeting")): span_name("greeter", INGRESS_PREFIX),
        span_name("greeter", egress_prefix("name")): span_name("greeter", INGRESS_PREFIX),
        span_name("greeting", INGRESS_PREFIX): span_name("greeter", egress_prefix("greeting")),
        span_name("name", INGRESS_PREFIX): span_name("greeter", egress_prefix("name")),
    }
    for trace in traces.values():
        by_id = {s.span_id: s for s in trace}
        root = root_span(trace)
        assert root is not None and not root.parent_id
        assert root.name == span_name("load-generator", egress_prefix("greeter"))
        for span in trace:
            if span.name not in expected_parent:
                continue
            parent = by_id[span.parent_id]
            while parent.name.startswith("router "):  # the caller's upstream attempt
                parent = by_id[parent.parent_id]
            assert parent.name == expected_parent[span.name], trace
            # Only the start is ordered: a callee's span ends when its stream is done, which can
            # be a few ms after its caller has read the whole answer (seen: 1.5 ms).
            assert parent.start_ns <= span.start_ns


def test_sampling_keeps_about_the_configured_share(tmp_path):
    rate, requests = 20, 250
    settings = _settings(traceSampleRate=rate, traceLimitPerMinute=0)
    spans, _ = _run(settings, requests, tmp_path)
    report = trace_report(settings, spans)
    # Binomial(250, 0.2): mean 50, sd 6.3; 4 sd either side fails by chance once in 15,000.
    mean, sd = requests * rate / 100, math.sqrt(requests * rate / 100 * (1 - rate / 100))
    assert mean - 4 * sd <= report["received"] <= mean + 4 * sd, report["received"]
    # The decision is made once, at the entry: a sampled request is traced on every hop.
    assert report["complete_share"] == 1.0


def test_the_ceiling_caps_root_traces_and_keeps_them_complete(tmp_path):
    """6 root traces a minute at most: the entry's sampler keeps a few (all of its warm-up,
    then about its ceiling), every one of them complete (the later hops follow its decision),
    and each sidecar reads its ceiling from its own metrics listener without a word in the
    logs. The load generator does not trace: traces start at the entry."""
    settings = _settings(traceSampleRate=100, traceLimitPerMinute=6)
    requests = 60
    with LocalMesh(settings, tmp_path) as mesh:
        mesh.start()
        started = time.monotonic()
        [load] = mesh.plan.of("load-generator")
        for _ in range(requests):
            urllib.request.urlopen(load.egress_url("greeter"), timeout=10).close()
        # The sampler asks for its configuration 10 s after start.
        time.sleep(max(0.0, started + 12 - time.monotonic()))
        assert mesh.traces is not None
        mesh.traces.wait_quiet(QUIET, WAIT)
        report = trace_report(settings, mesh.traces.spans())
        [entry] = mesh.plan.of("greeter")
        with urllib.request.urlopen(entry.admin_url("/clusters"), timeout=5) as response:
            clusters = response.read().decode()
    assert 1 <= report["entry_traces"] <= requests // 2, report["entry_traces"]
    # Every trace received starts at the entry's ingress and holds every hop.
    assert report["received"] == report["entry_traces"]
    assert {root_span(t).name for t in _traces(mesh.traces.spans()).values()} == {
        span_name("greeter", INGRESS_PREFIX)
    }
    assert report["complete_share"] == 1.0
    assert report["spans_per_service"].get("load-generator") is None
    assert f"{TRACE_SAMPLER_CLUSTER}::{entry.address}:{METRICS_PORT}::rq_success::1" in clusters
    for log in mesh.logs.glob("*.envoy.log"):
        assert "Dynatrace" not in log.read_text() and "SamplerConfig" not in log.read_text()


# A caller's W3C trace context: trace id, its span id, sampled (01) or not.
CLIENT_TRACE, SAMPLED_TRACE, CALLER_SPAN = "c1" * 16, "5a" * 16, "b7ad6b7169203331"


def _traces(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def _send(url: str, requests: int, headers: dict[str, str]) -> None:
    for _ in range(requests):
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def test_under_the_ceiling_only_a_hop_without_a_parent_decides_and_clients_cannot(tmp_path):
    """With the ceiling on every sidecar (6 a minute): a client's sampled ``traceparent`` at
    the entry is dropped there (its requests meet the entry's ceiling, under new trace ids);
    a later hop whose caller sampled records every request, under the caller's span; a later
    hop that gets only ``x-request-id`` (its caller's app forwards no ``traceparent``) is
    capped by its own ceiling instead of tracing every request."""
    settings = _settings(traceLimitPerMinute=6)
    client, parented, bare = 40, 30, 60
    with LocalMesh(settings, tmp_path) as mesh:
        mesh.start()
        [entry], [name], [greeting] = (mesh.plan.of(s) for s in ("greeter", "name", "greeting"))
        assert entry.ingress_url and name.ingress_url and greeting.ingress_url
        _send(entry.ingress_url, client, {"traceparent": f"00-{CLIENT_TRACE}-{CALLER_SPAN}-01"})
        _send(name.ingress_url, parented, {"traceparent": f"00-{SAMPLED_TRACE}-{CALLER_SPAN}-01"})
        _send(greeting.ingress_url, bare, {"x-request-id": "2f6c9e3a-1b2d-4c5e-9f70-8a9b0c1d2e3f"})
        assert mesh.traces is not None
        mesh.traces.wait_quiet(QUIET, WAIT)
        spans = mesh.traces.spans()
    traces = _traces(spans)
    assert CLIENT_TRACE not in traces
    entry_roots = [t for t in traces.values() if root_span(t).service == "greeter"]
    assert 1 <= len(entry_roots) <= client // 2, len(entry_roots)
    followed = traces[SAMPLED_TRACE]
    assert len(followed) == parented
    assert {(s.name, s.parent_id) for s in followed} == {
        (span_name("name", INGRESS_PREFIX), CALLER_SPAN)
    }
    # Requests into greeting without a parent: the ones the entry's traces hold have one.
    own = [s for s in spans if s.service == "greeting" and not s.parent_id]
    assert 1 <= len(own) <= bare // 2, len(own)


def test_tracing_off_sends_nothing(tmp_path):
    spans, _ = _run(_settings(tracing=False), 10, tmp_path)
    assert spans == []
