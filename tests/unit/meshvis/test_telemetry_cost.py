"""Telemetry dollars per million requests (meshvis/local/telemetry_cost.py, with the prices
of dashboards/cloudwatch/prices.py)."""

from __future__ import annotations

import pytest

from components.stack import stack_settings
from dashboards.cloudwatch.prices import (
    SECONDS_PER_MONTH,
    XRAY_TRACE_RECORDED_USD,
    logs_usd_per_million,
    telemetry_usd_per_million,
)
from meshvis.local.telemetry_cost import BUDGET_USD_PER_MILLION, telemetry_lines, telemetry_summary


def test_parts_scale_as_each_is_billed():
    low = telemetry_usd_per_million(
        2, log_bytes_per_request=100, traces_per_second=0.1, monthly_fixed_usd=20
    )
    high = telemetry_usd_per_million(
        200, log_bytes_per_request=100, traces_per_second=0.1, monthly_fixed_usd=20
    )
    assert low["logs"] == high["logs"] == round(logs_usd_per_million(100), 4)
    assert low["metrics"] == pytest.approx(100 * high["metrics"], rel=1e-2)
    assert low["traces"] == pytest.approx(100 * high["traces"], rel=1e-2)
    # 0.1 traces/s for a month at $5 per million, over 2 req/s for a month.
    expected = 0.1 * SECONDS_PER_MONTH * XRAY_TRACE_RECORDED_USD / (2 * SECONDS_PER_MONTH / 1e6)
    assert low["traces"] == pytest.approx(expected, abs=1e-4)
    assert low["total"] == pytest.approx(
        sum(low[k] for k in ("logs", "metrics", "traces")), abs=2e-4
    )


def test_the_default_stays_within_budget_at_production_traffic():
    """dev's measured figures (20 bytes of access log a request, $23.10 a month of metrics and
    alarms): the ceiling keeps traces flat, so 1,000 req/s stays under $0.05 per million."""
    settings = stack_settings("dev")
    summary = telemetry_summary(settings, 20.1, 23.10)
    assert summary["1000"]["total"] <= BUDGET_USD_PER_MILLION
    uncapped = telemetry_summary(
        settings.model_copy(update={"trace_limit_per_minute": 0}), 20.1, 23.10
    )
    assert uncapped["1000"]["total"] > BUDGET_USD_PER_MILLION
    assert "over the $0.05 budget" in telemetry_lines(uncapped)[1]
    assert telemetry_summary(stack_settings("dev-eks"), 20.1, 0) == {}
