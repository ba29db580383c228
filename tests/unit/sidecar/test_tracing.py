"""The trace sampling policy: a share of entry requests, capped per service whatever the
traffic (components/sidecar/tracing.py). Real Envoy accepts the sampler
(tests/unit/sidecar/test_bootstrap.py validates every bootstrap, the default has it) and
keeps traces complete under it (tests/local/test_traces_real_envoy.py)."""

from __future__ import annotations

import json

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import TRACE_SAMPLER_CLUSTER
from components.sidecar.tracing import (
    SAMPLER_CONFIG_PATH,
    SAMPLER_OVERSHOOT,
    roots_per_minute,
    trace_roots,
    traces_per_second,
)


def _settings(**changes):
    config = stack_config("dev")
    config.update({f"mesh-visibility:{k}": v for k, v in changes.items()})
    return settings_from_config(config)


def _providers(settings, service: str) -> list[dict]:
    boot = envoy_bootstrap(settings, settings.service(service))
    return [
        f["typed_config"]["tracing"]["provider"]["typed_config"]
        for listener in boot["static_resources"]["listeners"]
        for chain in listener["filter_chains"]
        for f in chain["filters"]
        if "tracing" in f["typed_config"]
    ]


def test_only_where_traces_start_a_sampler_caps_them_per_replica():
    """The entry service and the load generator start traces; every later hop follows the
    sampled flag it receives and runs no sampler (its cost stays off their hot path)."""
    settings = _settings(traceLimitPerMinute=12)
    greeter = settings.service("greeter")
    for provider in _providers(settings, "greeter"):
        # A request that brings a traceparent keeps its caller's decision.
        assert provider["sampler"]["name"] == "envoy.tracers.opentelemetry.samplers.parent_based"
        sampler = provider["sampler"]["typed_config"]["wrapped_sampler"]["typed_config"]
        # The same on every sidecar: it names the tracestate entry the sampler writes.
        assert (sampler["tenant"], sampler["cluster_id"]) == (settings.mesh_name, 0)
        assert sampler["root_spans_per_minute"] == 12 // greeter.replicas
        assert sampler["http_service"]["http_uri"]["cluster"] == TRACE_SAMPLER_CLUSTER
    assert all("sampler" in p for p in _providers(settings, "load-generator"))
    # The sampler alone decides where it runs; the share stays for no-ceiling stacks.
    boot = envoy_bootstrap(settings, greeter)
    hcms = [
        f["typed_config"]
        for listener in boot["static_resources"]["listeners"]
        for f in listener["filter_chains"][0]["filters"]
        if "tracing" in f["typed_config"]
    ]
    assert {h["tracing"]["random_sampling"]["value"] for h in hcms} == {100}
    for hop in ("greeting", "name"):
        assert all("sampler" not in p for p in _providers(settings, hop))
        clusters = envoy_bootstrap(settings, settings.service(hop))["static_resources"]
        assert TRACE_SAMPLER_CLUSTER not in {c["name"] for c in clusters["clusters"]}
    # Never 0 (the sampler's default, 1000): at least one a minute per replica.
    assert roots_per_minute(_settings(traceLimitPerMinute=1), greeter) == 1


def test_the_metrics_listener_answers_the_sampler_its_ceiling():
    settings = _settings(traceLimitPerMinute=12)
    boot = envoy_bootstrap(settings, settings.service("greeter"))
    [metrics] = [lst for lst in boot["static_resources"]["listeners"] if lst["name"] == "metrics"]
    hcm = metrics["filter_chains"][0]["filters"][0]["typed_config"]
    [answer] = [
        r["direct_response"]
        for r in hcm["route_config"]["virtual_hosts"][0]["routes"]
        if r["match"].get("path") == SAMPLER_CONFIG_PATH
    ]
    assert answer["status"] == 200
    assert json.loads(answer["body"]["inline_string"]) == {"rootSpansPerMinute": 6}


def test_no_ceiling_is_the_sampled_share_alone():
    settings = _settings(traceLimitPerMinute=0)
    assert all("sampler" not in p for p in _providers(settings, "greeter"))
    assert traces_per_second(settings, 1000) == 1000 * settings.trace_sample_rate / 100


def test_traces_stop_growing_at_the_ceiling():
    settings = _settings(traceLimitPerMinute=12, traceSampleRate=5)
    roots = {s.name for s in trace_roots(settings)}
    assert roots == {"greeter", "load-generator"}
    ceiling = 12 / 60 * SAMPLER_OVERSHOOT * len(roots)
    assert traces_per_second(settings, 0.5) == 0.5  # under the ceiling: every request
    assert traces_per_second(settings, 1000) == ceiling == traces_per_second(settings, 10**6)
    assert traces_per_second(_settings(tracing=False), 1000) == 0
