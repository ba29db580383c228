"""The live view's plain output (a pipe or a log) says what its figures mean: the legend first,
and a healthy-host count summed over a service's sidecars with each sidecar's own."""

from __future__ import annotations

import io

from rich.console import Console

from meshvis.local.live import LiveView


def test_plain_output_starts_with_the_legend_and_shows_hosts_per_sidecar():
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, color_system=None)
    with LiveView(console, ["greeter", "name"], "healthy hosts = summed (legend)", 60) as view:
        view.update(
            {
                "greeter": {"sidecars_up": 2.0, "healthy_upstream_hosts": 8.0},
                "name": {"sidecars_up": 1.0, "healthy_upstream_hosts": 3.0},
            },
            10.0,
        )
    lines = out.getvalue().splitlines()
    assert lines[0] == "healthy hosts = summed (legend)"
    greeter = next(line for line in lines if "] greeter:" in line)
    assert "healthy hosts 8 (4 each)" in greeter
    # One sidecar: its own count is the count.
    name = next(line for line in lines if "] name:" in line)
    assert name.endswith("healthy hosts 3")
