"""What the sidecars must emit for the dashboards, alarms and live views to have data.

Envoy's ``stats_matcher`` works on the full stat name, before tag extraction
(``cluster.greeting.upstream_rq_2xx``); ``statsProfile: essential`` keeps only names that
match these patterns. Every metric a dashboard, alarm or query names is checked against what
a real Envoy emits with this list (tests/test_telemetry_real_envoy.py), so trimming it can not
silently empty a widget.
"""

from __future__ import annotations

# Cluster and listener names the bootstrap uses for the sidecar's own plumbing. They contain
# an underscore, which a service name (a DNS label) never does, so they never clash with an
# upstream cluster named after its service.
LOCAL_APP_CLUSTER = "local_app"
ADMIN_CLUSTER = "envoy_admin"
INGRESS_PREFIX = "ingress"
METRICS_PREFIX = "metrics"


def egress_prefix(upstream: str) -> str:
    """Stat prefix (and listener name) of the egress listener towards ``upstream``."""
    return f"egress_{upstream}"


# Suffixes of `cluster.<name>.<suffix>` that the dashboards, alarms and alerts read.
CLUSTER_STATS = (
    "upstream_rq_total",
    "upstream_rq_xx",          # 2xx/4xx/5xx (the class becomes envoy.response_code_class)
    "upstream_rq_time",
    "upstream_rq_retry",
    "upstream_rq_timeout",
    "upstream_rq_pending_overflow",
    "upstream_cx_connect_fail",
    "upstream_cx_active",
    "membership_healthy",
    "membership_total",
    "outlier_detection.ejections_active",
    "outlier_detection.ejections_enforced_total",
    "circuit_breakers.default.cx_open",
    "circuit_breakers.default.rq_pending_open",
    "circuit_breakers.default.rq_retry_open",
)
# Suffixes of `http.<prefix>.<suffix>` (ingress and egress connection managers).
HTTP_STATS = (
    "downstream_rq_total",
    "downstream_rq_xx",
    "downstream_rq_time",
    "downstream_cx_total",
    "downstream_cx_active",
    "downstream_cx_http1_active",
    "downstream_cx_http2_total",
)
SERVER_STATS = ("server.live", "server.uptime", "server.memory_allocated",
                "server.memory_heap_size")


def essential_stats_matcher() -> dict:
    """The ``stats_matcher`` for ``statsProfile: essential``: an inclusion list."""
    patterns: list[dict] = []
    xx = r"[1-5]xx"
    for suffix in CLUSTER_STATS:
        body = suffix.replace(".", r"\.").replace("xx", xx) if suffix.endswith("_xx") else \
            suffix.replace(".", r"\.")
        # The cluster name excludes envoy_admin, whose stats would only describe the scrape.
        patterns.append({"safe_regex": {"regex": rf"^cluster\.(local_app|[a-z][a-z0-9-]*)\.{body}$"}})
    for suffix in HTTP_STATS:
        body = suffix.replace("xx", xx) if suffix.endswith("_xx") else suffix
        patterns.append({"safe_regex": {"regex": rf"^http\.(ingress|egress_[a-z0-9-]+)\.{body}$"}})
    for name in SERVER_STATS:
        patterns.append({"exact": name})
    return {"inclusion_list": {"patterns": patterns}}
