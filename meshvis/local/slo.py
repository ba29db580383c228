"""The run summary's ``slo`` (pure): per service and SLI, the SLI over the run, the share of the
SLO window's error budget the run consumed, the burn rate over every alert window and the SLO
alerts pending or firing, from the local Prometheus's SLO recording rules
(dashboards/prometheus/slo.py: the rules a deployed Prometheus evaluates)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from components.settings.model import Settings
from components.settings.slo import SLIS, error_budget, objective_percent
from dashboards.prometheus import slo

Series = Sequence[tuple[Mapping[str, str], float]]
WINDOW_RATIO = "error_ratio"


def slo_queries(mesh: str) -> dict[str, str]:
    """What ``slo_summary`` reads, by name: the error ratio over the SLO window (the whole run:
    it is shorter) and the burn rate over each alert window."""
    return {
        WINDOW_RATIO: f'{slo.WINDOW_ERROR_RATIO}{{mesh="{mesh}"}}',
        **{f"burn_rate_{window}": slo.burn_rate(mesh, window) for window in slo.WINDOWS},
    }


def _by_sli(series: Series) -> dict[tuple[str, str], float]:
    return {
        (labels.get("service", ""), labels.get("slo", "")): value
        for labels, value in series
        if not math.isnan(value) and not math.isinf(value)
    }


def slo_summary(
    settings: Settings, results: Mapping[str, Series], alerts: Series, run_seconds: float
) -> dict:
    """``service -> sli -> figures`` for every app service with an SLO.

    ``results``: each ``slo_queries`` name's series; ``alerts``: Prometheus's ``ALERTS`` series.
    ``budget_consumed`` is the run's bad requests as a share of what the whole window allows
    at the run's request rate (error ratio x run time / (budget x window)); None (like the SLI)
    without any request.
    """
    values = {name: _by_sli(series) for name, series in results.items()}
    summary: dict = {}
    for service, spec in settings.service_slos:
        rows = {}
        for sli in SLIS:
            key = (service.name, sli)
            ratio = values.get(WINDOW_RATIO, {}).get(key)
            budget = error_budget(spec, sli)
            states = {
                labels["alertname"]: labels.get("alertstate", "")
                for labels, _ in alerts
                if labels.get("alertname", "").startswith(slo.ALERT_PREFIX)
                and (labels.get("service"), labels.get("slo")) == key
            }
            rows[sli] = {
                "objective_percent": objective_percent(spec, sli),
                "window_days": spec.window_days,
                "sli": None if ratio is None else round(1 - ratio, 6),
                "budget_consumed": None
                if ratio is None
                else round(ratio * run_seconds / (budget * spec.window_days * 86400), 6),
                "burn_rate": {
                    window: round(rate, 3)
                    for window in slo.WINDOWS
                    if (rate := values.get(f"burn_rate_{window}", {}).get(key)) is not None
                },
                "alerts": {
                    state: sorted(name for name, s in states.items() if s == state)
                    for state in ("pending", "firing")
                },
            }
        summary[service.name] = rows
    return summary


def slo_lines(summary: Mapping[str, Mapping[str, dict]]) -> list[str]:
    """``slo: <service> <sli>: firing <alert>, ...`` for every SLO alert pending or firing."""
    return [
        f"slo: {service} {sli}: {state} {', '.join(row['alerts'][state])}"
        for service, rows in summary.items()
        for sli, row in rows.items()
        for state in ("firing", "pending")
        if row["alerts"][state]
    ]
