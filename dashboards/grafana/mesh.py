"""The Grafana mesh overview: the golden signals of every service, from its sidecar.

Every number comes from ``dashboards.prometheus.promql``, the same expressions the alert rules
and the local mesh's live view use.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row

from components.settings.model import Settings
from dashboards.grafana.panels import Query, dashboard, dashboard_queries, encode, time_series
from dashboards.grafana.service_map import node_graph
from dashboards.prometheus import promql

BY_SERVICE = "{{service}}"
BY_EDGE = "{{service}} → {{envoy_cluster_name}}"
QUANTILES = (0.5, 0.9, 0.99)


def mesh_dashboard_uid(settings: Settings) -> str:
    return f"{settings.mesh_name}-mesh"


def mesh_dashboard(settings: Settings) -> dict:
    """The mesh overview dashboard as the JSON-ready dict Grafana provisions."""
    mesh = settings.mesh_name
    builder = (
        dashboard(
            f"Mesh overview: {mesh}",
            mesh_dashboard_uid(settings),
            mesh,
            "Request rate, success rate, latency and connections of every service, "
            "measured by its Envoy sidecar's ingress listener.",
        )
        .with_row(Row("Service map"))
        .with_panel(node_graph(mesh))
        .with_panel(
            time_series(
                "Calls per edge",
                "reqps",
                [Query(promql.edge_request_rate(mesh), BY_EDGE)],
                "Responses per second each caller gets from each upstream (its sidecar's "
                "upstream cluster).",
                width=8,
            )
        )
        .with_panel(
            time_series(
                "5xx share per edge",
                "percentunit",
                [Query(promql.edge_error_ratio(mesh), BY_EDGE)],
                "Share of each caller's responses from each upstream that were 5xx.",
                width=8,
                max_value=1,
            )
        )
        .with_panel(
            time_series(
                "p99 per edge",
                "ms",
                [Query(promql.edge_latency_quantile(mesh, 0.99), BY_EDGE)],
                "p99 of each upstream's response time as each caller sees it.",
                width=8,
            )
        )
        .with_row(Row("Traffic"))
        .with_panel(
            time_series(
                "Request rate",
                "reqps",
                [Query(promql.request_rate(mesh), BY_SERVICE)],
                "Requests per second each service serves.",
            )
        )
        .with_panel(
            time_series(
                "Success rate",
                "percentunit",
                [Query(promql.success_ratio(mesh), BY_SERVICE)],
                "Share of each service's requests answered without a 5xx.",
                max_value=1,
            )
        )
        .with_row(Row("Latency"))
    )
    for quantile in QUANTILES:
        label = f"p{round(quantile * 100)}"
        builder = builder.with_panel(
            time_series(
                f"Latency {label}",
                "ms",
                [Query(promql.latency_quantile(mesh, quantile), BY_SERVICE)],
                f"{label} of the time each service takes to answer, as its sidecar sees it.",
                width=8,
            )
        )
    return encode(
        builder.with_row(Row("Connections and calls"))
        .with_panel(
            time_series(
                "Active connections",
                "short",
                [Query(promql.active_connections(mesh), BY_SERVICE)],
                "Open downstream connections on each service's ingress listener.",
                width=8,
            )
        )
        .with_panel(
            time_series(
                "Requests to upstreams",
                "reqps",
                [Query(promql.upstream_request_rate(mesh), BY_SERVICE)],
                "Requests per second each service (load generators too) sends to its upstreams.",
                width=8,
            )
        )
        .with_panel(
            time_series(
                "Healthy upstream hosts",
                "short",
                [Query(promql.healthy_upstream_hosts(mesh), BY_SERVICE)],
                "Healthy hosts across the upstream clusters of each service's sidecars.",
                width=8,
            )
        )
    )


def panel_queries(settings: Settings) -> list[str]:
    """Every PromQL expression of the mesh overview, in panel order."""
    return dashboard_queries(mesh_dashboard(settings))
