"""promtool unit tests of the SLO alerts, written out as readable files (tests/promtool/).

For a fixed one-service mesh (``SETTINGS``) and each Workbook burn-rate pair, one test file:
per SLI, traffic that is healthy for the long window, then burns the error budget at 1.05x the
pair's burn rate (the alert must fire by the end of the long window: the Workbook's detection
time at its burn rate) and recovers (resolved once the short window is healthy again); and
traffic at 0.95x the burn rate for two long windows (the alert stays quiet).

The expected "budget consumed" annotation is computed here from the counters' totals (the
whole run is inside the SLO window, and both counters start at 0, so Prometheus's ``increase``
is their exact difference).
"""

from __future__ import annotations

from collections.abc import Sequence

from components.settings.model import Settings
from components.settings.slo import error_budget
from components.settings.validate import validated_settings
from dashboards.burn_rates import BURN_RATE_PAIRS
from dashboards.prometheus.slo import (
    alert_name,
    slo_group_name,
    slo_rule_groups,
    slo_window_group_name,
)

SETTINGS: Settings = validated_settings(
    {
        "meshName": "test",
        "services": [{"name": "api"}],
        "slo": {"availability": 99.9, "latencyMs": 300, "latencyPercent": 99, "windowDays": 28},
    },
    region_required=False,
)
SERVICE = "api"
SLO = SETTINGS.service_slos[0][1]  # the mesh-wide SLO: the one service overrides nothing
RULES_FILE = "slo_rules.yaml"
# Requests per sample interval: large enough that every error count is a plain decimal.
REQUESTS = 1000
FIRE, QUIET = 1.05, 0.95
# Sample and evaluation interval per long window: fine enough for the short window, coarse
# enough that promtool evaluates a few hundred times per test.
INTERVAL_MINUTES = {"1h": 1, "6h": 5, "1d": 10, "3d": 30}
MINUTES = {"5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360, "1d": 1440, "3d": 4320}
LABELS = f'mesh="test",service="{SERVICE}",envoy_http_conn_manager_prefix="ingress"'


def rules_document() -> dict:
    """The rule file the tests load: the fixed mesh's SLO groups only."""
    return {"groups": slo_rule_groups(SETTINGS)}


def promtool_file_name(pair: tuple[str, float, str, str]) -> str:
    return f"slo_{pair[0]}_{pair[2]}.yaml"


def _series(increments: Sequence[float]) -> str:
    """promtool's expanding notation for a counter from 0 with these per-interval increments:
    one ``start+stepxN`` segment per run of equal increments."""
    segments: list[str] = []
    value, i = 0.0, 0
    while i < len(increments):
        step, run = increments[i], 0
        while i < len(increments) and increments[i] == step:
            run, i = run + 1, i + 1
        if segments:
            segments.append(f"{_num(value + step)}+{_num(step)}x{run - 1}")
        else:
            segments.append(f"0+{_num(step)}x{run}")
        value += step * run
    return " ".join(segments)


def _num(value: float) -> str:
    return f"{round(value, 6):.12g}"


def _input_series(sli: str, bad_shares: list[float]) -> list[dict]:
    """The ingress counters of ``SERVICE`` with ``REQUESTS`` a sample interval, of which the
    share ``bad_shares[i]`` is bad in interval i (a 5xx, or slower than latencyMs)."""
    bad = [REQUESTS * share for share in bad_shares]
    good = [REQUESTS - b for b in bad]
    total = [REQUESTS] * len(bad_shares)
    if sli == "availability":
        metric = "envoy_http_downstream_rq_xx"
        return [
            {
                "series": f'{metric}{{{LABELS},envoy_response_code_class="2"}}',
                "values": _series(good),
            },
            {
                "series": f'{metric}{{{LABELS},envoy_response_code_class="5"}}',
                "values": _series(bad),
            },
        ]
    metric = "envoy_http_downstream_rq_time"
    latency = SLO.latency_ms
    return [
        {"series": f'{metric}_bucket{{{LABELS},le="{latency}"}}', "values": _series(good)},
        {"series": f"{metric}_count{{{LABELS}}}", "values": _series(total)},
    ]


def _expected_alert(pair: tuple[str, float, str, str], sli: str, consumed: float) -> dict:
    rule = next(
        r
        for group in slo_rule_groups(SETTINGS)
        for r in group["rules"]
        if r.get("alert") == alert_name(pair) and r["labels"]["slo"] == sli
    )
    annotations = dict(rule["annotations"])
    # humanizePercentage: Go's "%.4g%%" of the value times 100.
    annotations["budget_consumed"] = f"{consumed * 100:.4g}%"
    return {"exp_labels": dict(rule["labels"]), "exp_annotations": annotations}


def _duration(minutes: int) -> str:
    return f"{minutes}m"


def promtool_document(pair: tuple[str, float, str, str]) -> dict:
    """The promtool test file of one burn-rate pair (both SLIs)."""
    _, burn_rate, long, short = pair
    step = INTERVAL_MINUTES[long]
    long_n, short_n = MINUTES[long] // step, MINUTES[short] // step
    name = alert_name(pair)
    tests = []
    for sli in ("availability", "latency"):
        budget = error_budget(SLO, sli)
        burning = burn_rate * budget * FIRE
        # healthy for the long window, burning for one long window, healthy again.
        shares = [0.0] * long_n + [burning] * long_n + [0.0] * (short_n + 2)
        detected = 2 * long_n  # samples 0..2L: the burn lasted exactly one long window
        bad_until_detection = burning * long_n
        consumed = bad_until_detection / detected / budget
        tests.append(
            {
                "name": f"{name} {sli}: fires within {long} at {FIRE}x {burn_rate:g}, resolves",
                "interval": _duration(step),
                "input_series": _input_series(sli, shares),
                "alert_rule_test": [
                    {"eval_time": _duration(step * (long_n + long_n // 2)), "alertname": name},
                    {
                        "eval_time": _duration(step * detected),
                        "alertname": name,
                        "exp_alerts": [_expected_alert(pair, sli, consumed)],
                    },
                    {"eval_time": _duration(step * (detected + short_n + 1)), "alertname": name},
                ],
            }
        )
        quiet = [0.0] * long_n + [burn_rate * budget * QUIET] * (2 * long_n)
        tests.append(
            {
                "name": f"{name} {sli}: quiet at {QUIET}x {burn_rate:g} for two {long}",
                "interval": _duration(step),
                "input_series": _input_series(sli, quiet),
                "alert_rule_test": [
                    {"eval_time": _duration(step * n), "alertname": name}
                    for n in (2 * long_n, 3 * long_n)
                ],
            }
        )
    return {
        "rule_files": [RULES_FILE],
        "evaluation_interval": _duration(step),
        # The window-long group first, so that the alert's budget annotation reads this
        # evaluation's budget. A deployed Prometheus runs the groups independently: there the
        # annotation reads the budget of the window group's latest run, at most
        # WINDOW_GROUP_INTERVAL old.
        "group_eval_order": [
            slo_window_group_name(SETTINGS.mesh_name, SERVICE),
            slo_group_name(SETTINGS.mesh_name, SERVICE),
        ],
        "tests": tests,
    }


def documents() -> dict[str, dict]:
    """Every file of tests/promtool/ by name: the rules and one test file per pair."""
    return {
        RULES_FILE: rules_document(),
        **{promtool_file_name(pair): promtool_document(pair) for pair in BURN_RATE_PAIRS},
    }
