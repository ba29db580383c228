"""The service map of a local run: every caller → upstream edge with its rate, 5xx share and
p50/p99, from the callers' own sidecar stats in Prometheus (the PromQL the Grafana mesh
dashboard uses), so it exists with tracing off too. Written as JSON (the summary's
``service_map``), a mermaid block and a PNG.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    """``{"nodes": [...], "edges": [...]}``: every service with ``nodes``' rate (requests/s it
    served, or sent for a load generator) and every edge Prometheus has, with its columns."""
    edges: dict[tuple[str, str], dict] = {}
    for key, expr in edge_queries(settings, window).items():
        for labels, value in query_series(expr):
            edge = (labels.get("service", ""), labels.get("envoy_cluster_name", ""))
            row = edges.setdefault(edge, {"source": edge[0], "target": edge[1]})
            row[key] = None if value != value else round(value, 4)  # NaN: no calls
    return {
        "nodes": [
            {"id": s.name, "kind": s.kind, "rate_per_s": nodes.get(s.name)}
            for s in settings.services
        ],
        "edges": [edges[key] for key in sorted(edges)],
    }


def _fmt(value: float | None, unit: str, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.3g} {unit}"


def edge_label(edge: dict) -> str:
    """``2.0 req/s, 0 % 5xx, p99 12.3 ms``."""
    return (
        f"{_fmt(edge.get('rate_per_s'), 'req/s')}, "
        f"{_fmt(edge.get('error_ratio'), '% 5xx', 100)}, p99 {_fmt(edge.get('p99_ms'), 'ms')}"
    )


def edge_lines(graph: dict) -> list[str]:
    """``service map: caller -> upstream  2.0 req/s, 0 % 5xx, p99 12.3 ms`` per edge."""
    return [f"service map: {e['source']} -> {e['target']}  {edge_label(e)}" for e in graph["edges"]]


def mermaid(graph: dict) -> str:
    """The map as a mermaid flowchart (for a README or an issue)."""
    ids = {node["id"]: f"n{i}" for i, node in enumerate(graph["nodes"])}
    lines = ["flowchart LR"]
    for node in graph["nodes"]:
        shape = f"(({node['id']}))" if node["kind"] == "load" else f"[{node['id']}]"
        lines.append(f"  {ids[node['id']]}{shape}")
    for edge in graph["edges"]:
        if edge["source"] in ids and edge["target"] in ids:
            lines.append(f'  {ids[edge["source"]]} -->|"{edge_label(edge)}"| {ids[edge["target"]]}')
    return "\n".join(lines)


def _layers(graph: dict) -> dict[str, int]:
    """Each node's column: callers left of the services they call (longest path)."""
    layer = {node["id"]: 0 for node in graph["nodes"]}
    for _ in graph["nodes"]:
        for edge in graph["edges"]:
            if edge["source"] in layer and edge["target"] in layer:
                layer[edge["target"]] = max(layer[edge["target"]], layer[edge["source"]] + 1)
    return layer


def render_png(graph: dict, title: str, path: Path) -> None:
    """The map as a picture: services left to right in call order, each edge labelled."""
    import matplotlib  # the dev requirements' matplotlib; only a run that draws needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layer = _layers(graph)
    columns: dict[int, list[str]] = {}
    for node in graph["nodes"]:
        columns.setdefault(layer[node["id"]], []).append(node["id"])
    position = {
        name: (col * 4.0, -row * 2.2 + (len(names) - 1) * 1.1)
        for col, names in columns.items()
        for row, name in enumerate(names)
    }
    kinds = {node["id"]: node for node in graph["nodes"]}
    fig, ax = plt.subplots(
        figsize=(3.2 * (len(columns) + 1), 1.8 * max(map(len, columns.values())) + 2)
    )
    for edge in graph["edges"]:
        if edge["source"] not in position or edge["target"] not in position:
            continue
        (x1, y1), (x2, y2) = position[edge["source"]], position[edge["target"]]
        failing = (edge.get("error_ratio") or 0) > 0
        ax.annotate(
            "",
            xy=(x2 - 0.9, y2),
            xytext=(x1 + 0.9, y1),
            arrowprops={
                "arrowstyle": "-|>",
                "lw": 1.6,
                "color": "#c0392b" if failing else "#34495e",
            },
        )
        ax.text(
            (x1 + x2) / 2,
            (y1 + y2) / 2 + 0.25,
            edge_label(edge),
            ha="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb"},
        )
    for name, (x, y) in position.items():
        node = kinds[name]
        rate = node.get("rate_per_s")
        ax.text(
            x,
            y,
            f"{name}\n{_fmt(rate, 'req/s')}",
            ha="center",
            va="center",
            fontsize=10,
            bbox={
                "boxstyle": "circle" if node["kind"] == "load" else "round,pad=0.6",
                "fc": "#eaf2f8" if node["kind"] == "load" else "#d5f5e3",
                "ec": "#2c3e50",
            },
        )
    xs = [x for x, _ in position.values()]
    ys = [y for _, y in position.values()]
    ax.set_xlim(min(xs) - 1.6, max(xs) + 1.6)
    ax.set_ylim(min(ys) - 1.4, max(ys) + 1.4)
    ax.set_title(title)
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
