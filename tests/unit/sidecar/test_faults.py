"""A service's ``faults`` key in its sidecar: the fault filter on the ingress only, before the
router, an admin runtime layer to change it, nothing at all without the key (the golden renders of
tests/golden/cases.yaml show what it adds; tests/consumers/sidecar/test_faults.py: the real Envoy
accepts every variant)."""

from __future__ import annotations

import json

import pytest

from components.ecs.containers import container_definitions
from components.eks.objects import ENVOY_CONFIG_KEY, envoy_config_map
from components.settings.stack_files import stack_names
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.faults import (
    FAULT_FILTER,
    cleared_overrides,
    fractional_percent,
    runtime_modify_path,
    runtime_overrides,
)
from components.sidecar.names import LB_HEALTH_PATH
from components.stack import stack_settings
from tests.support.fault_cases import with_faults


def _http_filters(listener: dict) -> list[str]:
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return [f["name"] for f in hcm["http_filters"]]


def _listeners(bootstrap: dict) -> dict[str, dict]:
    return {item["name"]: item for item in bootstrap["static_resources"]["listeners"]}


def test_the_filter_sits_before_the_router_on_the_ingress_only():
    settings, service = with_faults("dev", "greeter", {"abortPercent": 10})
    listeners = _listeners(envoy_bootstrap(settings, service))
    assert _http_filters(listeners.pop("ingress")) == [FAULT_FILTER, "envoy.filters.http.router"]
    assert {name: _http_filters(item) for name, item in listeners.items()} == {
        name: ["envoy.filters.http.router"] for name in listeners
    }


@pytest.mark.parametrize("stack", stack_names())
def test_without_the_key_nothing_changes_and_with_it_only_filter_and_runtime(stack):
    """No filter, no runtime layer without ``faults``: the hot path is as before. With it,
    the ingress filter and the runtime layers are all that differ."""
    settings = stack_settings(stack)
    for service in settings.app_services:
        plain = envoy_bootstrap(settings, service)
        assert FAULT_FILTER not in json.dumps(plain) and "layered_runtime" not in plain
        faulted = envoy_bootstrap(*with_faults(stack, service.name, {}))
        assert set(faulted) - set(plain) == {"layered_runtime"}
        ingress = _listeners(faulted)["ingress"]["filter_chains"][0]["filters"][0]
        filters = ingress["typed_config"]["http_filters"]
        assert filters.pop(0)["name"] == FAULT_FILTER
        # ... and, on the entry behind a load balancer, its health route's exemption.
        routes = ingress["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
        exempt = [r["match"] for r in routes if r.pop("typed_per_filter_config", None)]
        behind_alb = settings.topology == "ecs" and settings.entry_service == service.name
        assert exempt == ([{"path": LB_HEALTH_PATH}] if behind_alb else [])
        del faulted["layered_runtime"]
        assert faulted == plain


def test_the_load_balancers_health_route_carries_an_empty_fault_config():
    """Envoy uses a route's fault config instead of the filter's, runtime keys included: an
    empty HTTPFault on the ALB's health route injects nothing there (a real Envoy shows it:
    tests/local/test_fault_filter.py)."""
    settings, service = with_faults("dev", "greeter", {"abortPercent": 100})
    ingress = _listeners(envoy_bootstrap(settings, service))["ingress"]
    routes = ingress["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
        "virtual_hosts"
    ][0]["routes"]
    (health,) = [r for r in routes if r["match"] == {"path": LB_HEALTH_PATH}]
    assert health["typed_per_filter_config"] == {
        FAULT_FILTER: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
        }
    }
    assert all("typed_per_filter_config" not in r for r in routes if r is not health)


def test_both_sections_are_there_and_the_runtime_has_an_admin_layer():
    settings, service = with_faults("dev", "name", {})
    boot = envoy_bootstrap(settings, service)
    hcm = _listeners(boot)["ingress"]["filter_chains"][0]["filters"][0]["typed_config"]
    config = hcm["http_filters"][0]["typed_config"]
    assert config["abort"] == {"http_status": 503, "percentage": fractional_percent(0)}
    # delayMs 0: a placeholder duration, and the runtime's base layer makes it no delay.
    assert config["delay"]["percentage"] == fractional_percent(0)
    assert boot["layered_runtime"]["layers"] == [
        {"name": "faults", "static_layer": {"fault.http.delay.fixed_duration_ms": 0}},
        {"name": "admin", "admin_layer": {}},
    ]
    settings, service = with_faults("dev", "name", {"delayPercent": 5, "delayMs": 1500})
    boot = envoy_bootstrap(settings, service)
    hcm = _listeners(boot)["ingress"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["http_filters"][0]["typed_config"]["delay"]["fixed_delay"] == "1.5s"
    assert boot["layered_runtime"]["layers"] == [{"name": "admin", "admin_layer": {}}]


@pytest.mark.parametrize(
    "percent, fraction",
    [
        (0, {"numerator": 0, "denominator": "HUNDRED"}),
        (100, {"numerator": 100, "denominator": "HUNDRED"}),
        (12.5, {"numerator": 125_000, "denominator": "MILLION"}),
        (0.0001, {"numerator": 1, "denominator": "MILLION"}),
    ],
)
def test_fractional_percent(percent, fraction):
    assert fractional_percent(percent) == fraction


def test_runtime_overrides_use_envoys_default_keys():
    assert runtime_overrides(10, 503, 12.5, 200) == {
        "fault.http.abort.abort_percent": "10",
        "fault.http.abort.http_status": "503",
        "fault.http.delay.fixed_delay_percent": "{numerator: 125000, denominator: MILLION}",
        "fault.http.delay.fixed_duration_ms": "200",
    }
    assert runtime_overrides(delay_ms=0) == {"fault.http.delay.fixed_duration_ms": "0"}
    assert runtime_overrides() == {}
    assert set(cleared_overrides().values()) == {""} and len(cleared_overrides()) == 4
    assert (
        runtime_modify_path(runtime_overrides(delay_percent=0.5))
        == "/runtime_modify?fault.http.delay.fixed_delay_percent="
        "%7Bnumerator%3A%205000%2C%20denominator%3A%20MILLION%7D"
    )


@pytest.mark.parametrize(
    "given, message",
    [
        ({"abort_percent": 101}, "abortPercent: Input should be less than or equal to 100"),
        ({"abort_percent": -1}, "abortPercent: Input should be greater than or equal to 0"),
        ({"abort_status": 399}, "abortStatus: Input should be greater than or equal to 400"),
        ({"abort_status": 600}, "abortStatus: Input should be less than or equal to 599"),
        ({"abort_status": 503.5}, "abortStatus: Input should be a valid integer"),
        ({"delay_percent": 100.5}, "delayPercent: Input should be less than or equal to 100"),
        ({"delay_ms": -1}, "delayMs: Input should be greater than or equal to 0"),
        ({"abort_percent": True}, "abortPercent: Input should be a valid number"),
    ],
)
def test_runtime_overrides_refuse_what_the_key_refuses(given, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        runtime_overrides(**given)


def test_the_deployed_documents_carry_the_one_bootstrap():
    """The ECS task definition's --config-yaml and the EKS ConfigMap are the bootstrap, fault
    filter included: nothing else of them changes."""
    settings, service = with_faults("dev", "name", {"abortPercent": 10})
    [envoy] = [c for c in container_definitions(settings, service) if c["name"] == "envoy"]
    command = envoy["command"]
    deployed = json.loads(command[command.index("--config-yaml") + 1])
    assert deployed == envoy_bootstrap(settings, service)
    settings, service = with_faults("dev-eks", "nginx", {"abortPercent": 10})
    data = envoy_config_map(settings, service)["data"][ENVOY_CONFIG_KEY]
    assert json.loads(data) == envoy_bootstrap(settings, service)
