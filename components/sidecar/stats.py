"""What the sidecars must emit for the dashboards, alarms and live views to have data.

Envoy's ``stats_matcher`` works on the full stat name, before tag extraction
(``cluster.greeting.upstream_rq_2xx``); ``statsProfile: essential`` keeps only the stats a
reader of the stack's topology reads, in the scope it reads them (a service's ingress
listener, its egress listeners, its sidecar's cluster to its app, its upstream clusters, the
Envoy process). On ``ecs`` that is the CloudWatch dashboard and alarms, on ``eks`` the
Grafana dashboards and alert rules; on both, the local mesh's live view and run summary.

The lists below are data; tests/unit/sidecar/test_stats.py derives what every reader really reads
(the CloudWatch ``MetricRead``s, the PromQL of every panel, rule and live-view column) and
requires it to equal these lists both ways, and the local-mesh tests require a real Envoy
with the essential profile to emit exactly them. So a widget can not silently lose its data,
and no stat is kept (and paid for) that nothing reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.sidecar.names import INGRESS_PREFIX, LOCAL_APP_CLUSTER, egress_prefix

# Where a stat lives in one sidecar.
INGRESS = "ingress"  # http.ingress.<stat>: what the service serves
EGRESS = "egress"  # http.egress_<upstream>.<stat>: what its app gets from upstreams
LOCAL_APP = "local_app"  # cluster.local_app.<stat>: the sidecar's calls to its own app
UPSTREAM = "upstream"  # cluster.<upstream>.<stat>: its calls to other services
SERVER = "server"  # server.<stat>: the Envoy process
SCOPES = (INGRESS, EGRESS, LOCAL_APP, UPSTREAM, SERVER)
_FAMILY = {
    INGRESS: "http",
    EGRESS: "http",
    LOCAL_APP: "cluster",
    UPSTREAM: "cluster",
    SERVER: "server",
}
# Full stat names of each scope, before the stat's own name (RE2, as Envoy matches them).
# An upstream is a service name (a DNS label): the sidecar's own clusters never match it.
_SCOPE_REGEX = {
    INGRESS: rf"http\.{INGRESS_PREFIX}",
    EGRESS: rf"http\.{egress_prefix('')}[a-z0-9-]+",
    LOCAL_APP: rf"cluster\.{LOCAL_APP_CLUSTER}",
    UPSTREAM: r"cluster\.[a-z][a-z0-9-]*",
    SERVER: r"server",
}


@dataclass(frozen=True, order=True)
class Stat:
    """One stat in one scope. ``name`` is Envoy's after tag extraction: ``upstream_rq_xx``
    stands for ``upstream_rq_2xx`` and the other classes (the class becomes a tag)."""

    scope: str
    name: str

    @property
    def metric(self) -> str:
        """Its name in Prometheus and, with the agent's ``_`` separator, in CloudWatch:
        ``envoy_cluster_outlier_detection_ejections_active``."""
        return "_".join(["envoy", _FAMILY[self.scope], *self.name.split(".")])

    @property
    def regex(self) -> str:
        """The stat's own part of a full stat name (``upstream_rq_[1-5]xx``)."""
        escaped = self.name.replace(".", r"\.")
        return escaped[:-2] + "[1-5]xx" if escaped.endswith("_xx") else escaped


def _stats(scope: str, *names: str) -> frozenset[Stat]:
    return frozenset(Stat(scope, name) for name in names)


CLOUDWATCH = "the CloudWatch dashboard and alarms"
GRAFANA = "the Grafana dashboards and alert rules"
LIVE_VIEW = "the local live view and run summary"
COMMUNITY = "the community Envoy dashboards (Grafana 11021, 11022, envoy-mixin)"

# Every stat each reader reads (dashboards/cloudwatch/, dashboards/grafana/ and
# prometheus/rules.py, meshvis/local/golden_signals.py, service_map.py and summary.py).
READS: dict[str, frozenset[Stat]] = {
    # Requests are counted as the samples of the request time; no HTTP/1 active connections
    # (the mesh speaks HTTP/1.1 only: it would repeat downstream_cx_active); the upstream stats
    # are read from the agent's per-upstream aggregate (dashboards/cloudwatch/metrics.py).
    CLOUDWATCH: (
        _stats(
            INGRESS,
            "downstream_rq_xx",
            "downstream_rq_time",
            "downstream_cx_total",
            "downstream_cx_active",
            "downstream_cx_http2_total",
        )
        | _stats(UPSTREAM, "upstream_rq_time", "upstream_rq_retry", "membership_healthy")
    ),
    GRAFANA: (
        _stats(
            INGRESS,
            "downstream_rq_total",
            "downstream_rq_xx",
            "downstream_rq_time",
            "downstream_cx_active",
        )
        | _stats(
            UPSTREAM,
            "upstream_rq_total",
            "upstream_rq_xx",
            "upstream_rq_time",
            "upstream_rq_retry",
            "upstream_rq_timeout",
            "upstream_rq_pending_overflow",
            "upstream_cx_connect_fail",
            "membership_healthy",
            "membership_total",
            "outlier_detection.ejections_active",
            "outlier_detection.ejections_enforced_total",
            "circuit_breakers.default.cx_open",
            "circuit_breakers.default.rq_pending_open",
            "circuit_breakers.default.rq_retry_open",
        )
        | _stats(SERVER, "live", "uptime", "memory_allocated", "memory_heap_size")
    ),
    LIVE_VIEW: (
        _stats(
            INGRESS,
            "downstream_rq_total",
            "downstream_rq_xx",
            "downstream_rq_time",
            "downstream_cx_active",
        )
        | _stats(EGRESS, "downstream_rq_total", "downstream_rq_xx")
        # The service map's edges (rate, 5xx share, p50/p99 per caller and upstream).
        | _stats(UPSTREAM, "membership_healthy", "upstream_rq_xx", "upstream_rq_time")
    ),
}
# The community dashboards users of Prometheus import (docs/eks.md "The community Envoy
# dashboards"): what their panels read for the features the mesh uses, in the listener or
# cluster a mesh reads it in: cluster stats on the upstream clusters, HTTP stats on the
# ingress listener. Not kept: per
# status code (the class is), HTTP/2 flood, TLS, TCP proxy and per-address listener stats
# (the mesh speaks HTTP/1.1 in plain text through HTTP connection managers).
# tests/support/community_dashboards.py holds their panels' selectors, with the sources.
READS[COMMUNITY] = (
    _stats(
        UPSTREAM,
        "upstream_rq_total",
        "upstream_rq_xx",
        "upstream_rq_time",
        "upstream_rq_retry",
        "upstream_rq_retry_overflow",
        "upstream_rq_timeout",
        "upstream_cx_total",
        "upstream_cx_active",
        "upstream_cx_destroy",
        "upstream_cx_connect_fail",
        "upstream_cx_overflow",
        "upstream_cx_rx_bytes_total",
        "upstream_cx_tx_bytes_total",
        "membership_healthy",
        "membership_total",
        "circuit_breakers.default.cx_open",
        "circuit_breakers.default.cx_pool_open",
        "circuit_breakers.default.rq_open",
    )
    | _stats(
        INGRESS,
        "downstream_rq_total",
        "downstream_rq_xx",
        "downstream_rq_time",
        "downstream_rq_timeout",
        "downstream_rq_rx_reset",
        "downstream_rq_tx_reset",
        "downstream_cx_total",
        "downstream_cx_active",
        "downstream_cx_destroy",
        "downstream_cx_idle_timeout",
        "downstream_cx_rx_bytes_total",
        "downstream_cx_tx_bytes_total",
    )
    | _stats(SERVER, "live", "uptime", "memory_allocated", "memory_heap_size")
)
# Who reads the sidecars' stats on each topology. The live view is the local mesh's, which
# runs the stack's own bootstrap, so it must find its stats on either topology.
# On eks the community dashboards too: Prometheus series are not billed per metric, so
# their panels have data at a few dozen series more per sidecar.
READERS = {"ecs": (CLOUDWATCH, LIVE_VIEW), "eks": (GRAFANA, COMMUNITY, LIVE_VIEW)}
# The scopes read on the sidecar of each kind of service. A load generator has no ingress
# listener and no app behind its sidecar. Egress listeners are read on load generators only:
# the live view and run summary show there what a client gets back end to end, while an
# app's calls are read from its upstream clusters.
KIND_SCOPES = {"app": (INGRESS, LOCAL_APP, UPSTREAM, SERVER), "load": (EGRESS, UPSTREAM, SERVER)}


def essential_stats(topology: str, kind: str | None = None) -> frozenset[Stat]:
    """Every stat ``statsProfile: essential`` keeps on ``topology``: on the sidecar of a
    service of ``kind`` (``app`` or ``load``), or on any sidecar (None)."""
    kept = frozenset().union(*(READS[reader] for reader in READERS[topology]))
    if kind is None:
        return kept
    return frozenset(stat for stat in kept if stat.scope in KIND_SCOPES[kind])


def essential_stats_matcher(topology: str, kind: str) -> dict:
    """The ``stats_matcher`` for ``statsProfile: essential`` of a sidecar of a ``kind``
    service: an inclusion list, one regex per scope (sorted, so the bootstrap, and the pods'
    config checksum, only changes when the list does)."""
    kept = essential_stats(topology, kind)
    patterns = []
    for scope in SCOPES:
        names = sorted(stat.regex for stat in kept if stat.scope == scope)
        if names:
            patterns.append(
                {"safe_regex": {"regex": rf"^{_SCOPE_REGEX[scope]}\.({'|'.join(names)})$"}}
            )
    return {"inclusion_list": {"patterns": patterns}}


def cloudwatch_dropped_metrics(topology: str = "ecs") -> tuple[str, ...]:
    """Metric names whose per-sidecar datum the CloudWatch agent drops under ``statsProfile:
    essential`` (its ``drop_original_metrics``), so that they are not billed:

    - what the profile keeps on ``topology`` for another reader (the local live view, which
      runs the same bootstrap) and no CloudWatch widget, alarm or SLO reads under any
      dimensions (the agent matches names, not dimensions);
    - the upstream clusters' stats CloudWatch reads: they are read only from the agent's
      per-upstream aggregate, which the agent still publishes for a dropped name.
    """
    read = {stat.metric for stat in READS[CLOUDWATCH]}
    unread = {stat.metric for stat in essential_stats(topology)} - read
    aggregated = {stat.metric for stat in READS[CLOUDWATCH] if stat.scope == UPSTREAM}
    return tuple(sorted(unread | aggregated))
