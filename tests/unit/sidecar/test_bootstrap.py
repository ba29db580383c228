"""The sidecar bootstrap follows the contract in DESIGN.md (that the real Envoy accepts every
variant: tests/consumers/sidecar/test_bootstrap.py)."""

from __future__ import annotations

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import LB_HEALTH_PATH
from components.stack import stack_settings
from meshvis.local.cloudwatch_agent import MAX_DATAGRAM


def _listeners(bootstrap: dict) -> dict[str, tuple[str, int]]:
    return {
        l["name"]: (
            l["address"]["socket_address"]["address"],
            l["address"]["socket_address"]["port_value"],
        )
        for l in bootstrap["static_resources"]["listeners"]
    }


def _clusters(bootstrap: dict) -> dict[str, dict]:
    return {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}


def _hcm(listener: dict) -> dict:
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def _variant(stack: str, **changes) -> object:
    config = stack_config(stack)
    config.update({f"mesh-visibility:{k}": v for k, v in changes.items()})
    return settings_from_config(config)


def test_ports_follow_the_sidecar_contract():
    settings = stack_settings("dev")
    greeter = envoy_bootstrap(settings, settings.service("greeter"))
    assert _listeners(greeter) == {
        "ingress": ("0.0.0.0", 15000),
        "egress_greeting": ("127.0.0.1", 9001),
        "egress_name": ("127.0.0.1", 9002),
        "metrics": ("0.0.0.0", 9902),
    }
    assert greeter["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9901,
    }
    local_app = _clusters(greeter)["local_app"]["load_assignment"]["endpoints"][0]
    assert local_app["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 3000,
    }
    # A load generator has no ingress.
    load = envoy_bootstrap(settings, settings.service("load-generator"))
    assert set(_listeners(load)) == {"egress_greeter", "metrics"}


# EKS: fully qualified (trailing dot), so the pods' `ndots:5` search list is never tried;
# --mode validate accepts it (test_every_bootstrap_passes_envoy_validate, tests/unit/eks/
# test_objects.py) and a real Envoy resolves it (tests/local/test_envoy_dns.py).
@pytest.mark.parametrize(
    "topology, host", [("ecs", "greeting.internal"), ("eks", "greeting.mesh.svc.cluster.local.")]
)
def test_upstreams_are_strict_dns_with_resilience(topology, host):
    settings = _variant("dev", topology=topology)
    cluster = _clusters(envoy_bootstrap(settings, settings.service("greeter")))["greeting"]
    assert cluster["type"] == "STRICT_DNS"
    [endpoint] = [e["endpoint"] for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]
    assert endpoint["address"]["socket_address"] == {"address": host, "port_value": 15000}
    assert cluster["connect_timeout"]
    assert cluster["outlier_detection"]["consecutive_5xx"] > 0
    thresholds = cluster["circuit_breakers"]["thresholds"][0]
    assert thresholds["retry_budget"]["budget_percent"]["value"] > 0
    route = _hcm(
        next(
            l
            for l in envoy_bootstrap(settings, settings.service("greeter"))["static_resources"][
                "listeners"
            ]
            if l["name"] == "egress_greeting"
        )
    )
    action = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert action["timeout"] and action["retry_policy"]["per_try_timeout"]
    assert set(action["retry_policy"]["retry_on"].split(",")) >= {"5xx", "reset", "connect-failure"}


def test_stats_tags_sink_and_profile():
    essential = stack_settings("dev")
    boot = envoy_bootstrap(essential, essential.service("name"))
    assert boot["stats_config"]["stats_tags"] == [
        {"tag_name": "mesh", "fixed_value": "greeting"},
        {"tag_name": "service", "fixed_value": "name"},
    ]
    sink = boot["stats_sinks"][0]
    assert sink["name"] == "envoy.stat_sinks.dog_statsd"
    assert sink["typed_config"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 8125,
    }
    # Batched counters and gauges fit what the agent (and its local stand-in) reads at once.
    assert 1500 <= sink["typed_config"]["max_bytes_per_datagram"] <= MAX_DATAGRAM
    assert "inclusion_list" in boot["stats_config"]["stats_matcher"]
    full = _variant("dev", statsProfile="full")
    assert "stats_matcher" not in envoy_bootstrap(full, full.service("name"))["stats_config"]
    eks = _variant("dev", topology="eks")
    assert "stats_sinks" not in envoy_bootstrap(eks, eks.service("name"))


def test_access_log_is_json_on_stdout():
    settings = stack_settings("dev")
    for listener in envoy_bootstrap(settings, settings.service("greeter"))["static_resources"][
        "listeners"
    ]:
        if listener["name"] == "metrics":
            assert "access_log" not in _hcm(listener)
            continue
        log = _hcm(listener)["access_log"][0]
        assert log["name"] == "envoy.access_loggers.stdout"
        fields = log["typed_config"]["log_format"]["json_format"]
        assert {
            "method",
            "path",
            "response_code",
            "response_flags",
            "duration_ms",
            "upstream_host",
        } <= set(fields)


def _access_logs(settings, service: str) -> dict[str, list[dict]]:
    """Each traffic listener's ``access_log`` list (absent: [])."""
    return {
        l["name"]: _hcm(l).get("access_log", [])
        for l in envoy_bootstrap(settings, settings.service(service))["static_resources"][
            "listeners"
        ]
        if l["name"] != "metrics"
    }


FAILED = [
    {"status_code_filter": {"comparison": {"op": "GE", "value": {"default_value": 500}}}},
    {"response_flag_filter": {}},
]


def _slow(ms: int) -> dict:
    return {"duration_filter": {"comparison": {"op": "GE", "value": {"default_value": ms}}}}


def test_default_access_log_keeps_failed_slow_and_a_request_id_sample():
    """Ingress: 5xx or any response flag, at least latencyAlarmMs, or 1 % decided from the
    x-request-id (the same on every hop); egress (the load generator's too): failed only."""
    settings = stack_settings("dev")
    assert (settings.access_log, settings.access_log_sample_percent) == ("sampled", 1)
    sample = {
        "runtime_filter": {
            "runtime_key": "meshvis.access_log.sample_percent",
            "percent_sampled": {"numerator": 1, "denominator": "HUNDRED"},
            "use_independent_randomness": False,
        }
    }
    assert _access_logs(settings, "greeting")["ingress"][0]["filter"] == {
        "or_filter": {"filters": [*FAILED, _slow(settings.latency_alarm_ms), sample]}
    }
    # The entry service (behind the ALB): its health checks stay out of the sample only.
    not_probe = {
        "header_filter": {
            "header": {
                "name": "x-envoy-original-path",
                "string_match": {"exact": LB_HEALTH_PATH},
                "invert_match": True,
                "treat_missing_header_as_empty": True,
            }
        }
    }
    logs = _access_logs(settings, "greeter")
    assert logs["ingress"][0]["filter"] == {
        "or_filter": {
            "filters": [
                *FAILED,
                _slow(settings.latency_alarm_ms),
                {"and_filter": {"filters": [not_probe, sample]}},
            ]
        }
    }
    for egress in ("egress_greeting", "egress_name"):
        assert logs[egress][0]["filter"] == {"or_filter": {"filters": FAILED}}
    load = _access_logs(settings, "load-generator")["egress_greeter"]
    assert load[0]["filter"] == {"or_filter": {"filters": FAILED}}


def test_access_log_policies():
    errors = _access_logs(_variant("dev", accessLog="errors", accessLogSlowMs=250), "greeter")
    assert errors["ingress"][0]["filter"] == {"or_filter": {"filters": [*FAILED, _slow(250)]}}
    assert errors["egress_name"][0]["filter"] == {"or_filter": {"filters": FAILED}}
    every = _access_logs(_variant("dev", accessLog="all"), "greeter")
    assert all(len(log) == 1 and "filter" not in log[0] for log in every.values())
    off = _access_logs(_variant("dev", accessLog="off"), "greeter")
    assert off == {"ingress": [], "egress_greeting": [], "egress_name": []}


def test_metrics_listener_serves_only_stats_and_ready():
    settings = stack_settings("dev")
    metrics = next(
        l
        for l in envoy_bootstrap(settings, settings.service("name"))["static_resources"][
            "listeners"
        ]
        if l["name"] == "metrics"
    )
    routes = _hcm(metrics)["route_config"]["virtual_hosts"][0]["routes"]
    proxied = {r["match"]["path"]: r["route"]["cluster"] for r in routes if "route" in r}
    assert proxied == {"/stats/prometheus": "envoy_admin", "/ready": "envoy_admin"}
    assert routes[-1]["direct_response"]["status"] == 404


def test_step_1_of_a_namespace_change_lists_both_names_of_every_upstream():
    """``previousDnsNamespace`` (docs/day-2.md "Changes that need care"): each upstream at its new
    and old name, so the caller finds it whichever namespace its tasks are registered in."""
    settings = _variant("dev", dnsNamespace="mesh", previousDnsNamespace="internal")
    for upstream, cluster in _clusters(
        envoy_bootstrap(settings, settings.service("greeter"))
    ).items():
        if cluster["type"] != "STRICT_DNS":
            continue
        endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        assert [e["endpoint"]["address"]["socket_address"] for e in endpoints] == [
            {"address": f"{upstream}.mesh", "port_value": 15000},
            {"address": f"{upstream}.internal", "port_value": 15000},
        ]


@pytest.mark.parametrize(
    "topology, collector",
    [
        ("ecs", ("127.0.0.1", 4318, "STATIC")),
        ("eks", ("tempo.monitoring.svc.cluster.local.", 4318, "STRICT_DNS")),
    ],
)
def test_every_request_listener_traces_with_opentelemetry(topology, collector):
    settings = _variant("dev", topology=topology, traceSampleRate=12.5, traceLimitPerMinute=0)
    boot = envoy_bootstrap(settings, settings.service("greeter"))
    for listener in boot["static_resources"]["listeners"]:
        hcm = _hcm(listener)
        if listener["name"] == "metrics":
            assert "tracing" not in hcm
            continue
        tracing = hcm["tracing"]
        assert tracing["random_sampling"] == {"value": 12.5}
        # Retries to another replica show as their own spans under the caller's hop.
        assert tracing["spawn_upstream_span"] is (listener["name"] != "ingress")
        config = tracing["provider"]["typed_config"]
        assert tracing["provider"]["name"] == "envoy.tracers.opentelemetry"
        assert config["service_name"] == "greeter"
        assert config["http_service"]["http_uri"]["cluster"] == "otlp_collector"
        [detector] = config["resource_detectors"]
        assert detector["typed_config"]["attributes"] == {"mesh": "greeting", "service": "greeter"}
        *probe, route = hcm["route_config"]["virtual_hosts"][0]["routes"]
        assert route["decorator"] == {"operation": f"greeter {listener['name']}"}
        # The ALB's health checks (ecs entry service only) are never traced.
        never = {"numerator": 0}
        assert [p.get("tracing") for p in probe] == [
            {"client_sampling": never, "random_sampling": never, "overall_sampling": never}
        ] * (topology == "ecs" and listener["name"] == "ingress")
    cluster = _clusters(boot)["otlp_collector"]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    socket = address["address"]["socket_address"]
    assert (socket["address"], socket["port_value"], cluster["type"]) == collector


def test_tracing_off_leaves_no_tracer():
    """(Envoy accepts it: tests/consumers/sidecar/test_bootstrap.py.)"""
    settings = _variant("dev", tracing=False)
    boot = envoy_bootstrap(settings, settings.service("greeter"))
    assert "otlp_collector" not in _clusters(boot)
    assert all("tracing" not in _hcm(l) for l in boot["static_resources"]["listeners"])
