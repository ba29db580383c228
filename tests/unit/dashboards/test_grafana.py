"""The Grafana dashboards: they decode with grafana-foundation-sdk and read only stats the
essential profile keeps (every panel query is valid PromQL: tests/consumers/dashboards/
test_grafana.py).

That the queries return data from real Envoys is proven by tests/local/test_local_profiles.py,
which runs every ``panel_queries`` of both modules against a real Prometheus scraping the
local mesh of the dev-eks stack and of the dev stack switched to eks.
"""

from __future__ import annotations

import json
import re

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

from components.eks.monitoring import DASHBOARD_LABEL, dashboard_config_maps, monitoring_values
from components.settings.validate import settings_from_config
from components.sidecar.stats import essential_stats
from components.stack import stack_settings
from dashboards.grafana import envoy as grafana_envoy
from dashboards.grafana import mesh as grafana_mesh
from dashboards.grafana import slo as grafana_slo
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.grafana.panels import DATASOURCE_VARIABLE
from tests.support.shop_graphs import shop_eks_config

SETTINGS = {"dev-eks": stack_settings("dev-eks"), "shop": settings_from_config(shop_eks_config())}
MODULES = {
    "mesh": (grafana_mesh, grafana_mesh.mesh_dashboard),
    "envoy": (grafana_envoy, grafana_envoy.envoy_dashboard),
    "slo": (grafana_slo, grafana_slo.slo_dashboard),
}
# Prometheus names of the stats the eks inclusion list keeps (tag-extracted, as the
# sidecar's /stats/prometheus names them); tests/unit/sidecar/test_stats.py checks the scopes too.
ESSENTIAL_METRICS = {stat.metric for stat in essential_stats("eks")}


@pytest.fixture(params=sorted(SETTINGS))
def settings(request):
    return SETTINGS[request.param]


@pytest.fixture(params=sorted(MODULES))
def dashboard_module(request):
    return MODULES[request.param]


def test_dashboards_round_trip_through_the_sdk_decoder(settings, dashboard_module):
    register_default_plugins()
    _, build = dashboard_module
    document = build(settings)
    decoded = Dashboard.from_json(document)
    assert json.loads(JSONEncoder(sort_keys=True).encode(decoded)) == document
    panels = [p for p in decoded.panels if not isinstance(p, RowPanel)]
    assert panels and all(isinstance(p, Panel) for p in panels)
    for panel in panels:
        assert panel.targets, panel.title
        # Decoded as Prometheus queries, not as the SDK's "unknown data query" bag.
        assert all(isinstance(t, prometheus.Dataquery) for t in panel.targets), panel.title


def test_dashboard_structure(settings, dashboard_module):
    _, build = dashboard_module
    document = build(settings)
    assert 8 <= len(document["uid"]) <= 40
    assert settings.mesh_name in document["title"] and settings.mesh_name in document["tags"]
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids))
    [variable] = document["templating"]["list"]
    assert variable == {
        **variable,
        "name": DATASOURCE_VARIABLE,
        "type": "datasource",
        "query": "prometheus",
    }
    for panel in (p for p in document["panels"] if p["type"] != "row"):
        assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["description"] and panel["fieldConfig"]["defaults"]["unit"]
        assert all(t["legendFormat"] for t in panel["targets"])


def test_panel_queries_are_the_dashboards_queries(settings, dashboard_module):
    module, build = dashboard_module
    document = build(settings)
    queries = module.panel_queries(settings)
    assert queries == [t["expr"] for p in document["panels"] for t in p.get("targets", [])]
    assert len(queries) == len(set(queries))
    assert all(f'mesh="{settings.mesh_name}"' in q for q in queries)


def test_panels_read_only_stats_the_essential_profile_keeps(settings):
    queries = grafana_mesh.panel_queries(settings) + grafana_envoy.panel_queries(settings)
    # Metric names are the identifiers that open a selector (labels and values never do).
    metrics = {
        re.sub(r"_(bucket|sum|count)$", "", m)
        for q in queries
        for m in re.findall(r"\b(envoy_[a-z0-9_]+)\{", q)
    }
    assert all(re.search(r"\benvoy_[a-z0-9_]+\{", q) for q in queries)
    assert len(metrics) >= 15 and metrics <= ESSENTIAL_METRICS, metrics - ESSENTIAL_METRICS


def test_dashboards_ship_as_config_maps_grafana_provisions(settings):
    sidecar = monitoring_values(settings)["grafana"]["sidecar"]["dashboards"]
    config_maps = dashboard_config_maps(settings)
    documents = grafana_dashboards(settings)
    assert len(config_maps) == len(documents) == len(MODULES)
    for config_map in config_maps:
        labels = config_map["metadata"]["labels"]
        assert labels[sidecar["label"]] == sidecar["labelValue"] == "1"
        assert sidecar["label"] == DASHBOARD_LABEL
        [(filename, text)] = config_map["data"].items()
        assert json.loads(text) == documents[filename]
