"""What both Grafana dashboards share: the data source variable, the panel style, encoding.

The dashboards are built with grafana-foundation-sdk's builders and handed around as the
JSON-ready dict its encoder produces (what Grafana's dashboard provisioning reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from components.settings.naming import PROJECT

# A data source variable rather than a fixed uid, so the dashboards work with whatever
# Prometheus data source the Grafana they are loaded into calls its own.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
TAGS = [PROJECT, "envoy"]
PANEL_HEIGHT = 8


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and how its series are named in the legend."""

    expr: str
    legend: str


def dashboard(title: str, uid: str, mesh: str, description: str) -> Dashboard:
    """An empty dashboard with the shared settings (tags, refresh, time range, data source)."""
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([*TAGS, mesh])
        .refresh("10s")
        .time("now-30m", "now")
        .readonly()
        .with_variable(
            DatasourceVariable(DATASOURCE_VARIABLE).label("Data source").type("prometheus")
        )
    )


def time_series(
    title: str,
    unit: str,
    queries: list[Query],
    description: str,
    *,
    width: int = 12,
    max_value: float | None = None,
) -> TimeSeries:
    """A time series panel of ``queries`` with the shared style."""
    panel = (
        TimeSeries()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(width)
        .height(PANEL_HEIGHT)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if max_value is not None:
        panel = panel.max(max_value)
    for index, query in enumerate(queries):
        panel = panel.with_target(
            Dataquery()
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
            .expr(query.expr)
            .legend_format(query.legend)
        )
    return panel


def encode(builder: Dashboard) -> dict:
    """The dashboard as the JSON-ready dict Grafana provisions."""
    model = builder.build()
    # Unique panel ids (the builders leave them unset, rows at 0) keep panel links and
    # "view panel" URLs stable across reloads.
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.loads(JSONEncoder(sort_keys=True).encode(model))


def dashboard_queries(document: dict) -> list[str]:
    """Every PromQL expression of every panel of an encoded dashboard, in panel order."""
    return [
        target["expr"]
        for panel in document.get("panels", [])
        for target in panel.get("targets", [])
        if "expr" in target
    ]
