"""The local run's service map: from Prometheus series to JSON, mermaid and a PNG (pure but
for Graphviz's ``dot``, which lays it out)."""

from __future__ import annotations

import itertools
import math

import pytest

from components.settings.validate import settings_from_config
from components.stack import stack_settings
from meshvis.local.service_map import (
    configured_edges,
    edge_lines,
    edge_queries,
    layout,
    mermaid,
    render_png,
    service_map,
)

DEV = stack_settings("dev")


def _fake_prometheus(expr: str) -> list[tuple[dict[str, str], float]]:
    """Every configured edge, with a value per column query (an idle edge's quantile is NaN)."""
    queries = edge_queries(DEV, "60s")
    value = {
        queries["rate_per_s"]: 2.0,
        queries["error_ratio"]: 0.0,
        queries["p50_ms"]: 3.0,
        queries["p99_ms"]: float("nan"),
    }[expr]
    return [({"service": a, "envoy_cluster_name": b}, value) for a, b in configured_edges(DEV)]


def test_map_has_every_edge_with_its_columns(tmp_path):
    graph = service_map(DEV, _fake_prometheus, "60s", {"greeter": 2.0})
    assert [(e["source"], e["target"]) for e in graph["edges"]] == sorted(configured_edges(DEV))
    assert graph["edges"][0] == {
        "source": "greeter",
        "target": "greeting",
        "rate_per_s": 2.0,
        "error_ratio": 0.0,
        "p50_ms": 3.0,
        "p99_ms": None,
    }
    assert {n["id"]: n["rate_per_s"] for n in graph["nodes"]}["greeter"] == 2.0
    assert graph["window"] == "60s"
    assert edge_lines(graph)[0] == "service map: greeter -> greeting  2 req/s, 0 % 5xx, p99 — ms"
    graph["nodes"][0]["health"] = "down"
    chart = mermaid(graph)
    assert chart.startswith("flowchart TB") and chart.count("-->") == len(configured_edges(DEV))
    assert "class n0 down" in chart
    assert "((load-generator))" in chart
    render_png(graph, "test", tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_configured_edge_without_calls_is_drawn_without_figures():
    """An edge Prometheus has nothing for (its caller frozen, say) stays on the map, with
    its figures absent ("—"), not 0."""
    graph = service_map(DEV, lambda expr: [], "30s", {})
    assert [(e["source"], e["target"]) for e in graph["edges"]] == sorted(configured_edges(DEV))
    assert all(e["error_ratio"] is None and e["rate_per_s"] is None for e in graph["edges"])
    assert edge_lines(graph)[0].endswith("— req/s, — % 5xx, p99 — ms")


def _settings(mesh: str, services: list[dict]):
    return settings_from_config(
        {
            "aws:region": "us-west-2",
            "mesh-visibility:meshName": mesh,
            "mesh-visibility:services": services,
        }
    )


CHAIN: list[dict] = [
    {"name": "tier-0", "port": 3000, "upstreams": ["tier-1"]},
    {"name": "tier-1", "port": 3000, "upstreams": ["tier-2"]},
    {"name": "tier-2", "port": 3000, "upstreams": ["tier-3"]},
    {"name": "tier-3", "port": 3000},
    {"name": "load", "kind": "load", "upstreams": ["tier-0"]},
]
SHOP: list[dict] = [
    {"name": "frontend", "port": 3000, "upstreams": ["catalog", "cart", "search"]},
    {"name": "catalog", "port": 3000, "upstreams": ["inventory"]},
    {"name": "cart", "port": 3000, "upstreams": ["inventory"]},
    {"name": "search", "port": 3000},
    {"name": "inventory", "port": 3000},
    {"name": "load", "kind": "load", "upstreams": ["frontend", "search"]},
]


def _failing_graph(settings) -> dict:
    """Every configured edge with figures, the last one failing, health on every app."""
    rates: dict[str, float | None] = {s.name: 2.0 for s in settings.services}
    graph = service_map(settings, lambda expr: [], "30s", rates)
    for edge in graph["edges"]:
        edge.update(rate_per_s=2.0, error_ratio=0.0, p50_ms=3.0, p99_ms=9.0)
    graph["edges"][-1]["error_ratio"] = 0.79
    for node in graph["nodes"]:
        if node["kind"] != "load":
            node["health"] = "ok"
    return graph


def _inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    x, y, width, height = box
    return abs(point[0] - x) < width / 2 and abs(point[1] - y) < height / 2


def _densified(path: list[tuple[float, float]], steps: int = 8) -> list[tuple[float, float]]:
    return [
        (a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps)
        for a, b in itertools.pairwise(path)
        for k in range(steps + 1)
    ]


def _distance(point: tuple[float, float], path: list[tuple[float, float]]) -> float:
    return min(math.dist(point, p) for p in _densified(path))


@pytest.mark.parametrize(
    "settings",
    [_settings("chain", CHAIN), DEV, _settings("shop", SHOP)],
    ids=["chain-of-4", "dev", "shop"],
)
def test_layout_is_layered_and_no_edge_runs_under_another_box(settings):
    """Callers above the services they call; every edge's drawn path (arrowhead included)
    stays out of every box but its two ends; every label is nearer its own edge than any
    other edge. On dot's own coordinates, the ones the picture is drawn from."""
    placed = layout(_failing_graph(settings), "test")
    nodes, edges = placed["nodes"], placed["edges"]
    assert set(nodes) == {s.name for s in settings.services}
    assert set(edges) == set(configured_edges(settings))
    for (caller, upstream), drawn in edges.items():
        assert nodes[caller][1] > nodes[upstream][1], (caller, upstream, nodes)
        for name, box in nodes.items():
            if name not in (caller, upstream):
                crossing = [p for p in _densified(drawn["path"]) if _inside(p, box)]
                assert not crossing, f"{caller} -> {upstream} under {name}: {crossing[:3]}"
        own = _distance(drawn["label"], drawn["path"])
        for other, elsewhere in edges.items():
            if other != (caller, upstream):
                assert own < _distance(drawn["label"], elsewhere["path"]), (caller, upstream, other)
