"""The service map on the Grafana mesh dashboard: a node graph of every caller → upstream edge,
from the callers' own sidecar stats (so it is there without tracing, and on every topology).

Grafana's node graph takes the frames whose ``refId`` is ``nodes`` and ``edges``
(``getNodeGraphDataFrames`` in grafana/grafana public/app/plugins/panel/nodeGraph/utils.ts)
and reads their fields ``id``, ``title``, ``source``, ``target`` and ``mainstat``: the PromQL
puts the first four in as labels (dashboards/prometheus/promql.py ``node_graph_*``), and the
panel's ``organize`` transformation names each instant value ``mainstat``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.nodegraph import EdgeOptions, NodeOptions
from grafana_foundation_sdk.builders.nodegraph import Panel as NodeGraph
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards.grafana.panels import DATASOURCE
from dashboards.prometheus import promql

NODES, EDGES = "nodes", "edges"
MAINSTAT = "mainstat"
HEIGHT = 12


def node_graph(mesh: str) -> NodeGraph:
    """The node graph panel: services as nodes (requests/s), calls as edges (requests/s)."""

    def query(ref: str, expr: str) -> Dataquery:
        return (
            Dataquery()
            .ref_id(ref)
            .datasource(DATASOURCE)
            .expr(expr)
            .instant()
            .format(PromQueryFormat.TABLE)
            .legend_format(ref)
        )

    return (
        NodeGraph()
        .title("Service map")
        .description(
            "Each service, and each call from a caller to an upstream, with its "
            "requests per second, measured by the caller's sidecar (no tracing "
            "needed)."
        )
        .datasource(DATASOURCE)
        .unit("reqps")
        .span(24)
        .height(HEIGHT)
        .nodes(NodeOptions().main_stat_unit("reqps"))
        .edges(EdgeOptions().main_stat_unit("reqps"))
        .with_target(query(NODES, promql.node_graph_nodes(mesh)))
        .with_target(query(EDGES, promql.node_graph_edges(mesh)))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    # Several table queries name their values "Value #<refId>".
                    "renameByName": {f"Value #{NODES}": MAINSTAT, f"Value #{EDGES}": MAINSTAT}
                },
            )
        )
    )
