"""The local run's service map: from Prometheus series to JSON, mermaid and a PNG (pure)."""

from __future__ import annotations

from components.stack import stack_settings
from meshvis.local.service_map import (
    configured_edges,
    edge_lines,
    edge_queries,
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
    assert edge_lines(graph)[0] == "service map: greeter -> greeting  2 req/s, 0 % 5xx, p99 -"
    chart = mermaid(graph)
    assert chart.startswith("flowchart LR") and chart.count("-->") == len(configured_edges(DEV))
    assert "((load-generator))" in chart
    render_png(graph, "test", tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
