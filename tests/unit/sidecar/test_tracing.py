"""The trace sampling policy: a share of entry requests, capped per service whatever the
traffic (components/sidecar/tracing.py). Real Envoy accepts the sampler
(tests/consumers/sidecar/test_bootstrap.py validates every bootstrap, the default has it) and
keeps traces complete under it (tests/local/test_traces_real_envoy.py)."""

from __future__ import annotations

import json

from components.settings.service_args import mesh_args
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import INGRESS_PREFIX, TRACE_SAMPLER_CLUSTER
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


def _hcms(settings, service: str) -> list[dict]:
    boot = envoy_bootstrap(settings, settings.service(service))
    return [
        f["typed_config"]
        for listener in boot["static_resources"]["listeners"]
        for f in listener["filter_chains"][0]["filters"]
        if "tracing" in f["typed_config"]
    ]


def test_every_sidecar_follows_its_parent_and_caps_requests_without_one():
    """Under a ceiling every app sidecar samples every request at the HCM (its share would veto
    a span its parent kept) and runs ParentBased around the ceiling's sampler, per replica; the
    load generator does not trace."""
    settings = _settings(traceLimitPerMinute=12)
    for name in ("greeter", "greeting", "name"):
        service = settings.service(name)
        for provider in _providers(settings, name):
            # A request that brings a traceparent keeps its caller's decision.
            assert (
                provider["sampler"]["name"] == "envoy.tracers.opentelemetry.samplers.parent_based"
            )
            sampler = provider["sampler"]["typed_config"]["wrapped_sampler"]["typed_config"]
            # The same on every sidecar: it names the tracestate entry the sampler writes.
            assert (sampler["tenant"], sampler["cluster_id"]) == (settings.mesh_name, 0)
            assert sampler["root_spans_per_minute"] == -(-12 // service.replicas)
            assert sampler["http_service"]["http_uri"]["cluster"] == TRACE_SAMPLER_CLUSTER
        assert {h["tracing"]["random_sampling"]["value"] for h in _hcms(settings, name)} == {100}
    assert _hcms(settings, "load-generator") == []
    # Every service's component gets the mesh's ceiling (each sidecar runs it).
    assert mesh_args(settings)["trace_limit_per_minute"] == 12
    # Never 0 (the sampler's default, 1000): at least one a minute per replica.
    assert roots_per_minute(_settings(traceLimitPerMinute=1), settings.service("greeter")) == 1


def test_only_the_entry_behind_the_load_balancer_drops_a_clients_trace_context():
    settings = _settings(traceLimitPerMinute=12)
    assert settings.entry_service == "greeter"
    [ingress] = [h for h in _hcms(settings, "greeter") if h["stat_prefix"] == INGRESS_PREFIX]
    [mutation] = ingress["early_header_mutation_extensions"]
    assert mutation["name"] == "envoy.http.early_header_mutation.header_mutation"
    removed = {m["remove"] for m in mutation["typed_config"]["mutations"]}
    assert removed == {"traceparent", "tracestate"}
    later = [h for name in ("greeting", "name") for h in _hcms(settings, name)]
    egress = [h for h in _hcms(settings, "greeter") if h["stat_prefix"] != INGRESS_PREFIX]
    assert later and egress
    assert all("early_header_mutation_extensions" not in h for h in later + egress)
    # The share alone (no ceiling) leaves the entry and the load generator as they were.
    flat = _settings(traceLimitPerMinute=0)
    assert all("early_header_mutation_extensions" not in h for h in _hcms(flat, "greeter"))
    assert _hcms(flat, "load-generator")


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
    """Priced at what the sampler really keeps at most per replica of the entry: twice its
    ceiling, or about 160 a minute when paths carry ids (bench/trace_ceiling.py)."""
    settings = _settings(traceLimitPerMinute=12, traceSampleRate=5)
    roots = trace_roots(settings)
    assert [s.name for s in roots] == ["greeter"]
    per_replica = max(SAMPLER_OVERSHOOT * roots_per_minute(settings, roots[0]), 160)
    ceiling = roots[0].replicas * per_replica / 60
    assert traces_per_second(settings, 0.5) == 0.5  # under the ceiling: every request
    assert traces_per_second(settings, 1000) == ceiling == traces_per_second(settings, 10**6)
    # A ceiling above the many-paths bound is priced at twice itself.
    high = _settings(traceLimitPerMinute=600)
    assert traces_per_second(high, 1000) == 2 * 600 / 60
    assert traces_per_second(_settings(tracing=False), 1000) == 0
