"""Health where a person reads it: the live view and the printed run summary (pure)."""

from __future__ import annotations

import io

from rich.console import Console

from meshvis.local.live import LiveView
from meshvis.local.summary import print_summary

DOWN = {
    "state": "down",
    "reasons": ["no sidecar answers its scrape (0 of 2 up)"],
    "culprit_edges": [],
}
DEGRADED = {
    "state": "degraded",
    "reasons": ["upstream name failing: 79 % 5xx on greeter -> name"],
    "culprit_edges": [("greeter", "name")],
}


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False, color_system=None), out


def test_a_frozen_service_is_down_in_the_live_view_without_its_old_figures():
    """Its rate window still holds the seconds before it froze ("100 %"): not shown."""
    console, out = _console()
    view = LiveView(console, ["name", "greeter"], "caption", 60)
    values = {
        "name": {"sidecars_up": 0.0, "success_pct": 100.0, "requests_per_s": 1.0},
        "greeter": {"sidecars_up": 2.0, "success_pct": 21.0, "requests_per_s": 2.0},
    }
    view.update(values, 30.0, health={"name": DOWN, "greeter": DEGRADED})
    lines = out.getvalue().splitlines()
    name = next(line for line in lines if "] name:" in line)
    assert "name: down (no sidecar answers its scrape (0 of 2 up))" in name
    assert "ok % —" in name and "req/s —" in name and "sidecars up 0" in name
    assert "100" not in name
    greeter = next(line for line in lines if "] greeter:" in line)
    assert "greeter: degraded (upstream name failing: 79 % 5xx on greeter -> name)" in greeter

    table, table_out = _console()
    table.print(view.table())
    row = next(line for line in table_out.getvalue().splitlines() if "name" in line)
    assert "down" in row and "100" not in row


def test_the_summary_table_shows_health_and_absent_figures_as_a_dash():
    console, out = _console()
    row = {"success_rate": None, "p50_ms": None, "p99_ms": None, "requests": None}
    summary = {
        "stack": "dev",
        "run": {"traffic_seconds": 60, "topology": "ecs"},
        "services": {
            "name": {**row, "errors_5xx": None, "sidecars_up": 0, "replicas": 2, "health": DOWN},
            "greeter": {
                "requests": 100,
                "errors_5xx": 72,
                "success_rate": 0.28,
                "p50_ms": 3.0,
                "p99_ms": 3000.0,
                "sidecars_up": 2,
                "replicas": 2,
                "health": DEGRADED,
            },
        },
    }
    print_summary(console, summary)
    text = out.getvalue()
    name = next(line for line in text.splitlines() if "│ name" in line)
    assert "down" in name and "0/2" in name and "—" in name and "100" not in name
    assert "health: name: down: no sidecar answers its scrape (0 of 2 up)" in text
    assert "health: greeter: degraded: upstream name failing: 79 % 5xx on greeter -> name" in text
