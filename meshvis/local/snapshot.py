"""A PNG chart of the golden signals over a run, from Prometheus range queries."""

from __future__ import annotations

from pathlib import Path

from meshvis.local.prometheus import Prometheus
from meshvis.local.signals import Signal

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


def render(series: Series, start: float, end: float, title: str, path: Path) -> None:
    """Draw ``series`` (seconds since ``start`` on x, up to ``end``) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart is a file
    import matplotlib.pyplot as plt

    services = sorted({s for by_service in series.values() for s in by_service})
    colors = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(services)}
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(10, 2.6 * len(PANELS)), sharex=True)
    for axis, (panel, keys) in zip(axes, PANELS):
        for style, key in zip(("-", "--"), keys):
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
    axes[-1].set_xlim(0, max(1.0, end - start))
    axes[-1].set_xlabel("seconds since traffic started")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
