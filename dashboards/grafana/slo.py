"""The Grafana "SLOs" dashboard: per service and SLI, the SLI against its objective, the error
budget left, the burn rate over every alert window and the time until the budget is spent at
the current rate; all read from the SLO recording rules (dashboards/prometheus/slo.py)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from components.settings.model import Settings
from dashboards.burn_rates import BURN_RATE_PAIRS, PAGE, TICKET
from dashboards.grafana.panels import Query, dashboard, dashboard_queries, encode, time_series
from dashboards.prometheus import slo


def _fires_at(severity: str) -> str:
    return " and ".join(
        f"{factor:g} ({long} and {short})"
        for level, factor, long, short in BURN_RATE_PAIRS
        if level == severity
    )


# The thresholds each burn-rate panel explains, from the pairs the alerts use.
FIRES_AT = f"Pages fire at {_fires_at(PAGE)}, tickets at {_fires_at(TICKET)}."

BY_SLI = "{{service}} {{slo}}"


def slo_dashboard_uid(settings: Settings) -> str:
    return f"{settings.mesh_name}-slos"


def slo_dashboard(settings: Settings) -> dict:
    """The SLO dashboard as the JSON-ready dict Grafana provisions."""
    mesh = settings.mesh_name
    builder = (
        dashboard(
            f"SLOs: {mesh}",
            slo_dashboard_uid(settings),
            mesh,
            "Availability and latency SLOs of every service, measured at its sidecar's "
            "ingress: SLI, error budget, burn rates (docs/slo.md).",
        )
        .time("now-24h", "now")
        .with_row(Row("SLI and error budget"))
        .with_panel(
            time_series(
                "SLI over the SLO window",
                "percentunit",
                [
                    Query(slo.sli_over_window(mesh), BY_SLI),
                    Query(slo.objective(mesh), f"{BY_SLI} objective"),
                ],
                "Share of good requests (no 5xx; answered within latencyMs) over each SLO's "
                "windowDays, and its objective.",
                width=8,
                max_value=1,
            )
        )
        .with_panel(
            time_series(
                "Error budget remaining",
                "percentunit",
                [Query(slo.budget_remaining(mesh), BY_SLI)],
                "Share of each SLO's error budget left over its window (0: spent).",
                width=8,
            )
        )
        .with_panel(
            time_series(
                "Time until the budget is spent",
                "s",
                [Query(slo.seconds_to_exhaustion(mesh), BY_SLI)],
                "At the burn rate of the last hour; empty while nothing is burnt.",
                width=8,
            )
        )
        .with_row(Row("Burn rate per window"))
    )
    for window in slo.WINDOWS:
        builder = builder.with_panel(
            time_series(
                f"Burn rate {window}",
                "short",
                [Query(slo.burn_rate(mesh, window), BY_SLI)],
                f"Error ratio over {window} divided by the error budget: 1 spends the budget "
                f"in exactly the SLO window. {FIRES_AT}",
                width=6,
            )
        )
    return encode(builder)


def panel_queries(settings: Settings) -> list[str]:
    """Every PromQL expression of the SLO dashboard, in panel order."""
    return dashboard_queries(slo_dashboard(settings))
