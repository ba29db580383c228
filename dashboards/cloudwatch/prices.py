"""CloudWatch list prices (USD, us-east-1, aws.amazon.com/cloudwatch/pricing, "Paid tier"),
and what the stack's metrics and alarms cost a month at them.

No free tier is subtracted: it is per account (10 custom metrics, 10 alarm metrics), not per
stack. Other regions differ by a few percent.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.settings.model import Settings
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.slo import composite_alarm_specs, slo_alarm_specs

# Custom metrics, per metric-month: each tier's size in metrics and its price; the last tier
# is open-ended.
METRIC_PRICE_TIERS = ((10_000, 0.30), (240_000, 0.10), (750_000, 0.05), (None, 0.02))
# Alarms, per alarm metric-month. A metric-math alarm is billed for every metric its
# expression reads (the expression itself is free), a single-metric alarm for one; an alarm
# with a period under 60 s is high resolution.
STANDARD_ALARM_METRIC_USD = 0.10
HIGH_RESOLUTION_ALARM_METRIC_USD = 0.30
# Composite alarms, per alarm-month (its children are billed as the alarms they are).
COMPOSITE_ALARM_USD = 0.50


def metrics_monthly_usd(metric_count: int) -> float:
    """What ``metric_count`` custom metrics cost a month at the tiered prices."""
    cost = 0.0
    left = metric_count
    for size, price in METRIC_PRICE_TIERS:
        in_tier = left if size is None else min(left, size)
        cost += in_tier * price
        left -= in_tier
        if left <= 0:
            break
    return round(cost, 2)


def alarm_metrics(spec: dict) -> list[dict]:
    """The metrics an ``aws.cloudwatch.MetricAlarm`` (its keyword arguments) is billed for."""
    return [q["metric"] for q in spec.get("metric_queries", []) if "metric" in q] or [spec]


def metric_alarm_monthly_usd(spec: dict) -> float:
    """A month of one ``aws.cloudwatch.MetricAlarm`` (its keyword arguments)."""
    metrics = alarm_metrics(spec)
    return sum(
        STANDARD_ALARM_METRIC_USD if m["period"] >= 60 else HIGH_RESOLUTION_ALARM_METRIC_USD
        for m in metrics
    )


def alarms_monthly_usd(metric_alarms: Iterable[dict], composite_count: int) -> float:
    """A month of ``metric_alarms`` (MetricAlarm keyword arguments) and ``composite_count``
    composite alarms."""
    total = sum(metric_alarm_monthly_usd(spec) for spec in metric_alarms)
    return round(total + composite_count * COMPOSITE_ALARM_USD, 2)


def stack_alarms_monthly_usd(settings: Settings) -> float:
    """A month of every alarm an ecs stack creates: threshold and no-healthy-hosts alarms,
    SLO burn-rate alarms and their composites."""
    if settings.topology != "ecs":
        return 0.0
    metric_alarms = [*alarm_specs(settings), *slo_alarm_specs(settings)]
    # The composites' count does not depend on the topic they notify.
    return alarms_monthly_usd(metric_alarms, len(composite_alarm_specs(settings, topic_arn="")))


def stack_monthly_usd(settings: Settings, metric_count: int) -> dict[str, float]:
    """The stack's CloudWatch bill a month: ``metric_count`` custom metrics (as the agent
    publishes them) and its alarms."""
    metrics = metrics_monthly_usd(metric_count)
    alarms = stack_alarms_monthly_usd(settings)
    return {
        "monthly_usd": round(metrics + alarms, 2),
        "metrics_monthly_usd": metrics,
        "alarms_monthly_usd": alarms,
    }


# The telemetry that grows with traffic. CloudWatch Logs standard-class ingestion, per GB
# (2^30 bytes); AWS X-Ray traces recorded, per trace (aws.amazon.com/xray/pricing: $5.00 per
# million; traces retrieved or scanned, $0.50 per million, follow the queries people run, not
# the traffic, and are left out). No free tier, as above.
LOGS_INGESTED_USD_PER_GB = 0.50
XRAY_TRACE_RECORDED_USD = 5.00 / 1_000_000
# AWS's month in its price examples: 730 hours.
SECONDS_PER_MONTH = 730 * 3600


def logs_usd_per_million(bytes_per_request: float) -> float:
    """CloudWatch Logs ingestion of a million requests at ``bytes_per_request``."""
    return bytes_per_request * 1e6 / 2**30 * LOGS_INGESTED_USD_PER_GB


def telemetry_usd_per_million(
    requests_per_second: float,
    *,
    log_bytes_per_request: float,
    traces_per_second: float,
    monthly_fixed_usd: float,
) -> dict[str, float]:
    """What a million requests cost in telemetry at a steady ``requests_per_second``: logs
    (per request), traces (``traces_per_second`` recorded, as the sampling policy allows at
    that traffic) and the flat monthly metrics and alarms spread over the month's requests."""
    per_month = requests_per_second * SECONDS_PER_MONTH / 1e6  # millions of requests
    parts = {
        "logs": logs_usd_per_million(log_bytes_per_request),
        "metrics": monthly_fixed_usd / per_month,
        "traces": traces_per_second * SECONDS_PER_MONTH * XRAY_TRACE_RECORDED_USD / per_month,
    }
    return {**{k: round(v, 4) for k, v in parts.items()}, "total": round(sum(parts.values()), 4)}
