"""Issue 20 item 3: the sidecar's own clusters (its app, admin interface, trace collector) are
never shown as upstreams. Every bootstrap's clusters are its upstreams plus clusters of the one
shared definition (components/sidecar/names.py ``SIDECAR_CLUSTERS``), and every CloudWatch
widget and every PromQL expression that reads per-cluster stats over "any cluster" leaves out
exactly the bootstrap's non-upstream clusters, with ``statsProfile: full`` and tracing on
(where Envoy emits stats for every cluster).
"""

from __future__ import annotations

import json
import re

import pytest

from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import SIDECAR_CLUSTERS
from components.stack import stack_settings
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.rules import rule_group
from tests.support.shop_graphs import shop_config, shop_eks_config

FULL = {"mesh-visibility:statsProfile": "full", "mesh-visibility:tracing": True}
SETTINGS = {
    "dev": stack_settings("dev").model_copy(update={"stats_profile": "full", "tracing": True}),
    "dev-eks": stack_settings("dev-eks").model_copy(
        update={"stats_profile": "full", "tracing": True}
    ),
    "shop": settings_from_config({**shop_config(), **FULL}),
    "shop-eks": settings_from_config({**shop_eks_config(), **FULL}),
}
CW_CLUSTER = "envoy.cluster_name"
# A label matcher on the cluster name inside a PromQL selector.
PROM_MATCHER = re.compile(r'envoy_cluster_name\s*(=~|!~|!=|=)\s*"([^"]*)"')


def _clusters(settings) -> tuple[set[str], set[str]]:
    """(upstream clusters, the sidecar's own clusters) over every service's bootstrap."""
    upstreams: set[str] = set()
    own: set[str] = set()
    for service in settings.services:
        for cluster in envoy_bootstrap(settings, service)["static_resources"]["clusters"]:
            (upstreams if cluster["name"] in service.upstreams else own).add(cluster["name"])
    return upstreams, own


@pytest.mark.parametrize("stack", sorted(SETTINGS))
def test_every_non_upstream_cluster_is_in_the_shared_definition(stack):
    upstreams, own = _clusters(SETTINGS[stack])
    assert own and own <= set(SIDECAR_CLUSTERS)
    # A service name is a DNS label: no upstream can ever carry one of these names.
    assert all("_" in name for name in SIDECAR_CLUSTERS) and not upstreams & own


def _kept(op: str, pattern: str, name: str) -> bool:
    """Whether a PromQL label matcher keeps ``name`` (regexes are fully anchored)."""
    return {
        "=": name == pattern,
        "!=": name != pattern,
        "=~": re.fullmatch(pattern, name) is not None,
        "!~": re.fullmatch(pattern, name) is None,
    }[op]


def _promql(settings) -> list[str]:
    exprs = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "expression") and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(grafana_dashboards(settings))
    walk(rule_group(settings))
    return exprs


@pytest.mark.parametrize("stack", ["dev-eks", "shop-eks"])
def test_promql_over_upstream_clusters_leaves_out_exactly_the_sidecars_own(stack):
    settings = SETTINGS[stack]
    upstreams, own = _clusters(settings)
    checked = 0
    for expr in _promql(settings):
        for selector in re.findall(r"envoy_cluster_\w+\{([^}]*)\}", expr):
            matchers = PROM_MATCHER.findall(selector)
            if not matchers or any(op == "=" for op, _ in matchers):
                continue  # one named cluster (the app's own), not "every upstream"
            checked += 1
            for name in upstreams | own:
                kept = all(_kept(op, pattern, name) for op, pattern in matchers)
                assert kept == (name in upstreams), (name, expr)
    assert checked


@pytest.mark.parametrize("stack", ["dev", "shop"])
def test_cloudwatch_searches_over_clusters_leave_out_exactly_the_sidecars_own(stack):
    settings = SETTINGS[stack]
    upstreams, own = _clusters(settings)
    text = json.dumps(dashboard_body(settings, "app/x/1", "targetgroup/x/1"))
    searches = [s for s in re.findall(r"SEARCH\('((?:[^'\\]|\\.)*)'", text) if CW_CLUSTER in s]
    assert searches
    for search in searches:
        search = search.replace('\\"', '"')
        pinned = re.search(rf'(?<!NOT ){re.escape(CW_CLUSTER)}="([^"]+)"', search)
        if pinned:
            continue  # one named cluster (the app's own)
        excluded = set(re.findall(rf'NOT {re.escape(CW_CLUSTER)}="([^"]+)"', search))
        assert own <= excluded and not excluded & upstreams, search
