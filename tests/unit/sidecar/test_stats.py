"""The essential stats lists are exactly what the readers of each topology read.

Both ways: every stat a CloudWatch widget or alarm, a Grafana panel, an alert rule or the
local live view reads is kept on its topology, and every kept stat is read by one of them.
What is read is derived from the readers themselves (tests/support/stat_scopes.py). That a real
Envoy with these lists emits exactly these stats, and every reader gets data, is proven by
tests/local/test_local_profiles.py and tests/local/test_telemetry_real_envoy.py.
"""

from __future__ import annotations

import re

import pytest

from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.stats import (
    CLOUDWATCH,
    COMMUNITY,
    GRAFANA,
    INGRESS,
    LIVE_VIEW,
    READERS,
    READS,
    UPSTREAM,
    Stat,
    cloudwatch_dropped_metrics,
    essential_stats,
    essential_stats_matcher,
)
from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_reads
from dashboards.cloudwatch.dashboard import dashboard_reads
from dashboards.cloudwatch.metrics import PER_UPSTREAM_DIMENSIONS, cloudwatch_name
from dashboards.cloudwatch.slo import slo_alarm_reads
from tests.support.shop_graphs import shop_config, shop_eks_config
from tests.support.stat_scopes import KINDS, keys, reader_stats

STACKS = {
    "dev": stack_settings("dev"),
    "dev-eks": stack_settings("dev-eks"),
    "shop": settings_from_config(shop_config()),
    "shop-eks": settings_from_config(shop_eks_config()),
}


@pytest.mark.parametrize("stack", sorted(STACKS))
@pytest.mark.parametrize("reader", [CLOUDWATCH, GRAFANA, COMMUNITY, LIVE_VIEW])
def test_each_reader_reads_exactly_its_listed_stats(stack, reader):
    read = set().union(*reader_stats(STACKS[stack])[reader].values())
    listed = keys(READS[reader])
    assert read - listed == set(), f"read by {reader} but not listed"
    assert listed - read == set(), f"listed for {reader} but not read"


@pytest.mark.parametrize("stack", sorted(STACKS))
@pytest.mark.parametrize("kind", KINDS)
def test_essential_keeps_what_the_topologys_readers_read_and_nothing_else(stack, kind):
    """On each kind of sidecar: what a reader of the topology reads there, nothing more."""
    settings = STACKS[stack]
    read = reader_stats(settings)
    needed = set().union(*(read[reader][kind] for reader in READERS[settings.topology]))
    assert keys(essential_stats(settings.topology, kind)) == needed
    assert essential_stats(settings.topology) == essential_stats(
        settings.topology, "app"
    ) | essential_stats(settings.topology, "load")


def test_topologies_keep_different_stats():
    """The point of the split: eks keeps no CloudWatch-only stat and ecs no Grafana-only one
    (eks's Grafana: ours and the community dashboards)."""
    ecs, eks = essential_stats("ecs"), essential_stats("eks")
    grafana = READS[GRAFANA] | READS[COMMUNITY]
    assert READS[CLOUDWATCH] - grafana - READS[LIVE_VIEW] <= ecs - eks
    assert grafana - READS[CLOUDWATCH] - READS[LIVE_VIEW] <= eks - ecs
    assert ecs & eks == READS[LIVE_VIEW] | (READS[CLOUDWATCH] & grafana)


def test_metric_names_are_what_the_cloudwatch_agent_publishes():
    for stat in READS[CLOUDWATCH]:
        family = "http" if stat.name.startswith("downstream") else "cluster"
        assert stat.metric == cloudwatch_name(f"{family}.{stat.name}")


def _kept(matcher: dict, name: str) -> bool:
    return any(
        re.fullmatch(p["safe_regex"]["regex"], name) for p in matcher["inclusion_list"]["patterns"]
    )


def test_matcher_scopes_each_stat_to_where_it_is_read():
    """RE2 accepts these (envoy --mode validate, tests/consumers/sidecar/test_bootstrap.py); the
    scoping: a stat is kept in the listener or cluster it is read in, not elsewhere."""
    ecs, eks = essential_stats_matcher("ecs", "app"), essential_stats_matcher("eks", "app")
    ecs_load = essential_stats_matcher("ecs", "load")
    assert _kept(ecs, "cluster.greeting.upstream_rq_time")
    assert _kept(eks, "cluster.greeting.upstream_rq_time")
    assert not _kept(ecs, "cluster.local_app.upstream_rq_time")
    assert not _kept(ecs, "cluster.local_app.membership_healthy")
    assert not _kept(ecs, "cluster.envoy_admin.upstream_rq_time")
    assert _kept(ecs, "http.ingress.downstream_cx_active")
    assert not _kept(ecs, "http.ingress.downstream_cx_http1_active")
    assert not _kept(ecs, "http.egress_name.downstream_rq_total")
    assert not _kept(ecs, "http.metrics.downstream_rq_total")
    assert _kept(ecs_load, "http.egress_greeting-v2.downstream_rq_5xx")
    assert not _kept(ecs_load, "http.egress_greeting.downstream_cx_http1_active")
    assert not _kept(ecs, "server.live")
    assert _kept(eks, "server.live") and _kept(eks, "cluster.name.upstream_rq_5xx")
    assert not _kept(eks, "cluster.name.upstream_rq_503")
    assert not _kept(eks, "cluster.name.external.upstream_rq_5xx")
    assert not _kept(eks, "cluster.name.retry.upstream_rq_5xx")
    assert _kept(eks, "cluster.name.outlier_detection.ejections_active")
    assert not _kept(eks, "cluster.name.outlier_detection_ejections_active")


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_bootstrap_carries_its_topologys_matcher(stack):
    settings = STACKS[stack]
    essential = settings.model_copy(update={"stats_profile": "essential"})
    for service in settings.services:
        stats_config = envoy_bootstrap(essential, service)["stats_config"]
        assert stats_config["stats_matcher"] == essential_stats_matcher(
            settings.topology, service.kind
        )


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_metrics_the_agent_drops_are_read_by_no_cloudwatch_reader(stack):
    """The agent drops by name (components/ecs/agent.py): no widget, alarm or SLO alarm may
    read a dropped name as a sidecar sent it (with a ``service`` dimension), only the agent's
    per-upstream aggregate of it; each dropped name is kept for some reader."""
    settings = STACKS[stack]
    dropped = set(cloudwatch_dropped_metrics())
    reads = [*dashboard_reads(settings), *alarm_reads(settings), *slo_alarm_reads(settings)]
    for read in reads:
        if read.name in dropped:
            assert {key for key, _ in read.dimensions} == set(PER_UPSTREAM_DIMENSIONS), read
    assert dropped <= {stat.metric for stat in essential_stats("ecs")}
    # What no CloudWatch reader reads at all: the live view's, and the requests counter.
    unread = dropped - {read.name for read in reads}
    assert {"envoy_cluster_upstream_rq_xx", "envoy_http_downstream_rq_total"} <= unread


def test_cloudwatch_reads_no_stat_that_grows_with_a_callers_upstreams():
    """Every upstream stat CloudWatch reads, it reads per upstream (the agent's aggregate), so
    a service's metrics do not grow with its upstreams; the sidecar-to-app time is not read."""
    for stat in READS[CLOUDWATCH]:
        assert stat.scope in (INGRESS, UPSTREAM), stat
        if stat.scope == UPSTREAM:
            assert stat.metric in cloudwatch_dropped_metrics()


def test_stat_metric_name():
    assert (
        Stat("upstream", "outlier_detection.ejections_active").metric
        == "envoy_cluster_outlier_detection_ejections_active"
    )
    assert Stat("server", "live").metric == "envoy_server_live"
    assert Stat("egress", "downstream_rq_xx").regex == "downstream_rq_[1-5]xx"
