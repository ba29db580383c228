"""Per-service CloudWatch threshold alarms: 5xx ratio and p99 latency, for the app services
without an SLO (``slo: false``).

A service with an SLO has burn-rate alarms instead (dashboards/cloudwatch/slo.py): they fire on
the same 5xx ratio and on the share of slow requests, at thresholds drawn from its error
budget, and they notify someone; a threshold alarm beside them would add nothing but noise.

Alarms cannot use SEARCH, so each names its metrics with the exact dimensions the agent
publishes them with (dashboards/cloudwatch/metrics.py); one dimension more or less and the
alarm would watch a metric that never gets data.
"""

from __future__ import annotations

from components.settings.model import ServiceSpec, Settings
from components.settings.naming import metric_namespace
from dashboards.cloudwatch.metrics import (
    AFTER_5XX,
    GAUGE,
    TIMING,
    MetricRead,
    ingress,
    upstream,
)

PERIOD_S = 60
# A minute-by-minute alarm that needs 3 bad minutes out of 5 rides out a single slow or
# failing minute (a deploy, one bad task) yet fires within five minutes of a real problem.
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3
# The requests a service answered are counted as the samples of its ingress request time, not
# from ``downstream_rq_total``: one metric less per service. Envoy records ``downstream_rq_time``
# once per response, when its last byte is sent (ConnectionManagerImpl::ActiveStream::
# maybeEndEncode, source/common/http/conn_manager_impl.cc), and its DogStatsD sink sends every
# sample; so the count is the responses sent, the very population the 5xx counter (charged
# with the response headers) is a share of. A request the client gives up on before its
# response is counted in neither.
REQUESTS_STAT = "SampleCount"


def error_reads(settings: Settings, service: str) -> tuple[MetricRead, MetricRead]:
    """The 5xx counter of a service's ingress and its request time, whose ``REQUESTS_STAT``
    counts its responses (the error-rate alarm's inputs: 5xx over all responses)."""
    mesh = settings.mesh_name
    return (
        ingress(mesh, service, "downstream_rq_xx", code_class="5", when=AFTER_5XX),
        latency_read(settings, service),
    )


def threshold_alarm_services(settings: Settings) -> tuple[ServiceSpec, ...]:
    """The app services that get threshold alarms: those without an SLO."""
    return tuple(s for s in settings.app_services if settings.slo_for(s) is None)


def latency_read(settings: Settings, service: str | None) -> MetricRead:
    """A service's (every service's when None) request time as its callers see it: its
    sidecar's ingress, first byte in to last byte out. Not the sidecar-to-app time: a request
    delayed in the sidecar (an overloaded Envoy, or a game day's injected delay, which Envoy's
    fault filter applies on the ingress before routing) is as slow for the caller, and the game
    day showed that an alarm on the app's time alone could not fire on it (docs/gameday.md)."""
    return ingress(settings.mesh_name, service, "downstream_rq_time", TIMING)


def callers(settings: Settings, service: str) -> list[str]:
    """Every service whose sidecar calls ``service`` (load generators included)."""
    return [s.name for s in settings.services if service in s.upstreams]


def healthy_host_read(settings: Settings, service: str) -> MetricRead:
    """The callers' counts of healthy hosts of ``service`` (their upstream clusters' gauge), in
    the one per-upstream metric the agent aggregates every caller's datum into: its
    ``Minimum`` is the fewest any caller saw."""
    return upstream(settings.mesh_name, "membership_healthy", GAUGE, service)


def alarm_reads(settings: Settings) -> list[MetricRead]:
    """Every metric the threshold and no-healthy-hosts alarms read, with its exact dimensions."""
    reads: list[MetricRead] = []
    for svc in threshold_alarm_services(settings):
        reads += [*error_reads(settings, svc.name), latency_read(settings, svc.name)]
    reads += [
        healthy_host_read(settings, svc.name)
        for svc in settings.app_services
        if callers(settings, svc.name)
    ]
    return reads


def alarm_metric_names(settings: Settings) -> set[str]:
    """Names of every CloudWatch metric the alarms read."""
    return {read.name for read in alarm_reads(settings)}


def metric_stat(read: MetricRead, namespace: str, stat: str, period: int = PERIOD_S) -> dict:
    """``metric_queries[].metric`` of an alarm (pulumi_aws MetricAlarmMetricQueryMetricArgs)."""
    return {
        "metric_name": read.name,
        "namespace": namespace,
        "period": period,
        "stat": stat,
        "dimensions": {key: value for key, value in read.dimensions},
    }


def error_rate_expression(errors_id: str, requests_id: str) -> str:
    """Metric math: % of requests answered 5xx. A minute without a 5xx has no 5xx datapoint
    (Envoy has not used that counter yet), which FILL turns into 0 %."""
    return f"100 * FILL({errors_id}, 0) / {requests_id}"


def alarm_specs(settings: Settings, topic_arn: object = None) -> list[dict]:
    """Keyword arguments of ``aws.cloudwatch.MetricAlarm`` for each app service's alarms.

    Each dict also has ``name``, a short unique suffix for the resource name (the caller pops
    it). Missing data is "not breaching": a service without traffic is not failing. With
    ``topic_arn`` (a string, or the Pulumi output of one: this layer may not import pulumi)
    each alarm notifies that topic when it fires and when it resolves: these alarms name the
    service that fails (the no-healthy-hosts alarm the one that is out, which sends nothing
    itself), so someone must be told, as the SLO composites tell of their services.
    """
    namespace = metric_namespace(settings.mesh_name)
    within = f"{DATAPOINTS_TO_ALARM} of {EVALUATION_PERIODS} minutes"
    specs: list[dict] = []
    for svc in threshold_alarm_services(settings):
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
                    f"{where}: more than {settings.error_rate_alarm_percent:g}% of requests "
                    f"answered 5xx in {within} (ingress listener of its Envoy sidecar)"
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
                        "metric": metric_stat(requests, namespace, REQUESTS_STAT),
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
        latency = latency_read(settings, svc.name)
        specs.append(
            {
                "name": f"{svc.name}-p99-latency",
                "alarm_description": (
                    f"{where}: p99 latency above {settings.latency_alarm_ms} ms in {within} "
                    "(request time on the ingress listener of its Envoy sidecar)"
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
    specs += [
        no_healthy_hosts_alarm(settings, svc.name)
        for svc in settings.app_services
        if callers(settings, svc.name)
    ]
    if topic_arn is None:
        return specs
    actions = {"actions_enabled": True, "alarm_actions": [topic_arn], "ok_actions": [topic_arn]}
    return [{**spec, **actions} for spec in specs]


def no_healthy_hosts_alarm(settings: Settings, service: str) -> dict:
    """The alarm that pins an outage on the service that is out: some caller's sidecar sees
    no healthy host of it. A service whose every replica stopped sends no metric at all, so
    its own alarms (threshold or SLO) see missing data, not breaching, while its callers' fire:
    the callers' gauge of its hosts is what names it (the game day's outage scenario,
    docs/gameday.md). One lost replica of several never fires it. Every app service with a
    caller has one, SLO or not: an SLO alarm cannot see a service that sends nothing.

    It reads the callers' per-upstream aggregate: its ``Minimum`` over a period is the fewest
    healthy hosts any caller's sidecar reported, what a ``MIN`` over one metric per caller
    gave, at one metric alarmed instead of one per caller."""
    read = healthy_host_read(settings, service)
    return {
        "name": f"{service}-no-healthy-hosts",
        "alarm_description": (
            f"{settings.mesh_name}/{service}: a caller's sidecar "
            f"({', '.join(callers(settings, service))}) sees no healthy host of it in "
            f"{DATAPOINTS_TO_ALARM} of {EVALUATION_PERIODS} minutes; its requests fail with 503"
        ),
        "namespace": metric_namespace(settings.mesh_name),
        "metric_name": read.name,
        "dimensions": {key: value for key, value in read.dimensions},
        "period": PERIOD_S,
        "statistic": "Minimum",
        "threshold": 1.0,
        "comparison_operator": "LessThanThreshold",
        "evaluation_periods": EVALUATION_PERIODS,
        "datapoints_to_alarm": DATAPOINTS_TO_ALARM,
        "treat_missing_data": "notBreaching",
        "tags": {"mesh": settings.mesh_name, "service": service},
    }
