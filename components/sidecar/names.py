"""Names in every sidecar's bootstrap that stats, dashboards and the local mesh refer to."""

from __future__ import annotations

# Cluster and listener names the bootstrap uses for the sidecar's own plumbing. They contain
# an underscore, which a service name (a DNS label) never does, so they never clash with an
# upstream cluster named after its service.
LOCAL_APP_CLUSTER = "local_app"
ADMIN_CLUSTER = "envoy_admin"
INGRESS_PREFIX = "ingress"
METRICS_PREFIX = "metrics"
# Where the OpenTelemetry tracer sends its spans (components/sidecar/tracing.py).
TRACE_COLLECTOR_CLUSTER = "otlp_collector"
# Where the tracer's sampler reads its ceiling: the sidecar's own metrics listener.
TRACE_SAMPLER_CLUSTER = "trace_sampler"
# Every cluster of a sidecar that is not another service: its app, its admin interface, its
# trace collector and its trace sampler's configuration. The one definition every view of
# "upstreams" leaves out (CloudWatch widgets, PromQL, the service maps);
# tests/unit/sidecar/test_cluster_names.py checks that every bootstrap's clusters are its
# upstreams plus some of these.
SIDECAR_CLUSTERS = (
    LOCAL_APP_CLUSTER,
    ADMIN_CLUSTER,
    TRACE_COLLECTOR_CLUSTER,
    TRACE_SAMPLER_CLUSTER,
)


# The one path the load balancer's health check asks for (ecs, on the entry service's ingress):
# the sidecar routes it to the app's `healthPath`. The target group never changes when
# `healthPath` does, so a new path reaches only tasks whose bootstrap (and image) serve it.
LB_HEALTH_PATH = "/meshvis-lb-health"


def egress_prefix(upstream: str) -> str:
    """Stat prefix (and listener name) of the egress listener towards ``upstream``."""
    return f"egress_{upstream}"
