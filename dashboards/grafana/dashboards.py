"""The Grafana dashboards of the mesh, by file name."""

from __future__ import annotations

from components.settings.model import Settings
from dashboards.grafana.envoy import envoy_dashboard
from dashboards.grafana.mesh import mesh_dashboard
from dashboards.grafana.slo import slo_dashboard


def grafana_dashboards(settings: Settings) -> dict[str, dict]:
    """File name -> dashboard JSON of every Grafana dashboard of the mesh."""
    return {
        "mesh-overview.json": mesh_dashboard(settings),
        "envoy-detail.json": envoy_dashboard(settings),
        "slos.json": slo_dashboard(settings),
    }
