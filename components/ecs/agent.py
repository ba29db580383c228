"""The CloudWatch agent sidecar's configuration (``CW_CONFIG_CONTENT``) on ECS.

The agent stands on 127.0.0.1:8125 in every task and turns the sidecar's DogStatsD datagrams
into CloudWatch metrics, the path the original App Mesh walkthrough used. How it maps a
datagram to a metric (name, dimensions, ``metric_type``) is mirrored by meshvis/local/cloudwatch_agent.py,
which the local mesh and the tests use in its place.
"""

from __future__ import annotations

from components.settings.model import Settings
from components.settings.naming import metric_namespace
from components.settings.ports import STATSD_PORT
from dashboards.cloudwatch.metrics import METRIC_SEPARATOR

# How often the agent gathers what the statsd listener aggregated; Envoy flushes every 10 s.
COLLECTION_INTERVAL_S = 10
# The agent folds a minute of samples into one PutMetricData datum per metric (values and
# counts, so percentiles stay available) at standard resolution.
AGGREGATION_INTERVAL_S = 60


def cloudwatch_agent_config(settings: Settings) -> dict:
    """The agent configuration for one task of ``settings``' mesh.

    ``omit_hostname`` keeps the task's host name out of the dimensions: with it, every task
    (and every replacement task) would create its own copy of each metric and multiply the
    metric bill by the task count. EMF logs (``logs.metrics_collected.emf``) are accepted as in
    the original walkthrough, so an app can publish its own metrics through the same sidecar.
    """
    agent: dict = {"omit_hostname": True, "metrics_collection_interval": COLLECTION_INTERVAL_S}
    if settings.region:
        agent["region"] = settings.region
    return {
        "agent": agent,
        "metrics": {
            "namespace": metric_namespace(settings.mesh_name),
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
        "logs": {"metrics_collected": {"emf": {}}},
    }
