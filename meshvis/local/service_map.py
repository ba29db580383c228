"""The service map of a local run: every caller → upstream edge with its rate, 5xx share and
p50/p99, from the callers' own sidecar stats in Prometheus (the PromQL the Grafana mesh
dashboard uses), so it exists with tracing off too. Written as JSON (the summary's
``service_map``), a mermaid block and a PNG laid out by Graphviz's ``dot``: callers above the
services they call, every edge routed around the boxes that are not its ends, every label
beside its own edge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import graphviz

from components.settings.model import Settings
from dashboards.prometheus import promql

Series = list[tuple[dict[str, str], float]]
QuerySeries = Callable[[str], Series]
# The edge columns: summary key -> PromQL by (service, envoy_cluster_name).
EDGE_COLUMNS: dict[str, Callable[[str, str], str]] = {
    "rate_per_s": lambda mesh, window: promql.edge_request_rate(mesh, window),
    "error_ratio": lambda mesh, window: promql.edge_error_ratio(mesh, window),
    "p50_ms": lambda mesh, window: promql.edge_latency_quantile(mesh, 0.5, window),
    "p99_ms": lambda mesh, window: promql.edge_latency_quantile(mesh, 0.99, window),
}


def configured_edges(settings: Settings) -> list[tuple[str, str]]:
    """The upstream graph of the stack: (caller, upstream), in configuration order."""
    return [(s.name, u) for s in settings.services for u in s.upstreams]


def edge_queries(settings: Settings, window: str) -> dict[str, str]:
    """Each edge column's PromQL over ``window``."""
    return {key: query(settings.mesh_name, window) for key, query in EDGE_COLUMNS.items()}


def service_map(
    settings: Settings, query_series: QuerySeries, window: str, nodes: dict[str, float | None]
) -> dict:
    """``{"nodes": [...], "edges": [...], "window", "error_alarm_percent"}``: every service with
    ``nodes``' rate (requests/s it served, or sent for a load generator) and every configured
    edge with the columns Prometheus has for it (None: no calls in ``window``)."""
    edges: dict[tuple[str, str], dict] = {
        edge: {"source": edge[0], "target": edge[1], **dict.fromkeys(EDGE_COLUMNS)}
        for edge in configured_edges(settings)
    }
    for key, expr in edge_queries(settings, window).items():
        for labels, value in query_series(expr):
            edge = (labels.get("service", ""), labels.get("envoy_cluster_name", ""))
            row = edges.setdefault(
                edge, {"source": edge[0], "target": edge[1], **dict.fromkeys(EDGE_COLUMNS)}
            )
            row[key] = None if math.isnan(value) else round(value, 4)  # NaN: no calls
    return {
        "window": window,
        "error_alarm_percent": settings.error_rate_alarm_percent,
        "nodes": [
            {"id": s.name, "kind": s.kind, "rate_per_s": nodes.get(s.name)}
            for s in settings.services
        ],
        "edges": [edges[key] for key in sorted(edges)],
    }


def _fmt(value: float | None, unit: str, scale: float = 1.0) -> str:
    """``2 req/s``; ``— req/s`` without samples (never a made-up 0 or 100 %)."""
    if value is None:
        return f"— {unit}"
    value *= scale
    return f"{value:.0f} {unit}" if abs(value) >= 100 else f"{value:.3g} {unit}"


def edge_label(edge: dict) -> str:
    """``2.0 req/s, 0 % 5xx, p99 12.3 ms``."""
    return (
        f"{_fmt(edge.get('rate_per_s'), 'req/s')}, "
        f"{_fmt(edge.get('error_ratio'), '% 5xx', 100)}, p99 {_fmt(edge.get('p99_ms'), 'ms')}"
    )


def edge_lines(graph: dict) -> list[str]:
    """``service map: caller -> upstream  2.0 req/s, 0 % 5xx, p99 12.3 ms`` per edge."""
    return [f"service map: {e['source']} -> {e['target']}  {edge_label(e)}" for e in graph["edges"]]


# Node fill by health state; a load generator (a client, no health of its own) in blue.
HEALTH_FILL = {"ok": "#d5f5e3", "degraded": "#fcf3cf", "down": "#f5b7b1"}
HEALTH_LINE = {"ok": "#1e8449", "degraded": "#b7950b", "down": "#c0392b"}
CLIENT_FILL = "#eaf2f8"


def mermaid(graph: dict) -> str:
    """The map as a mermaid flowchart (for a README or an issue), nodes styled by health."""
    ids = {node["id"]: f"n{i}" for i, node in enumerate(graph["nodes"])}
    lines = ["flowchart TB"]
    for node in graph["nodes"]:
        shape = f"(({node['id']}))" if node["kind"] == "load" else f"[{node['id']}]"
        lines.append(f"  {ids[node['id']]}{shape}")
    for edge in graph["edges"]:
        if edge["source"] in ids and edge["target"] in ids:
            lines.append(f'  {ids[edge["source"]]} -->|"{edge_label(edge)}"| {ids[edge["target"]]}')
    for state, fill in HEALTH_FILL.items():
        members = [ids[n["id"]] for n in graph["nodes"] if n.get("health") == state]
        if members:
            lines.append(f"  classDef {state} fill:{fill},stroke:{HEALTH_LINE[state]}")
            lines.append(f"  class {','.join(members)} {state}")
    return "\n".join(lines)


def _edge_color(edge: dict, limit: float) -> str:
    ratio = edge.get("error_ratio")
    if ratio is None:
        return "#95a5a6"  # no calls in the window
    return "#c0392b" if ratio * 100 >= limit else "#e67e22" if ratio > 0 else "#34495e"


def _window_text(window: str) -> str:
    return f"last {window[:-1]} s" if window.endswith("s") else f"last {window}"


def diagram(graph: dict, title: str) -> graphviz.Digraph:
    """The map as a Graphviz graph laid out top to bottom (callers above upstreams)."""
    limit = graph.get("error_alarm_percent", 5.0)
    dot = graphviz.Digraph("service_map")
    dot.attr(
        rankdir="TB",
        label=f"{title}: {_window_text(graph.get('window', ''))}\n"
        "nodes: green ok, yellow degraded, red down, blue a load generator\n"
        f"edges: red >= {limit:g} % 5xx, orange some 5xx, grey dashed no calls",
        labelloc="t",
        fontname="DejaVu Sans",
        fontsize="13",
        nodesep="0.5",
        ranksep="0.7",
        pad="0.3",
        dpi="110",
    )
    dot.attr("node", fontname="DejaVu Sans", fontsize="11", style="rounded,filled", penwidth="1.5")
    dot.attr("edge", fontname="DejaVu Sans", fontsize="9")
    for node in graph["nodes"]:
        state = node.get("health")
        lines = [node["id"], _fmt(node.get("rate_per_s"), "req/s")]
        if state:
            cause = " (the cause)" if node.get("cause") else ""
            lines.append(f"{state.upper() if state == 'down' else state}{cause}")
        dot.node(
            node["id"],
            "\n".join(lines),
            shape="ellipse" if node["kind"] == "load" else "box",
            fillcolor=HEALTH_FILL.get(state, CLIENT_FILL),
            color=HEALTH_LINE.get(state, "#2c3e50"),
            penwidth="3" if node.get("cause") else "1.5",
        )
    for edge in graph["edges"]:
        color = _edge_color(edge, limit)
        dot.edge(
            edge["source"],
            edge["target"],
            label=edge_label(edge).replace(", p99", "\np99"),
            color=color,
            fontcolor=color,
            penwidth="2.5" if color == "#c0392b" else "1.4",
            style="dashed" if edge.get("error_ratio") is None else "solid",
        )
    return dot


def _bezier(points: list[tuple[float, float]], steps: int = 12) -> list[tuple[float, float]]:
    """Graphviz's spline (``p0 (c1 c2 p)...``, cubic Bézier pieces) as a polyline."""
    line = [points[0]]
    for i in range(1, len(points) - 2, 3):
        p0, c1, c2, p1 = points[i - 1], points[i], points[i + 1], points[i + 2]
        for k in range(1, steps + 1):
            t = k / steps
            x, y = (
                (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * d
                for a, b, c, d in zip(p0, c1, c2, p1, strict=True)
            )
            line.append((x, y))
    return line


def _point(text: str) -> tuple[float, float]:
    x, y = text.split(",")[-2:]
    return float(x), float(y)


def layout(graph: dict, title: str = "") -> dict:
    """Where ``dot`` puts everything, in points (y grows upwards): ``nodes`` id -> (x, y,
    width, height) of its box, ``edges`` (caller, upstream) -> ``{"path": [(x, y), ...],
    "label": (x, y)}``, the drawn path including the arrowhead."""
    laid = json.loads(diagram(graph, title).pipe(format="json"))
    names = {o["_gvid"]: o["name"] for o in laid.get("objects", [])}
    nodes = {
        o["name"]: (*_point(o["pos"]), float(o["width"]) * 72, float(o["height"]) * 72)
        for o in laid.get("objects", [])
    }
    edges = {}
    for edge in laid.get("edges", []):
        parts = edge["pos"].split()
        end = next((_point(p) for p in parts if p.startswith("e,")), None)
        path = _bezier([_point(p) for p in parts if not p.startswith(("e,", "s,"))])
        edges[(names[edge["tail"]], names[edge["head"]])] = {
            "path": path + ([end] if end else []),
            "label": _point(edge["lp"]) if "lp" in edge else None,
        }
    return {"nodes": nodes, "edges": edges}


def render_png(graph: dict, title: str, path: Path) -> None:
    """The map as a picture (``dot``'s layout and drawing); the title says the window."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(diagram(graph, title).pipe(format="png"))
