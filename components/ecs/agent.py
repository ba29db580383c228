"""The CloudWatch agent sidecar's configuration (``CW_CONFIG_CONTENT``) on ECS.

The agent stands on 127.0.0.1:8125 in every task and turns the sidecar's DogStatsD datagrams
into CloudWatch metrics, the path the original App Mesh walkthrough used. How it maps a
datagram to a metric (name, dimensions, ``metric_type``) is mirrored by
meshvis/local/cloudwatch_agent.py, which the local mesh and the tests use in its place.
"""

from __future__ import annotations

from components.settings.model import Settings
from components.settings.naming import metric_namespace
from components.settings.ports import OTLP_GRPC_PORT, OTLP_HTTP_PORT, STATSD_PORT
from components.sidecar.stats import cloudwatch_dropped_metrics
from dashboards.cloudwatch.metrics import METRIC_SEPARATOR, PER_UPSTREAM_DIMENSIONS

# How often the agent gathers what the statsd listener aggregated; Envoy flushes every 10 s.
COLLECTION_INTERVAL_S = 10
# The agent folds a minute of samples into one PutMetricData datum per metric (values and
# counts, so percentiles stay available) at standard resolution.
AGGREGATION_INTERVAL_S = 60


def cloudwatch_agent_config(settings: Settings) -> dict:
    """The agent configuration for one task of ``settings``' mesh.

    ``omit_hostname`` keeps the task's host name out of the dimensions: with it, every task
    (and every replacement task) would create its own copy of each metric and multiply the
    metric bill by the task count. No ``logs`` section: the original walkthrough's EMF listener
    (``logs.metrics_collected.emf``, TCP/UDP 25888) had no sender here, and its log group
    would have needed ``logs:CreateLogGroup``, which the task role does not have.
    """
    agent: dict = {"omit_hostname": True, "metrics_collection_interval": COLLECTION_INTERVAL_S}
    if settings.region:
        agent["region"] = settings.region
    config = {
        "agent": agent,
        "metrics": {
            "namespace": metric_namespace(settings.mesh_name),
            # One metric per upstream for every caller's datum of its cluster stats: what the
            # dashboard's upstream views and the no-healthy-hosts alarms read.
            "aggregation_dimensions": [list(PER_UPSTREAM_DIMENSIONS)],
            "metrics_collected": {
                "statsd": {
                    # Loopback only: Envoy sends from inside the task, and nothing outside it
                    # may write into the mesh's namespace.
                    "service_address": f"127.0.0.1:{STATSD_PORT}",
                    "metrics_collection_interval": COLLECTION_INTERVAL_S,
                    "metrics_aggregation_interval": AGGREGATION_INTERVAL_S,
                    "metric_separator": METRIC_SEPARATOR,
                },
            },
        },
    }
    dropped = cloudwatch_dropped_metrics() if settings.stats_profile == "essential" else ()
    if dropped:
        # Kept in Envoy for the local live view and read by nothing in CloudWatch, or read
        # only from the per-upstream aggregate: the agent publishes no per-sidecar datum for
        # them, only the aggregates of those with the aggregation dimensions
        # (plugins/outputs/cloudwatch/cloudwatch.go BuildMetricDatum, IsDropping, ProcessRollup;
        # statsd names are taken as written: translator/translate/otel/common/metrics.go
        # GetDropOriginalMetrics, @ab55b8da).
        config["metrics"]["metrics_collected"]["statsd"]["drop_original_metrics"] = list(dropped)
    if settings.tracing:
        config["traces"] = _traces_config()
    return config


def dropped_metric_names(config: dict) -> frozenset[str]:
    """The metric names an agent ``config`` receives over statsd but never publishes."""
    statsd = config["metrics"]["metrics_collected"].get("statsd", {})
    return frozenset(statsd.get("drop_original_metrics", ()))


def _traces_config() -> dict:
    """The agent's X-Ray pipeline fed by OTLP: it receives the sidecar's spans on the task's
    loopback only (the agent's own defaults, spelt out so the sidecar's collector address and
    this stay visibly the same) and exports them with the awsxray exporter
    (translator/translate/otel/pipeline/xray/translator.go @ab55b8da)."""
    return {
        "traces_collected": {
            "otlp": {
                "grpc_endpoint": f"127.0.0.1:{OTLP_GRPC_PORT}",
                "http_endpoint": f"127.0.0.1:{OTLP_HTTP_PORT}",
            }
        }
    }
