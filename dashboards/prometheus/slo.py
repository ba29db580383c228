"""SLO recording and alerting rules (pure): multiwindow, multi-burn-rate alerts on each app
service's availability and latency SLIs, as the Google SRE Workbook ("Alerting on SLOs")
recommends, from the settings' ``slo`` (``Settings.slo_for``).

Two rule groups per service. The first: the SLI error ratios over every window an alert reads,
the SLO's constants, then the alerts (recording rules first: Prometheus evaluates a group's
rules in order, so an alert reads this cycle's ratios). The second, every
``WINDOW_GROUP_INTERVAL``: the error ratio and the budget left over ``windowDays``, which
re-read the raw counters over the whole window at each evaluation. The same groups go into the
EKS PrometheusRule and the local Prometheus (``rules.rules_file``). docs/slo.md compares them
with sloth's and pyrra's.
"""

from __future__ import annotations

from components.settings.model import ServiceSpec, Settings, SloSpec
from components.settings.naming import PROJECT
from components.settings.slo import SLIS, error_budget
from components.sidecar.names import INGRESS_PREFIX
from dashboards.burn_rates import BURN_RATE_ALERTS, BURN_RATE_PAIRS, WINDOW_SECONDS, window_label

# Every window an alert reads (BURN_RATE_PAIRS' long and short windows), shortest first.
WINDOWS = tuple(window_label(seconds) for seconds in WINDOW_SECONDS)
ALERT_PREFIX = "MeshErrorBudgetBurn"
# Recorded series; every one carries the labels mesh, service and slo.
ERROR_RATIO = "mesh_slo:sli_error:ratio_rate{window}"  # share of bad requests over the window
WINDOW_ERROR_RATIO = "mesh_slo:sli_error:ratio_window"  # ... over the SLO's windowDays
OBJECTIVE = "mesh_slo:objective:ratio"  # 0.999 for 99.9 %
ERROR_BUDGET = "mesh_slo:error_budget:ratio"  # 1 - objective
WINDOW_DAYS = "mesh_slo:window:days"
BUDGET_REMAINING = "mesh_slo:error_budget_remaining:ratio"  # 1: untouched, <= 0: spent
# How often the window-long rules run. Each evaluation reads up to windowDays of every ingress
# counter (a 28-day increase at a 5 s scrape is ~480,000 samples a series), so not at the
# global 30 s; and under Prometheus's 5-minute lookback delta, which is left-open since
# Prometheus 3 (prometheus.io/docs/prometheus/latest/migration, "PromQL"): at exactly 5m a
# recorded sample is out of the lookback before the next evaluation has written its own, and
# the series would blink out of the dashboard and of the alerts' budget annotation.
WINDOW_GROUP_INTERVAL = "4m"


def slo_rule_groups(settings: Settings) -> list[dict]:
    """Two rule groups per app service that has an SLO (none with ``slo: false``): the alert
    windows and alerts, and the window-long rules every ``WINDOW_GROUP_INTERVAL``."""
    return [
        group
        for service in settings.app_services
        if (slo := settings.slo_for(service)) is not None
        for group in _service_groups(settings.mesh_name, service, slo)
    ]


def slo_group_name(mesh: str, service: str) -> str:
    """The group of a service's alert-window ratios and alerts."""
    return f"{PROJECT}-slo-{mesh}-{service}"


def slo_window_group_name(mesh: str, service: str) -> str:
    """The group of a service's window-long rules."""
    return f"{slo_group_name(mesh, service)}-window"


def error_ratio_expr(
    mesh: str, service: str, sli: str, window: str, latency_ms: int, function: str = "rate"
) -> str:
    """Share (0..1) of ``service``'s requests over ``window`` that the SLI counts as bad: 5xx
    answers (availability), or requests slower than ``latency_ms`` (latency: not in the
    ingress request-time bucket ``le=latency_ms``, a boundary every sidecar's histogram has,
    components/settings/slo.py). NaN without any request: no alert, no budget spent.
    ``function``: ``rate``, or ``increase`` (same ratio, for the SLO window's totals)."""
    selector = (
        f'mesh="{mesh}",service="{service}",envoy_http_conn_manager_prefix="{INGRESS_PREFIX}"'
    )
    if sli == "availability":
        responses = f"envoy_http_downstream_rq_xx{{{selector}}}"
        total = f"sum by (service) ({function}({responses}[{window}]))"
        errors = (
            f"sum by (service) ({function}(envoy_http_downstream_rq_xx"
            f'{{{selector},envoy_response_code_class="5"}}[{window}]))'
        )
        # The 5xx series exists only after a first 5xx: until then the errors are 0.
        return f"({errors} or {total} * 0)\n/\n{total}"
    histogram = "envoy_http_downstream_rq_time"
    total = f"sum by (service) ({function}({histogram}_count{{{selector}}}[{window}]))"
    fast = (
        f"sum by (service) ({function}({histogram}_bucket"
        f'{{{selector},le="{latency_ms}"}}[{window}]))'
    )
    return f"({total} - {fast})\n/\n{total}"


def _window_error_ratio_expr(mesh: str, service: str, sli: str, slo: SloSpec) -> str:
    """The error ratio over the whole SLO window, from the counters' increase (exact, weighted
    by traffic), not averaged from the 5m ratios as sloth does."""
    days = f"{slo.window_days}d"
    return error_ratio_expr(mesh, service, sli, days, slo.latency_ms, function="increase")


def _service_groups(mesh: str, service: ServiceSpec, slo: SloSpec) -> list[dict]:
    rules: list[dict] = []
    window_rules: list[dict] = []
    alerts: list[dict] = []
    for sli in SLIS:
        labels = {"mesh": mesh, "service": service.name, "slo": sli}
        # Each rule gets its own copy: a YAML dump would otherwise write anchors and aliases.
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
        budget = error_budget(slo, sli)
        for window in WINDOWS:
            rules.append(
                {
                    "record": ERROR_RATIO.format(window=window),
                    "expr": error_ratio_expr(mesh, service.name, sli, window, slo.latency_ms),
                    "labels": dict(labels),
                }
            )
        rules += [
            {"record": OBJECTIVE, "expr": f"vector({1 - budget:.10g})", "labels": dict(labels)},
            {"record": ERROR_BUDGET, "expr": f"vector({budget:.10g})", "labels": dict(labels)},
            {"record": WINDOW_DAYS, "expr": f"vector({slo.window_days})", "labels": dict(labels)},
        ]
        window_rules += [
            {
                "record": WINDOW_ERROR_RATIO,
                "expr": _window_error_ratio_expr(mesh, service.name, sli, slo),
                "labels": dict(labels),
            },
            {
                "record": BUDGET_REMAINING,
                "expr": f"1 - {WINDOW_ERROR_RATIO}{{{selector}}} / {budget:.10g}",
                "labels": dict(labels),
            },
        ]
        alerts += [
            _alert(labels, selector, budget, slo, pair, sli_text=_sli_text(sli, slo))
            for pair in BURN_RATE_PAIRS
        ]
    return [
        {"name": slo_group_name(mesh, service.name), "rules": rules + alerts},
        {
            "name": slo_window_group_name(mesh, service.name),
            "interval": WINDOW_GROUP_INTERVAL,
            "rules": window_rules,
        },
    ]


def _sli_text(sli: str, slo: SloSpec) -> str:
    if sli == "availability":
        return f"{slo.availability:g}% of requests without a 5xx"
    return f"{slo.latency_percent:g}% of requests within {slo.latency_ms} ms"


def alert_name(pair: tuple[str, float, str, str]) -> str:
    """One alert per burn-rate pair (``MeshErrorBudgetBurnPage1h``), so each can be silenced,
    tested and graphed on its own; its labels say which service and SLI."""
    severity, _, long, _ = pair
    return f"{ALERT_PREFIX}{severity.title()}{long}"


def budget_spent_at_detection(pair: tuple[str, float, str, str], window_days: int) -> float:
    """Share (0..1) of the window's error budget burnt by the time ``pair`` fires at its burn
    rate (burn rate x long window / SLO window): 2 % for 14.4x over 1h of 30 days."""
    return dict(zip(BURN_RATE_PAIRS, BURN_RATE_ALERTS, strict=True))[pair].budget_consumed(
        window_days
    )


def _alert(
    labels: dict[str, str],
    selector: str,
    budget: float,
    slo: SloSpec,
    pair: tuple[str, float, str, str],
    sli_text: str,
) -> dict:
    severity, burn_rate, long, short = pair
    threshold = f"({burn_rate:g} * {budget:.10g})"
    condition = "\nand\n".join(
        f"{ERROR_RATIO.format(window=window)}{{{selector}}} > {threshold}"
        for window in (long, short)
    )
    # Prometheus's template `query` reads the budget left when the alert is sent.
    consumed = (
        '{{ with printf "1 - ' + BUDGET_REMAINING + "{mesh='%s',service='%s',slo='%s'}\" "
        "$labels.mesh $labels.service $labels.slo | query }}"
        "{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}"
    )
    share = budget_spent_at_detection(pair, slo.window_days)
    return {
        "alert": alert_name(pair),
        "expr": condition,
        "labels": {**labels, "severity": severity, "long": long, "short": short},
        "annotations": {
            "summary": (
                f"{labels['service']} burns its {labels['slo']} error budget "
                f"{burn_rate:g}x too fast."
            ),
            "description": (
                f"SLO {sli_text} over {slo.window_days} days. The error ratio is above "
                f"{burn_rate:g}x the budget over both {long} and {short}: at this rate "
                f"{share:.1%} of the budget goes every {long}, all of it in "
                f"{slo.window_days * 24 / burn_rate:.3g} hours."
            ),
            "budget_consumed": consumed,
        },
    }


# --- Queries over the recorded series (the Grafana SLO dashboard, the local run's summary) ---

_JOIN = "on (mesh, service, slo)"


def _selector(mesh: str) -> str:
    return f'{{mesh="{mesh}"}}'


def sli_over_window(mesh: str) -> str:
    """Each SLI (0..1: good requests / all) over its SLO's ``windowDays``."""
    return f"1 - {WINDOW_ERROR_RATIO}{_selector(mesh)}"


def objective(mesh: str) -> str:
    """Each SLI's target (0..1)."""
    return f"{OBJECTIVE}{_selector(mesh)}"


def budget_remaining(mesh: str) -> str:
    """Share (1: untouched, 0: spent, < 0: overspent) of each SLI's error budget left over its
    window; 1 minus it is the share consumed."""
    return f"{BUDGET_REMAINING}{_selector(mesh)}"


def burn_rate(mesh: str, window: str) -> str:
    """How many times faster than the budget allows each SLI fails over ``window`` (1: the
    budget lasts exactly the SLO window)."""
    return (
        f"{ERROR_RATIO.format(window=window)}{_selector(mesh)}\n/ {_JOIN}\n"
        f"{ERROR_BUDGET}{_selector(mesh)}"
    )


def seconds_to_exhaustion(mesh: str, window: str = "1h") -> str:
    """Seconds until each SLI's budget is spent if it keeps burning at its ``window`` rate
    (+Inf while it burns nothing, 0 once it is spent)."""
    return (
        f"clamp_min({BUDGET_REMAINING}{_selector(mesh)}, 0)\n* {_JOIN}\n"
        f"{WINDOW_DAYS}{_selector(mesh)} * 86400\n/ {_JOIN}\n({burn_rate(mesh, window)})"
    )
