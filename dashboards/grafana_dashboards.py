"""Both Grafana dashboards of the mesh, by file name, and as the ConfigMaps Grafana loads."""

from __future__ import annotations

from components.k8s_objects import dashboard_config_map
from components.settings import Settings
from dashboards.grafana_envoy import envoy_dashboard
from dashboards.grafana_mesh import mesh_dashboard


def grafana_dashboards(settings: Settings) -> dict[str, dict]:
    """File name -> dashboard JSON of every Grafana dashboard of the mesh."""
    return {"mesh-overview.json": mesh_dashboard(settings),
            "envoy-detail.json": envoy_dashboard(settings)}


def dashboard_config_maps(settings: Settings) -> list[dict]:
    """One ConfigMap per dashboard, labelled for Grafana's dashboard sidecar."""
    return [dashboard_config_map(f"{settings.mesh_name}-dashboard-{filename.removesuffix('.json')}",
                                 filename, document)
            for filename, document in grafana_dashboards(settings).items()]
