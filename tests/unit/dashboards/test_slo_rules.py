"""The SLO rule groups (dashboards/prometheus/slo.py): two per service with an SLO (alert
windows and alerts; the window-long rules at their own interval), every alert labelled and
annotated as the contract says, in every rule file the stacks load."""

from __future__ import annotations

import re

import pytest

from components.settings.slo import SLIS
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from dashboards.burn_rates import BURN_RATE_PAIRS
from dashboards.prometheus.rules import rules_file
from dashboards.prometheus.slo import (
    BUDGET_REMAINING,
    WINDOW_ERROR_RATIO,
    WINDOW_GROUP_INTERVAL,
    WINDOWS,
    alert_name,
    budget_spent_at_detection,
    slo_group_name,
    slo_rule_groups,
    slo_window_group_name,
)
from tests.support.slo_promtool import SETTINGS


def _settings(**changes):
    config = stack_config("dev")
    for key, value in changes.items():
        config[f"mesh-visibility:{key}"] = value
    return settings_from_config(config)


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_every_app_service_has_its_group_in_the_rule_file(stack):
    settings = stack_settings(stack)
    groups = {g["name"]: g for g in rules_file(settings)["groups"]}
    for service in settings.app_services:
        assert slo_group_name(settings.mesh_name, service.name) in groups
        assert slo_window_group_name(settings.mesh_name, service.name) in groups
    assert len(slo_rule_groups(settings)) == 2 * len(settings.app_services)


def test_every_alert_has_severity_service_slo_and_the_budget_it_consumed():
    group, _ = slo_rule_groups(SETTINGS)
    alerts = [r for r in group["rules"] if "alert" in r]
    assert sorted((a["alert"], a["labels"]["slo"]) for a in alerts) == sorted(
        (alert_name(pair), sli) for pair in BURN_RATE_PAIRS for sli in SLIS
    )
    for alert in alerts:
        labels = alert["labels"]
        assert labels["severity"] in ("page", "ticket") and labels["service"] == "api"
        assert "budget_consumed" in alert["annotations"]
        assert "for" not in alert  # the short window is what resets it (Workbook)
    records = [r["record"] for r in group["rules"] if "record" in r]
    # Recording rules come first: an alert reads this evaluation's ratios.
    assert group["rules"][: len(records)] == [r for r in group["rules"] if "record" in r]
    for window in WINDOWS:
        assert f"mesh_slo:sli_error:ratio_rate{window}" in records


def test_overrides_reach_the_rules_and_slo_false_drops_the_group():
    config = stack_config("dev")
    services = config["mesh-visibility:services"]
    services[0]["slo"] = {"latencyMs": 750, "availability": 99.5}
    services[1]["slo"] = False
    settings = settings_from_config(config)
    groups = {g["name"]: g for g in slo_rule_groups(settings)}
    first, second = (settings.app_services[i].name for i in (0, 1))
    assert slo_group_name(settings.mesh_name, second) not in groups
    text = str(groups[slo_group_name(settings.mesh_name, first)])
    assert 'le="750"' in text and 'le="300"' not in text
    assert "(14.4 * 0.005)" in text
    assert _settings(slo=False) and slo_rule_groups(_settings(slo=False)) == []


def test_the_budget_a_page_burns_before_it_fires_is_the_workbooks():
    """2 % of a 30-day budget for 14.4x over 1h, 5 % for 6x over 6h, 10 % for 3x and 1x."""
    spent = [round(budget_spent_at_detection(pair, 30), 3) for pair in BURN_RATE_PAIRS]
    assert spent == [0.02, 0.05, 0.1, 0.1]


def test_latency_reads_the_bucket_of_the_slo_boundary_only():
    latency = [
        r["expr"]
        for group in slo_rule_groups(SETTINGS)
        for r in group["rules"]
        if r.get("labels", {}).get("slo") == "latency"
    ]
    assert {m for e in latency for m in re.findall(r'le="([^"]+)"', e)} == {"300"}


def _minutes(duration: str) -> int:
    return int(duration.removesuffix("m"))


def test_the_window_long_rules_run_in_their_own_slower_group():
    """They re-read every counter over windowDays at each evaluation: not at the global 30 s,
    and under the 5-minute lookback (left-open since Prometheus 3), so the series never blinks
    out between two runs."""
    fast, window = slo_rule_groups(SETTINGS)
    assert window["name"] == slo_window_group_name("test", "api")
    assert [r["record"] for r in window["rules"]] == [WINDOW_ERROR_RATIO, BUDGET_REMAINING] * 2
    assert all("[28d]" in r["expr"] for r in window["rules"] if r["record"] == WINDOW_ERROR_RATIO)
    assert "interval" not in fast and not any("[28d]" in r["expr"] for r in fast["rules"])
    assert window["interval"] == WINDOW_GROUP_INTERVAL and 1 < _minutes(WINDOW_GROUP_INTERVAL) < 5
