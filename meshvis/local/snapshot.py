"""A PNG chart of the golden signals over a run, from Prometheus range queries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from meshvis.local.golden_signals import Signal
from meshvis.local.prometheus import Prometheus

# (panel title, signal keys drawn in it); the first key is a solid line, the next dashed.
PANELS = (
    ("traffic: requests/s", ("requests_per_s",)),
    ("errors: success %", ("success_pct",)),
    ("latency: p99 (solid), p50 (dashed), ms", ("p99_ms", "p50_ms")),
    ("saturation: active downstream connections", ("active_connections",)),
)
Series = dict[str, dict[str, list[tuple[float, float]]]]


def collect(prometheus: Prometheus, signals: list[Signal], start: float, end: float) -> Series:
    """signal key -> service -> [(unix time, value)], for the keys the chart draws."""
    drawn = {key for _, keys in PANELS for key in keys}
    step = max(1.0, (end - start) / 300)
    series: Series = {}
    for signal in signals:
        if signal.key not in drawn:
            continue
        result = prometheus.query_range(signal.expr, start, end, step)
        for service in signal.services:
            if service in result:
                series.setdefault(signal.key, {})[service] = [
                    (t, signal.value(v)) for t, v in result[service]
                ]
    return series


def render(
    series: Series,
    start: float,
    end: float,
    title: str,
    path: Path,
    marks: Sequence[tuple[float, str, str]] = (),
    xlabel: str = "seconds since traffic started",
) -> None:
    """Draw ``series`` (seconds since ``start`` on x, up to ``end``) into ``path``; ``marks``
    are (unix time, label, colour) events drawn as numbered vertical lines across every panel
    and listed under the chart (a game day's fault start and end, each alert firing)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart is a file
    import matplotlib.pyplot as plt

    services = sorted({s for by_service in series.values() for s in by_service})
    colors = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(services)}
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(10, 2.6 * len(PANELS)), sharex=True)
    for axis, (panel, keys) in zip(axes, PANELS, strict=True):
        for style, key in zip(("-", "--"), keys, strict=False):  # one or two keys
            for service, points in series.get(key, {}).items():
                axis.plot(
                    [t - start for t, _ in points],
                    [v for _, v in points],
                    style,
                    color=colors[service],
                    label=service if style == "-" else None,
                )
        if "success_pct" in keys:
            # A flat 100 % line would otherwise sit in an axis scaled to +-5 % of nothing.
            low = min(
                (v for pts in series.get("success_pct", {}).values() for _, v in pts), default=100.0
            )
            axis.set_ylim(min(95.0, low - 1), 100.5)
        axis.set_title(panel, loc="left", fontsize=10)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8, loc="upper left", ncol=min(4, len(services)))
    for n, (at, _, color) in enumerate(marks, start=1):
        for axis in axes:
            axis.axvline(at - start, color=color, lw=0.8, ls=":")
        # Numbers staggered down the top panel so that events close in time stay readable.
        axes[0].annotate(
            str(n),
            (at - start, 1 - 0.1 * ((n - 1) % 5)),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            va="top",
            color=color,
        )
    axes[-1].set_xlim(0, max(1.0, end - start))
    axes[-1].set_xlabel(xlabel)
    figure.suptitle(title)
    lines = _mark_lines([(at - start, label) for at, label, _ in marks])
    if lines:
        figure.text(0.01, 0.005, "\n".join(lines), fontsize=7, family="monospace", va="bottom")
    # Room under the panels for the numbered list of marks.
    figure.tight_layout(rect=(0, 0.013 * len(lines) + (0.01 if lines else 0), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _mark_lines(marks: Sequence[tuple[float, str]]) -> list[str]:
    """``n: label (t s)`` for each mark, in two columns when there are more than six."""
    items = [f"{n}: {label} ({at:.0f} s)" for n, (at, label) in enumerate(marks, start=1)]
    rows = len(items) if len(items) <= 6 else -(-len(items) // 2)
    return ["".join(item.ljust(64) for item in items[row::rows]).rstrip() for row in range(rows)]
