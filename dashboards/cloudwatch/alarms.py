"""Per-service CloudWatch alarms: 5xx ratio and p99 latency.

Alarms cannot use SEARCH, so each names its metrics with the exact dimensions the agent
publishes them with (dashboards/cloudwatch/metrics.py); one dimension more or less and the
alarm would watch a metric that never gets data.
"""

from __future__ import annotations

from components.settings.model import Settings
from components.settings.naming import metric_namespace
from dashboards.cloudwatch.metrics import AFTER_5XX, MetricRead, ingress, service_latency

PERIOD_S = 60
# A minute-by-minute alarm that needs 3 bad minutes out of 5 rides out a single slow or
# failing minute (a deploy, one bad task) yet fires within five minutes of a real problem.
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3


def error_reads(settings: Settings, service: str) -> tuple[MetricRead, MetricRead]:
    """The 5xx and all-requests counters of a service's ingress (the error-rate alarm's inputs)."""
    mesh = settings.mesh_name
    return (
        ingress(mesh, service, "downstream_rq_xx", code_class="5", when=AFTER_5XX),
        ingress(mesh, service, "downstream_rq_total"),
    )


def alarm_reads(settings: Settings) -> list[MetricRead]:
    """Every metric the alarms read, with its exact dimensions."""
    reads: list[MetricRead] = []
    for svc in settings.app_services:
        reads += [*error_reads(settings, svc.name), service_latency(settings.mesh_name, svc.name)]
    return reads


def alarm_metric_names(settings: Settings) -> set[str]:
    """Names of every CloudWatch metric the alarms read."""
    return {read.name for read in alarm_reads(settings)}


def metric_stat(read: MetricRead, namespace: str, stat: str) -> dict:
    """``metric_queries[].metric`` of an alarm (pulumi_aws MetricAlarmMetricQueryMetricArgs)."""
    return {
        "metric_name": read.name,
        "namespace": namespace,
        "period": PERIOD_S,
        "stat": stat,
        "dimensions": {key: value for key, value in read.dimensions},
    }


def error_rate_expression(errors_id: str, requests_id: str) -> str:
    """Metric math: % of requests answered 5xx. A minute without a 5xx has no 5xx datapoint
    (Envoy has not used that counter yet), which FILL turns into 0 %."""
    return f"100 * FILL({errors_id}, 0) / {requests_id}"


def alarm_specs(settings: Settings) -> list[dict]:
    """Keyword arguments of ``aws.cloudwatch.MetricAlarm`` for each app service's alarms.

    Each dict also has ``name``, a short unique suffix for the resource name (the caller pops
    it). Missing data is "not breaching": a service without traffic is not failing.
    """
    namespace = metric_namespace(settings.mesh_name)
    within = f"{DATAPOINTS_TO_ALARM} of {EVALUATION_PERIODS} minutes"
    specs: list[dict] = []
    for svc in settings.app_services:
        where = f"{settings.mesh_name}/{svc.name}"
        errors, requests = error_reads(settings, svc.name)
        common = {
            "comparison_operator": "GreaterThanThreshold",
            "evaluation_periods": EVALUATION_PERIODS,
            "datapoints_to_alarm": DATAPOINTS_TO_ALARM,
            "treat_missing_data": "notBreaching",
            "tags": {"mesh": settings.mesh_name, "service": svc.name},
        }
        specs.append(
            {
                "name": f"{svc.name}-5xx-rate",
                "alarm_description": (
                    f"{where}: more than {settings.error_rate_alarm_percent:g}% of requests answered "
                    f"5xx in {within} (ingress listener of its Envoy sidecar)"
                ),
                "threshold": float(settings.error_rate_alarm_percent),
                "metric_queries": [
                    {
                        "id": "errors",
                        "metric": metric_stat(errors, namespace, "Sum"),
                        "return_data": False,
                    },
                    {
                        "id": "requests",
                        "metric": metric_stat(requests, namespace, "Sum"),
                        "return_data": False,
                    },
                    {
                        "id": "error_rate",
                        "expression": error_rate_expression("errors", "requests"),
                        "label": f"{svc.name} 5xx %",
                        "return_data": True,
                    },
                ],
                **common,
            }
        )
        latency = service_latency(settings.mesh_name, svc.name)
        specs.append(
            {
                "name": f"{svc.name}-p99-latency",
                "alarm_description": (
                    f"{where}: p99 latency above {settings.latency_alarm_ms} ms in {within} "
                    "(request time from its Envoy sidecar to the app)"
                ),
                "namespace": namespace,
                "metric_name": latency.name,
                "dimensions": {key: value for key, value in latency.dimensions},
                "period": PERIOD_S,
                "extended_statistic": "p99",
                # No `unit`: an alarm with one only sees datapoints published with that same unit.
                "threshold": float(settings.latency_alarm_ms),
                **common,
            }
        )
    return specs
