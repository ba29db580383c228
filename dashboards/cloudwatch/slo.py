"""SLO burn-rate alarms on CloudWatch (ecs): per service and SLO, one metric-math alarm per
window of each burn-rate pair (dashboards/burn_rates.py), combined by a page and a ticket
composite alarm, the only alarms with actions (docs/slo-cloudwatch.md).

The SLIs are read at the service's sidecar ingress, like the Prometheus rules':

- availability: 5xx responses / all responses (``downstream_rq_xx`` class 5, Sum, over the
  ``SampleCount`` of ``downstream_rq_time``, one sample per response: alarms.REQUESTS_STAT);
- latency: the share of requests answered within ``latencyMs``, the percentile-rank statistic
  ``PR(:latencyMs)`` of the ingress ``downstream_rq_time`` (what callers wait, a fault
  filter's injected delay included). CloudWatch computes it from raw values only
  ("Requirements to use percentiles, ... Percentile rank", Statistics-definitions.md,
  awsdocs/amazon-cloudwatch-user-guide @20a560c1): the agent publishes each timing metric as
  Values/Counts of a distribution, not a statistic set (amazon-cloudwatch-agent
  plugins/outputs/cloudwatch/cloudwatch.go BuildMetricDatum @017d02c9), and PutMetricAlarm
  accepts ``PR(n:m)`` as a statistic (API reference, ExtendedStatistic).

Each alarm's metrics have the window as their period and one evaluation period: with the
default sliding evaluation window ("Alarm evaluation window", CloudWatch user guide) that is the
ratio over the last window, as the Workbook means it. PutMetricAlarm allows period x evaluation
periods up to 1 day for periods under an hour and up to 7 days otherwise (API reference,
EvaluationPeriods/Period), so even the 3-day window is one 259,200 s period.
"""

from __future__ import annotations

import math
import re

from components.settings.model import Settings, SloSpec
from components.settings.naming import PROJECT, metric_namespace
from dashboards.burn_rates import BURN_RATE_ALERTS, SEVERITIES, BurnRateAlert, window_label
from dashboards.cloudwatch.alarms import (
    REQUESTS_STAT,
    error_rate_expression,
    error_reads,
    latency_read,
    metric_stat,
)
from dashboards.cloudwatch.metrics import MetricRead

AVAILABILITY = "availability"
LATENCY = "latency"
SLOS = (AVAILABILITY, LATENCY)
# PutMetricAlarm: "An alarm's total current evaluation period can be no longer than seven days
# ... For alarms with a period of less than one hour (3,600 seconds), the total evaluation
# period can't be longer than one day" (CloudWatch API reference, PutMetricAlarm Period).
HOUR_S = 3_600
MAX_RANGE_SHORT_PERIOD_S = 86_400
MAX_RANGE_S = 604_800
# The agent ships a timing distribution as the mid-points of exponential buckets 10 % wide
# (amazon-cloudwatch-agent metric/distribution/seh1/seh1_distribution.go @064ef65b:
# bucketFactor = log(1 + 0.1), value = exp((bucket + 0.5) * bucketFactor)), and converts its
# exact distributions to those before publishing (plugins/outputs/cloudwatch/util.go resize).
_SEH1_BUCKET_FACTOR = math.log(1 + 0.1)


def slo_reads(settings: Settings, service: str) -> dict[str, tuple[MetricRead, ...]]:
    """The metrics of each SLI of ``service``: (5xx, request time) and (request time,)."""
    return {
        AVAILABILITY: error_reads(settings, service),
        LATENCY: (latency_read(settings, service),),
    }


def slo_alarm_reads(settings: Settings) -> list[MetricRead]:
    """Every metric the SLO alarms read."""
    return [
        read
        for svc in settings.slo_services
        for reads in slo_reads(settings, svc.name).values()
        for read in reads
    ]


def within_statistic(latency_ms: int) -> str:
    """The percentile rank of requests answered within ``latency_ms`` (% of values <= it)."""
    return f"PR(:{latency_ms})"


def measured_latency_bound_ms(latency_ms: int) -> float:
    """The request time below which ``PR(:latency_ms)`` really counts a request as fast.

    CloudWatch sees each request as its agent bucket's mid-point, so a whole bucket counts as
    fast when its mid-point is within ``latency_ms``: the bound is the upper edge of the last
    such bucket, within 10 % of ``latency_ms`` (300 ms: 304.5 ms; 500 ms: 490.4 ms).
    """
    last_fast_bucket = math.floor(math.log(latency_ms) / _SEH1_BUCKET_FACTOR - 0.5)
    return math.exp((last_fast_bucket + 1) * _SEH1_BUCKET_FACTOR)


def check_evaluation_range(period_s: int, evaluation_periods: int) -> None:
    """Raise ValueError unless PutMetricAlarm accepts ``period_s`` x ``evaluation_periods``."""
    limit = MAX_RANGE_SHORT_PERIOD_S if period_s < HOUR_S else MAX_RANGE_S
    if period_s % 60 or period_s * evaluation_periods > limit:
        raise ValueError(
            f"period {period_s} s x {evaluation_periods} is not a CloudWatch alarm range "
            f"(a multiple of 60 s, at most {limit} s in all)"
        )


def budget_percent(slo: SloSpec, kind: str) -> float:
    """The error budget of SLO ``kind``, in % of requests (0.1 for 99.9 % available)."""
    objective = slo.availability if kind == AVAILABILITY else slo.latency_percent
    return round(100 - objective, 10)


def budget_number(slo: SloSpec, kind: str) -> str:
    """``budget_percent`` as a metric-math number: fixed-point, never ``1e-05`` (the metric
    math syntax has decimal numbers, no exponent: "Metric math syntax and functions",
    CloudWatch user guide)."""
    return f"{budget_percent(slo, kind):.10f}".rstrip("0").rstrip(".")


def objective_text(slo: SloSpec, kind: str) -> str:
    if kind == AVAILABILITY:
        return f"{slo.availability:g}% of requests without a 5xx"
    return f"{slo.latency_percent:g}% of requests within {slo.latency_ms} ms"


def burn_queries(
    settings: Settings, service: str, kind: str, slo: SloSpec, period_s: int, prefix: str = ""
) -> list[dict]:
    """Metric queries whose last one (id ``<prefix>burn``) is the burn rate of SLO ``kind`` of
    ``service`` over ``period_s``: its error ratio divided by the error budget."""
    namespace = metric_namespace(settings.mesh_name)
    budget = budget_number(slo, kind)
    if kind == AVAILABILITY:
        errors, requests = slo_reads(settings, service)[AVAILABILITY]
        ids = (f"{prefix}errors", f"{prefix}requests")
        queries = [
            {"id": ids[0], "metric": metric_stat(errors, namespace, "Sum", period_s)},
            {"id": ids[1], "metric": metric_stat(requests, namespace, REQUESTS_STAT, period_s)},
        ]
        expression = f"{error_rate_expression(*ids)} / {budget}"
    else:
        (latency,) = slo_reads(settings, service)[LATENCY]
        stat = within_statistic(slo.latency_ms)
        queries = [
            {"id": f"{prefix}within", "metric": metric_stat(latency, namespace, stat, period_s)}
        ]
        expression = f"(100 - {prefix}within) / {budget}"
    return [*queries, {"id": f"{prefix}burn", "expression": expression}]


def alarm_name(
    settings: Settings, service: str, kind: str, alert: BurnRateAlert, window: int
) -> str:
    """The CloudWatch name of one window's alarm (composite rules name their children)."""
    return (
        f"{PROJECT}-{settings.mesh_name}-{service}-{kind}-{alert.factor:g}x-{window_label(window)}"
    )


def composite_name(settings: Settings, service: str, kind: str, severity: str) -> str:
    return f"{PROJECT}-{settings.mesh_name}-{service}-{kind}-{severity}"


def slo_alarm_specs(settings: Settings) -> list[dict]:
    """Keyword arguments of ``aws.cloudwatch.MetricAlarm`` for every window of every burn-rate
    pair of every SLO of every service that has one; ``resource_name`` is the suffix of the
    resource's name (the caller pops it), ``name`` the alarm's.

    No actions: the composites notify, once per page or ticket, not once per window. Missing
    data (no requests in the window) is not breaching.
    """
    specs: list[dict] = []
    for svc, slo in settings.service_slos:
        for kind in SLOS:
            for alert in BURN_RATE_ALERTS:
                for window in alert.windows:
                    check_evaluation_range(window, 1)
                    label = window_label(window)
                    queries = burn_queries(settings, svc.name, kind, slo, window)
                    for query in queries:
                        query["return_data"] = "expression" in query
                    queries[-1]["label"] = f"{svc.name} {kind} burn rate ({label})"
                    specs.append(
                        {
                            "resource_name": f"{svc.name}-{kind}-{alert.factor:g}x-{label}",
                            "name": alarm_name(settings, svc.name, kind, alert, window),
                            "alarm_description": (
                                f"{settings.mesh_name}/{svc.name}: {kind} SLO "
                                f"({objective_text(slo, kind)}) burning its error budget "
                                f"faster than {alert.factor:g}x over the last {label}; one "
                                f"window of the {alert.severity} composite, no action of its own"
                            ),
                            "comparison_operator": "GreaterThanThreshold",
                            "threshold": alert.factor,
                            "evaluation_periods": 1,
                            "datapoints_to_alarm": 1,
                            "treat_missing_data": "notBreaching",
                            "metric_queries": queries,
                            "tags": _tags(settings, svc.name, kind, alert.severity)
                            | {"window": label},
                        }
                    )
    return specs


def alarm_rule(settings: Settings, service: str, kind: str, severity: str) -> str:
    """The composite's rule: any pair of ``severity`` with both its windows in ALARM."""
    pairs = [
        " AND ".join(
            f'ALARM("{alarm_name(settings, service, kind, alert, window)}")'
            for window in alert.windows
        )
        for alert in BURN_RATE_ALERTS
        if alert.severity == severity
    ]
    return " OR ".join(f"({pair})" for pair in pairs)


def rule_alarm_names(rule: str) -> list[str]:
    """The alarm names a composite ``rule`` reads, in order."""
    return re.findall(r'ALARM\("([^"]+)"\)', rule)


def composite_alarm_specs(settings: Settings, topic_arn: object) -> list[dict]:
    """Keyword arguments of ``aws.cloudwatch.CompositeAlarm``, a page and a ticket per service
    and SLO, notifying ``topic_arn`` when they fire and when they resolve; ``resource_name``
    as in ``slo_alarm_specs``. ``topic_arn`` is a string, or the Pulumi output of one (this
    layer may not import pulumi)."""
    specs: list[dict] = []
    for svc, slo in settings.service_slos:
        for kind in SLOS:
            for severity in SEVERITIES:
                pairs = "; ".join(
                    f"{a.factor:g}x over {window_label(a.long_s)} and {window_label(a.short_s)} "
                    f"({a.budget_consumed(slo.window_days):.1%} of the budget)"
                    for a in BURN_RATE_ALERTS
                    if a.severity == severity
                )
                specs.append(
                    {
                        "resource_name": f"{svc.name}-{kind}-{severity}",
                        "alarm_name": composite_name(settings, svc.name, kind, severity),
                        "alarm_rule": alarm_rule(settings, svc.name, kind, severity),
                        "alarm_description": (
                            f"{severity.upper()} {settings.mesh_name}/{svc.name}: the {kind} "
                            f"SLO ({objective_text(slo, kind)} over {slo.window_days} days) "
                            f"burns its error budget: {pairs}"
                        ),
                        "actions_enabled": True,
                        "alarm_actions": [topic_arn],
                        "ok_actions": [topic_arn],
                        "tags": _tags(settings, svc.name, kind, severity),
                    }
                )
    return specs


def _tags(settings: Settings, service: str, kind: str, severity: str) -> dict[str, str]:
    # The labels every SLO alert carries on every topology (severity, service, slo).
    return {"mesh": settings.mesh_name, "service": service, "slo": kind, "severity": severity}


def alert_topic_policy(topic_arn: str) -> dict:
    """The alert topic's access policy: CloudWatch alarms of the topic's own account and
    region may publish to it, nothing else. The statement AWS gives for alarm notifications
    (AWS re:Post knowledge center "cloudwatch-receive-sns-for-alarm-trigger": principal
    cloudwatch.amazonaws.com, ArnLike aws:SourceArn on the account's alarms), and no more: a
    condition key CloudWatch did not send (aws:SourceAccount) would make SNS refuse every
    notification, silently, as a failed action in the alarm's history."""
    _, partition, _, region, account, _ = topic_arn.split(":", 5)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*"
                    },
                },
            }
        ],
    }
