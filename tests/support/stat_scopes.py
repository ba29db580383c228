"""Which sidecar stat (scope and metric name, as in ``components.sidecar.stats.Stat``) a reader
reads or a real Envoy published, for tests that compare the essential lists with both.

Readers are recognised by the selectors ``dashboards/prometheus/promql.py`` and
``dashboards/cloudwatch/metrics.py`` write; a selector of any other shape fails loudly, so a
new kind of query can not slip past the comparison.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from components.settings.model import Settings
from components.sidecar.names import (
    ADMIN_CLUSTER,
    INGRESS_PREFIX,
    LOCAL_APP_CLUSTER,
    SIDECAR_CLUSTERS,
    egress_prefix,
)
from components.sidecar.stats import (
    CLOUDWATCH,
    COMMUNITY,
    EGRESS,
    GRAFANA,
    INGRESS,
    LIVE_VIEW,
    LOCAL_APP,
    SERVER,
    UPSTREAM,
    Stat,
)
from dashboards.cloudwatch.alarms import alarm_reads
from dashboards.cloudwatch.dashboard import dashboard_reads
from dashboards.cloudwatch.metrics import CLUSTER, HCM_PREFIX, MetricRead
from dashboards.cloudwatch.slo import slo_alarm_reads
from dashboards.grafana import envoy as grafana_envoy
from dashboards.grafana import mesh as grafana_mesh
from dashboards.prometheus import promql
from dashboards.prometheus.rules import rule_group
from meshvis.local.cloudwatch_agent import CloudWatchMetric
from meshvis.local.golden_signals import live_signals
from meshvis.local.service_map import edge_queries
from tests.support import community_dashboards

StatKey = tuple[str, str]  # (scope, metric name)
# The budget of CloudWatch metrics per service of the dev stack with the essential profile.
MAX_METRICS_PER_SERVICE = 25
_SELECTOR = re.compile(r"\b(envoy_[a-z0-9_]+)\{([^}]*)\}")
_HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def _scope(metric: str, hcm_prefix: str | None, cluster: str | None) -> str:
    """The scope of a published series, from its name and Envoy's tags."""
    if metric.startswith("envoy_server_"):
        return SERVER
    if metric.startswith("envoy_http_"):
        return _listener_scope(hcm_prefix)
    if metric.startswith("envoy_cluster_") and cluster:
        if cluster == LOCAL_APP_CLUSTER:
            return LOCAL_APP
        return "admin cluster" if cluster == ADMIN_CLUSTER else UPSTREAM
    return "other"


def _listener_scope(hcm_prefix: str | None) -> str:
    """The scope of an HTTP connection manager's stat: the ingress, an egress or another
    listener."""
    if hcm_prefix == INGRESS_PREFIX:
        return INGRESS
    if hcm_prefix and hcm_prefix.startswith(egress_prefix("")):
        return EGRESS
    return f"listener {hcm_prefix}"


def series_stat(labels: Mapping[str, str]) -> StatKey:
    """The stat of one series Prometheus scraped from a sidecar (its labels, ``__name__``)."""
    metric = _HISTOGRAM_SERIES.sub("", labels["__name__"])
    return _scope(
        metric, labels.get("envoy_http_conn_manager_prefix"), labels.get("envoy_cluster_name")
    ), metric


def cloudwatch_stat(metric: CloudWatchMetric) -> StatKey:
    """The stat of one metric the CloudWatch agent would publish."""
    return _scope(metric.name, metric.dimension(HCM_PREFIX), metric.dimension(CLUSTER)), metric.name


def read_stat(read: MetricRead) -> StatKey:
    """The stat a CloudWatch widget or alarm reads."""
    dimensions = dict(read.dimensions)
    if HCM_PREFIX in dimensions:
        assert dimensions[HCM_PREFIX] == INGRESS_PREFIX, read
        return INGRESS, read.name
    assert CLUSTER in dimensions, read
    if dimensions[CLUSTER] == LOCAL_APP_CLUSTER:
        return LOCAL_APP, read.name
    if dimensions[CLUSTER] is not None:
        # One caller's view of one upstream (an alarm on that edge).
        assert dimensions[CLUSTER] not in SIDECAR_CLUSTERS, read
        return UPSTREAM, read.name
    assert {v for _, v in read.exclude} == set(SIDECAR_CLUSTERS), read
    return UPSTREAM, read.name


def promql_stats(expr: str) -> set[StatKey]:
    """Every sidecar stat a PromQL expression selects."""
    found = set()
    for metric, matchers in _SELECTOR.findall(expr):
        metric = _HISTOGRAM_SERIES.sub("", metric)
        if metric.startswith("envoy_server_"):
            scope = SERVER
        elif f'envoy_http_conn_manager_prefix="{INGRESS_PREFIX}"' in matchers:
            scope = INGRESS
        elif f'envoy_http_conn_manager_prefix=~"{egress_prefix("")}.+"' in matchers:
            scope = EGRESS
        elif f'envoy_cluster_name!~"{"|".join(SIDECAR_CLUSTERS)}"' in matchers:
            scope = UPSTREAM
        elif f'envoy_cluster_name="{LOCAL_APP_CLUSTER}"' in matchers:
            scope = LOCAL_APP
        else:
            raise AssertionError(f"no known scope in {metric}{{{matchers}}} of {expr}")
        found.add((scope, metric))
    return found


# The scopes a sidecar of each kind of service has at all: a load generator's has no ingress
# listener and no app cluster.
PRESENT = {
    "app": (INGRESS, EGRESS, LOCAL_APP, UPSTREAM, SERVER),
    "load": (EGRESS, UPSTREAM, SERVER),
}
KINDS = tuple(PRESENT)
ByKind = dict[str, set[StatKey]]


def _on_services(
    stats: set[StatKey], settings: Settings, services: Iterable[str] | None = None
) -> ByKind:
    """``stats`` as read on the sidecars of ``services`` (all when None), by service kind."""
    names = set(services) if services is not None else {s.name for s in settings.services}
    kinds = {settings.service(name).kind for name in names}
    return {
        kind: {stat for stat in stats if stat[0] in PRESENT[kind]} if kind in kinds else set()
        for kind in KINDS
    }


def _merge(*parts: ByKind) -> ByKind:
    return {kind: set().union(*(part[kind] for part in parts)) for kind in KINDS}


def reader_stats(settings: Settings) -> dict[str, ByKind]:
    """What each reader reads on the sidecars of each kind of service, derived from the
    readers. The dashboards, alarms and rules read every sidecar; each live-view column only
    the services it shows; the run summary what a service served (apps) and what a client
    got back end to end (load generators)."""
    mesh = settings.mesh_name
    grafana = [
        *grafana_mesh.panel_queries(settings),
        *grafana_envoy.panel_queries(settings),
        *(rule["expr"] for rule in rule_group(settings)["rules"]),
    ]
    apps = [s.name for s in settings.app_services]
    loads = [s.name for s in settings.services if s.is_load]
    live = [
        _on_services(promql_stats(signal.expr), settings, signal.services)
        for signal in live_signals(settings)
    ]
    summary = [
        _on_services(promql_stats(promql.response_counts(mesh)), settings, apps),
        _on_services(promql_stats(promql.latency_quantile(mesh, 0.5, "60s")), settings, apps),
        _on_services(promql_stats(promql.response_counts(mesh, outbound=True)), settings, loads),
        # The service map's edges, read on every caller's sidecar.
        *(
            _on_services(
                promql_stats(q), settings, [s.name for s in settings.services if s.upstreams]
            )
            for q in edge_queries(settings, "60s").values()
        ),
    ]
    cloudwatch = {
        read_stat(r)
        for r in [*dashboard_reads(settings), *alarm_reads(settings), *slo_alarm_reads(settings)]
    }
    return {
        CLOUDWATCH: _on_services(cloudwatch, settings),
        GRAFANA: _on_services(set().union(*(promql_stats(q) for q in grafana)), settings),
        LIVE_VIEW: _merge(*live, *summary),
        COMMUNITY: _on_services(community_dashboards.kept_reads(), settings),
    }


def keys(stats: Iterable[Stat]) -> set[StatKey]:
    """Listed stats in the form the readers and the published series are compared in."""
    return {(stat.scope, stat.metric) for stat in stats}
