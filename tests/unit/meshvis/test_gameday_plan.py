"""The game day's expectations as data: written before anything runs, naming only alerts and
alarms the stack really generates, and scaled without changing the rules' logic."""

from __future__ import annotations

import pytest

from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.slo import composite_alarm_specs, slo_alarm_specs
from dashboards.prometheus.rules import rules_file
from meshvis.local import gameday_plan as plan
from meshvis.local.gameday import LOCAL_TOPIC

STACKS = ("dev", "dev-eks")


def _cloudwatch(settings) -> list[dict]:
    if settings.topology != "ecs":
        return []
    return [
        *alarm_specs(settings),
        *slo_alarm_specs(settings),
        *composite_alarm_specs(settings, LOCAL_TOPIC),
    ]


def _defined(settings) -> set[tuple[str, str]]:
    """(source, name) of every alert rule and of every alarm someone would see."""
    rules = rules_file(settings)
    return {
        (plan.PROMETHEUS, r["alert"]) for g in rules["groups"] for r in g["rules"] if "alert" in r
    } | {(a.source, a.name) for a in plan.cloudwatch_alarms(_cloudwatch(settings))}


@pytest.mark.parametrize("stack", STACKS)
def test_every_expectation_names_an_alert_the_stack_has(stack):
    settings = stack_settings(stack)
    defined = _defined(settings)
    services = {s.name for s in settings.app_services}
    scenarios = plan.scenarios(settings, rules_file(settings), _cloudwatch(settings))
    assert [s.name for s in scenarios] == [
        "errors",
        "latency",
        "replica-loss",
        "outage",
        "dns-outage",
    ]
    for scenario in scenarios:
        for expected in (*scenario.expected_fire, *scenario.expected_quiet):
            for alert in expected["alert"].split(plan.ANY_OF):
                assert (expected["source"], alert) in defined, (scenario.name, expected)
            assert expected["service"] in services
        fire = {tuple(x.values()) for x in scenario.expected_fire}
        quiet = {tuple(x.values()) for x in scenario.expected_quiet}
        assert not fire & quiet, scenario.name
        if scenario.name != "dns-outage":
            assert scenario.expected_fire, scenario.name
            assert {x["service"] for x in scenario.expected_fire} <= {
                scenario.culprit,
                *plan.direct_callers(settings, scenario.culprit),
            }


def test_dev_expectations_pin_each_fault_on_its_culprit():
    settings = stack_settings("dev")
    by_name = {
        s.name: s for s in plan.scenarios(settings, rules_file(settings), _cloudwatch(settings))
    }
    outage = by_name["outage"]
    assert outage.culprit == "name"
    fire = {(x["source"], x["alert"], x["service"]) for x in outage.expected_fire}
    # The culprit is named on both topologies' alerting: the callers' view of its hosts.
    assert ("prometheus", "MeshUpstreamNoHealthyHosts", "name") in fire
    assert ("cloudwatch", "name-no-healthy-hosts", "name") in fire
    # Its sibling must stay quiet; its caller may fail with it.
    quiet_services = {x["service"] for x in outage.expected_quiet}
    assert quiet_services == {"greeting"}
    # A replica loss is seen, never paged: no paging alert or alarm of any service fires.
    loss = by_name["replica-loss"]
    assert loss.culprit == "greeting"
    paging = {a.name for a in plan.prometheus_alerts(rules_file(settings)) if a.pages}
    quiet = {(x["alert"], x["service"]) for x in loss.expected_quiet}
    assert {(name, "greeting") for name in paging if name != "MeshSidecarsAbsent"} <= quiet
    assert ("MeshSidecarDown", "greeting") not in quiet
    # The SLO pages: availability for the errors' culprit, latency for the slow one.
    assert {
        "source": "cloudwatch",
        "alert": "mesh-visibility-greeting-name-availability-page",
        "service": "name",
        "slo": "availability",
    } in by_name["errors"].expected_fire
    assert any(x.get("slo") == "latency" for x in by_name["latency"].expected_fire)


def test_fault_filters_are_added_only_where_missing():
    settings = stack_settings("dev")
    updated = plan.with_fault_filters(settings, ["name"])
    assert updated.service("name").faults == plan.FaultSpec()
    assert updated.service("greeter").faults is None


def test_scaled_rules_divide_windows_and_for_and_stay_valid():
    """(promtool accepts them: tests/consumers/meshvis/test_gameday_plan.py.)"""
    settings = stack_settings("dev")
    rules = rules_file(settings)
    scaled = plan.scale_rules(rules, 6)
    first = scaled["groups"][0]["rules"][0]
    assert first["for"] == "10000ms"  # 1m / 6
    assert "[50000ms]" in first["expr"]  # 5m / 6
    assert plan.scaled_duration("1h30m", 6) == "900000ms"
    assert (
        plan.scale_rules(
            {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "x[1h:5m]"}]}]}, 2
        )["groups"][0]["rules"][0]["expr"]
        == "x[1800000ms:150000ms]"
    )
    # Same rules, same order, only durations changed.
    assert [r.get("alert") or r.get("record") for g in scaled["groups"] for r in g["rules"]] == [
        r.get("alert") or r.get("record") for g in rules["groups"] for r in g["rules"]
    ]


def test_edge_alerts_blame_the_upstream():
    assert plan.pinned_service({"service": "greeter", "envoy_cluster_name": "name"}) == "name"
    assert plan.pinned_service({"service": "greeter"}) == "greeter"


def test_a_time_scale_multiplies_the_load_so_windows_hold_as_many_requests():
    settings = stack_settings("dev-eks")
    scaled = plan.scaled_load(settings, 6)
    assert scaled.service("load-generator").request_rate == 6 * 2
    assert scaled.service("nginx") == settings.service("nginx")
