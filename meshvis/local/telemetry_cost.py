"""What a million requests cost in telemetry on the stack's ECS topology, at the demo's
traffic and at production traffic, from what a local run measured (pure).

Logs grow with traffic (the run's access-log bytes per request); traces grow with it until
the sampling ceiling (components/sidecar/tracing.py ``traces_per_second``); metrics and
alarms are flat a month, so their share of a million requests falls as traffic grows. The
prices are dashboards/cloudwatch/prices.py's.
"""

from __future__ import annotations

from components.settings.model import Settings
from components.sidecar.tracing import traces_per_second
from dashboards.cloudwatch.prices import telemetry_usd_per_million

# The demo's load (the dev stack's load generator) and a production service's.
RATES = (2, 1000)
# The default's budget at production traffic (issue 21).
BUDGET_USD_PER_MILLION = 0.05


def telemetry_summary(
    settings: Settings, log_bytes_per_request: float | None, monthly_fixed_usd: float
) -> dict:
    """``telemetry`` of the run summary: dollars per million entry requests at each of
    ``RATES`` requests a second (logs, metrics, traces and their total), on ecs."""
    if settings.topology != "ecs" or log_bytes_per_request is None:
        return {}
    return {
        str(rate): {
            **telemetry_usd_per_million(
                rate,
                log_bytes_per_request=log_bytes_per_request,
                traces_per_second=traces_per_second(settings, rate),
                monthly_fixed_usd=monthly_fixed_usd,
            ),
            "traces_per_second": round(traces_per_second(settings, rate), 3),
        }
        for rate in RATES
    }


def telemetry_lines(summary: dict) -> list[str]:
    """The telemetry bill per million requests, one line a rate."""
    return [
        f"Telemetry at {rate} req/s: ${row['total']:.4f} per million requests (logs "
        f"${row['logs']:.4f}, metrics and alarms ${row['metrics']:.4f}, traces "
        f"${row['traces']:.4f} at {row['traces_per_second']:g} traces/s)"
        + (
            f" over the ${BUDGET_USD_PER_MILLION} budget"
            if int(rate) >= 1000 and row["total"] > BUDGET_USD_PER_MILLION
            else ""
        )
        for rate, row in summary.items()
    ]
