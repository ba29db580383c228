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


def egress_prefix(upstream: str) -> str:
    """Stat prefix (and listener name) of the egress listener towards ``upstream``."""
    return f"egress_{upstream}"
