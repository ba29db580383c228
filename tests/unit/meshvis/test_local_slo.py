"""The run summary's ``slo`` from Prometheus's answers (meshvis/local/slo.py, pure)."""

from __future__ import annotations

import math

from dashboards.prometheus.slo import WINDOWS
from meshvis.local.slo import WINDOW_RATIO, slo_lines, slo_queries, slo_summary
from tests.support.slo_promtool import SETTINGS

DAY = 86400


def _series(value: float, slo: str = "availability", service: str = "api"):
    return [({"mesh": "test", "service": service, "slo": slo}, value)]


def test_figures_and_alerts_per_service_and_sli():
    results = {name: [] for name in slo_queries("test")}
    results[WINDOW_RATIO] = _series(0.01) + _series(0.0, "latency")
    results["burn_rate_5m"] = _series(10.0) + _series(math.nan, "latency")
    alerts = [
        (
            {
                "alertname": "MeshErrorBudgetBurnPage1h",
                "alertstate": "firing",
                "service": "api",
                "slo": "availability",
            },
            1.0,
        ),
        ({"alertname": "MeshSidecarDown", "alertstate": "firing", "service": "api"}, 1.0),
    ]
    summary = slo_summary(SETTINGS, results, alerts, run_seconds=DAY)
    availability, latency = summary["api"]["availability"], summary["api"]["latency"]
    assert availability["sli"] == 0.99 and availability["objective_percent"] == 99.9
    # 1 % bad for one day of a 28-day window at 0.1 % allowed: 10 x 1/28 of the budget.
    assert availability["budget_consumed"] == round(10 / 28, 6)
    assert availability["burn_rate"] == {"5m": 10.0}
    assert availability["alerts"] == {"pending": [], "firing": ["MeshErrorBudgetBurnPage1h"]}
    assert latency["burn_rate"] == {} and latency["budget_consumed"] == 0.0
    assert slo_lines(summary) == ["slo: api availability: firing MeshErrorBudgetBurnPage1h"]


def test_no_request_is_no_figure_and_every_window_is_queried():
    summary = slo_summary(SETTINGS, {}, [], run_seconds=60)
    assert summary["api"]["availability"]["sli"] is None
    assert summary["api"]["availability"]["budget_consumed"] is None
    assert {f"burn_rate_{w}" for w in WINDOWS} | {WINDOW_RATIO} == set(slo_queries("test"))
