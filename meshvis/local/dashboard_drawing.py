"""Drawing dashboards as PNG pictures (matplotlib): Grafana panels on their grid, CloudWatch
widgets on theirs, CloudWatch alarms against their thresholds.

Every panel the dashboard has is placed and titled; what it shows is one of: its series, "No
data" (as Grafana says it), a listing (a CloudWatch ``SEARCH``), or a sentence saying why it is
not drawn. The PNG's text chunk ``panels`` lists every panel with that status (JSON), so tests
read the picture rather than trust the code that drew it.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from meshvis.local.cloudwatch_pictures import WidgetPicture
from meshvis.local.dashboard_pictures import PanelLayout, grid_height, series_name

if TYPE_CHECKING:  # matplotlib is loaded only when a picture is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

GRID_COLUMNS = 24
WIDTH_IN = 16.0
DPI = 80
LEGEND_ROWS = 5
LINE_IN = 0.11
METADATA_KEY = "panels"
# Statuses in the ``panels`` text chunk.
DRAWN, NO_DATA, LISTED, NOT_DRAWN = "drawn", "no data", "listed", "not drawn"
COLORS = [
    "#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0",
    "#508642", "#CCA300", "#447EBC", "#C15C17",
]  # fmt: skip


@dataclass(frozen=True)
class PanelData:
    """A Grafana panel's series ``(ref, legend format, labels, [(unix time, value)])``, or
    the reason its queries failed."""

    series: tuple = ()
    error: str | None = None


# Grafana's units as (scale, suffix), largest first: a value shows in the first scale it
# reaches (the last one below all of them).
_SCALES = {
    "percentunit": ((0.01, "%"),),
    "percent": ((1, "%"),),
    "ms": ((1000, " s"), (1, " ms")),
    "s": ((86400, " day"), (3600, " hour"), (60, " min"), (1, " s")),
    "bytes": ((1024**3, " GiB"), (1024**2, " MiB"), (1024, " KiB"), (1, " B")),
    "reqps": ((1e9, "G req/s"), (1e6, "M req/s"), (1e3, "K req/s"), (1, " req/s")),
}
_SHORT = ((1e9, "G"), (1e6, "M"), (1e3, "K"), (1, ""))


def unit_text(unit: str, value: float) -> str:
    """``value`` in Grafana's ``unit`` (the units the dashboards use; others as ``short``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    scales = _SCALES.get(unit, _SHORT)
    size, suffix = next(((z, x) for z, x in scales if abs(value) >= z), scales[-1])
    return f"{value / size:.3g}{suffix}"


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")  # no display: pictures are files
    import matplotlib.pyplot as plt

    return plt


def _box(figure: Figure, place: tuple[int, int, int, int], unit_in: float, top_in: float) -> Axes:
    """An axes filling grid cell ``place`` (x, y, w, h) of a figure, ``top_in`` inches below
    its top."""
    x, y, w, h = place
    height_in = figure.get_figheight()
    pad = 0.04
    left = x / GRID_COLUMNS + pad / WIDTH_IN
    width = w / GRID_COLUMNS - 2 * pad / WIDTH_IN
    bottom = 1 - (top_in + (y + h) * unit_in - pad) / height_in
    return figure.add_axes((left, bottom, width, h * unit_in / height_in - 2 * pad / height_in))


def _frame(axes: Axes, title: str) -> None:
    """A panel's frame and title, as Grafana and CloudWatch draw it: a bordered box, the
    title at its top left."""
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_facecolor("#fbfbfb")
    for spine in axes.spines.values():
        spine.set_color("#cccccc")
    if title:
        axes.text(
            0.01, 0.98, textwrap.shorten(title, 110), transform=axes.transAxes,
            va="top", fontsize=8, fontweight="bold",
        )  # fmt: skip


def _say(axes: Axes, text: str, size: float = 8, color: str = "#666666") -> None:
    axes.text(
        0.5, 0.5, textwrap.fill(text, 70), transform=axes.transAxes, ha="center", va="center",
        fontsize=size, color=color,
    )  # fmt: skip


def _inner(figure: Figure, axes: Axes, top_in: float = 0.3, bottom_in: float = 0.25) -> Axes:
    """A plot area inside a panel frame: ``top_in`` inches below its top (the title),
    ``bottom_in`` above its bottom (legend, notes), room on the left for the y labels."""
    box = axes.get_position()
    width_in, height_in = figure.get_figwidth(), figure.get_figheight()
    left, right = 0.65 / width_in, 0.1 / width_in
    return figure.add_axes(
        (
            box.x0 + left,
            box.y0 + bottom_in / height_in,
            box.width - left - right,
            box.height - (top_in + bottom_in) / height_in,
        )
    )


def _time_axis(axes: Axes, start: float) -> None:
    axes.tick_params(labelsize=6)
    axes.grid(alpha=0.3)
    axes.xaxis.set_major_formatter(lambda t, _: f"{round(t - start) or 0}s")


def _save(figure: Figure, path: Path, panels: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, metadata={METADATA_KEY: json.dumps(panels)})
    _pyplot().close(figure)


def _figure(title: str, grid_rows: int, unit_in: float) -> tuple[Figure, float]:
    plt = _pyplot()
    top_in = 0.5
    figure = plt.figure(figsize=(WIDTH_IN, top_in + grid_rows * unit_in + 0.1))
    figure.text(0.005, 1 - 0.15 / figure.get_figheight(), title, fontsize=11, va="top")
    return figure, top_in


def draw_grafana(
    title: str,
    layouts: Sequence[PanelLayout],
    data: dict[int, PanelData],
    span: tuple[float, float],
    path: Path,
) -> None:
    """A Grafana dashboard: every panel at its ``gridPos``, drawn from ``data`` (by index)
    over ``span`` (start, end)."""
    unit_in = 0.3
    figure, top_in = _figure(title, grid_height(list(layouts)), unit_in)
    panels = []
    for index, layout in enumerate(layouts):
        if layout.type == "row":
            axes = _box(figure, (layout.x, layout.y, layout.w, layout.h), unit_in, top_in)
            axes.axis("off")
            axes.text(
                0, 0.3, layout.title, fontsize=10, fontweight="bold", transform=axes.transAxes
            )
            axes.axhline(0.05, color="#999999", lw=0.8)
            panels.append({"title": layout.title, "type": "row", "status": DRAWN, "series": 0})
            continue
        axes = _box(figure, (layout.x, layout.y, layout.w, layout.h), unit_in, top_in)
        _frame(axes, layout.title)
        panel = data.get(index, PanelData())
        if layout.type == "timeseries":
            status = _timeseries(figure, axes, layout, panel, span)
        elif layout.type == "nodeGraph":
            status = _node_graph(figure, axes, panel)
        else:
            _say(axes, f"panel type {layout.type!r} is not drawn in this picture")
            status = NOT_DRAWN
        if panel.error:
            _say(axes, panel.error, color="#c0392b")
            status = NO_DATA
        panels.append(
            {
                "title": layout.title,
                "type": layout.type,
                "status": status,
                "series": len(panel.series),
            }
        )
    _save(figure, path, panels)


def _timeseries(
    figure: Figure, axes: Axes, layout: PanelLayout, panel: PanelData, span: tuple[float, float]
) -> str:
    start, end = span
    rows = min(LEGEND_ROWS, len(panel.series))
    legend_in = LINE_IN * (rows + 1) if rows else 0.0
    plot = _inner(figure, axes, bottom_in=0.25 + legend_in)
    _time_axis(plot, start)
    plot.set_xlim(start, end)
    plot.yaxis.set_major_formatter(lambda v, _: unit_text(layout.unit, v))
    legend = []
    for number, (_, fmt, labels, points) in enumerate(panel.series):
        values = [v for _, v in points if not math.isnan(v)]
        color = COLORS[number % len(COLORS)]
        plot.plot([t for t, _ in points], [v for _, v in points], color=color, lw=1)
        if values:
            legend.append((color, series_name(fmt, labels), values[-1], max(values)))
    bottom, top = plot.get_ylim()
    bottom = layout.min if layout.min is not None else bottom
    top = layout.max if layout.max is not None and top <= layout.max else top
    # A little room beyond the limits, so a line at 0 % or 100 % is not hidden by the frame.
    margin = 0.04 * (top - bottom)
    plot.set_ylim(bottom - margin, top + margin)
    for value, color in layout.thresholds:
        plot.axhline(value, color=color, lw=0.8, ls="--")
    if not legend:
        plot.axis("off")
        _say(axes, "No data")
        return NO_DATA
    box = axes.get_position()
    legend_axes = figure.add_axes(
        (
            box.x0,
            box.y0 + 0.05 / figure.get_figheight(),
            box.width,
            legend_in / figure.get_figheight(),
        )
    )
    legend_axes.axis("off")
    legend_axes.text(0.7, 1.0, "Last *", fontsize=6, transform=legend_axes.transAxes, va="top")
    legend_axes.text(0.85, 1.0, "Max", fontsize=6, transform=legend_axes.transAxes, va="top")
    line = 1.0 / (rows + 1)
    for row, (color, name, last, peak) in enumerate(legend[:rows]):
        at = 1.0 - (row + 1) * line
        legend_axes.text(
            0.02, at, "━", color=color, fontsize=6, transform=legend_axes.transAxes, va="top"
        )
        for x, text in (
            (0.05, textwrap.shorten(name, 70)),
            (0.7, unit_text(layout.unit, last)),
            (0.85, unit_text(layout.unit, peak)),
        ):
            legend_axes.text(x, at, text, fontsize=6, transform=legend_axes.transAxes, va="top")
    if len(legend) > rows:
        legend_axes.text(
            0.02, 1.0, f"{len(legend)} series, the first {rows} listed", fontsize=6,
            transform=legend_axes.transAxes, va="top", color="#666666",
        )  # fmt: skip
    return DRAWN


def _node_graph(figure: Figure, axes: Axes, panel: PanelData) -> str:
    """Grafana's node graph from its two frames: nodes (``id``, ``title``, value as main
    stat) and edges (``source``, ``target``, value as main stat)."""
    nodes = {
        labels.get("id", ""): points[-1][1]
        for ref, _, labels, points in panel.series
        if ref == "nodes"
    }
    edges = [
        (labels.get("source", ""), labels.get("target", ""), points[-1][1])
        for ref, _, labels, points in panel.series
        if ref == "edges"
    ]
    if not nodes:
        _say(axes, "No data")
        return NO_DATA
    plot = _inner(figure, axes, bottom_in=0.05)
    plot.axis("off")
    names = sorted(nodes)
    where = {
        name: (math.cos(2 * math.pi * i / len(names)), math.sin(2 * math.pi * i / len(names)))
        for i, name in enumerate(names)
    }
    for source, target, value in edges:
        if source in where and target in where:
            (x0, y0), (x1, y1) = where[source], where[target]
            plot.annotate(
                "", (x1, y1), (x0, y0),
                arrowprops={"arrowstyle": "->", "color": "#888888", "shrinkA": 22, "shrinkB": 22},
            )  # fmt: skip
            plot.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                f"{value:.3g} req/s",
                fontsize=6,
                ha="center",
                color="#555555",
            )
    for name, (x, y) in where.items():
        plot.scatter([x], [y], s=900, color="#e8f4fb", edgecolors="#1F78C1", zorder=3)
        plot.text(x, y, f"{nodes[name]:.3g}\nreq/s", fontsize=6, ha="center", va="center", zorder=4)
        plot.text(x, y - 0.3, name, fontsize=8, ha="center", va="top", zorder=4)
    plot.set_xlim(-1.6, 1.6)
    plot.set_ylim(-1.5, 1.3)
    return DRAWN


def draw_cloudwatch(title: str, widgets: Sequence[WidgetPicture], start: float, path: Path) -> None:
    """A CloudWatch dashboard: every widget at its place, drawn, listed or explained."""
    unit_in = 0.32
    rows = max((w.y + w.h for w in widgets), default=1)
    figure, top_in = _figure(title, rows, unit_in)
    panels = []
    for widget in widgets:
        axes = _box(figure, (widget.x, widget.y, widget.w, widget.h), unit_in, top_in)
        _frame(axes, widget.title)
        status = _widget(figure, axes, widget, start)
        points = sum(len(series) for _, series in widget.lines) + max(0, len(widget.table) - 1)
        panels.append(
            {
                "title": widget.title or widget.notes[0][:60],
                "type": widget.kind,
                "status": status,
                "series": points,
            }
        )
    _save(figure, path, panels)


def _search_lines(widget: WidgetPicture) -> list[str]:
    """What each SEARCH of a widget is meant to select, and what it selects in this run."""
    lines = []
    for search in widget.searches:
        services = sorted({dict(d).get("service", "?") for d in search.selected})
        lines.append(
            f"SEARCH {textwrap.shorten(search.pattern(), 150)}: "
            + (
                f"{len(search.selected)} metrics here ({', '.join(services)})"
                if search.selected
                else "none in this run (the metric appears after an event)"
            )
        )
    return lines


def _widget(figure: Figure, axes: Axes, widget: WidgetPicture, start: float) -> str:
    if widget.kind == "text":
        text = "\n".join(line.lstrip("# ") for line in widget.notes[0].splitlines())
        axes.text(
            0.01, 0.9, textwrap.fill(text, 190), fontsize=7, va="top", transform=axes.transAxes
        )
        return DRAWN
    footer = _search_lines(widget) + list(widget.notes)
    axes.text(
        0.01, 0.02, "\n".join(textwrap.shorten(n, 11 * widget.w) for n in footer[:4]), fontsize=5.5,
        va="bottom", color="#555555", transform=axes.transAxes,
    )  # fmt: skip
    if widget.table:
        width = max(len(cell) for row in widget.table for cell in row) + 3
        rows = "\n".join("".join(f"{cell:<{width}}" for cell in row) for row in widget.table)
        axes.text(
            0.02, 0.85, rows, fontsize=6.5, va="top", family="monospace", transform=axes.transAxes
        )
        return DRAWN
    drawn = [(label, series) for label, series in widget.lines if series]
    if not drawn:
        return _why_empty(axes, widget)
    if widget.kind == "singleValue":
        _single_values(axes, drawn)
    else:
        _lines(
            _inner(figure, axes, top_in=0.35, bottom_in=0.25 + 0.09 * min(4, len(footer))),
            widget,
            drawn,
            start,
        )
    return DRAWN


def _why_empty(axes: Axes, widget: WidgetPicture) -> str:
    """A widget without a line with data says why, and returns its status."""
    if widget.lines:
        _say(axes, "No data")
        return NO_DATA
    if widget.searches:
        _say(axes, "No data: nothing the SEARCH selects was sent in this run")
        return LISTED
    _say(axes, "not drawn: no local data for it (see below)")
    return NOT_DRAWN


def _single_values(axes: Axes, drawn: list[tuple[str, dict]]) -> None:
    """CloudWatch's single-value view: each line's value, big, above its label."""
    for number, (label, series) in enumerate(drawn):
        value = series[max(series)]
        x = (number % 2) * 0.5 + 0.03
        y = 0.62 - (number // 2) * 0.3
        axes.text(x, y, f"{value:.4g}", fontsize=15, color=COLORS[5], transform=axes.transAxes)
        axes.text(x, y - 0.08, textwrap.shorten(label, 60), fontsize=6, transform=axes.transAxes)


def _lines(plot: Axes, widget: WidgetPicture, drawn: list[tuple[str, dict]], start: float) -> None:
    """CloudWatch's time series view: the lines, its horizontal annotations, its left axis."""
    _time_axis(plot, start)
    for number, (label, series) in enumerate(drawn):
        times = sorted(series)
        plot.plot(
            times, [series[t] for t in times], marker=".", ms=3, lw=1,
            color=COLORS[number % len(COLORS)], label=textwrap.shorten(label, 40),
        )  # fmt: skip
    for value, label in widget.thresholds:
        plot.axhline(value, color="#E24D42", lw=0.8, ls="--")
        plot.text(
            plot.get_xlim()[1], value, f"{label} ", fontsize=6, color="#E24D42", ha="right",
            va="bottom",
        )  # fmt: skip
    if widget.y_min is not None:
        plot.set_ylim(bottom=widget.y_min, top=max(plot.get_ylim()[1], widget.y_min + 1))
    plot.set_ylabel(widget.y_label, fontsize=6)
    plot.legend(fontsize=5.5, loc="upper left", ncol=5, frameon=False)


def draw_alarms(
    title: str,
    alarms: Sequence[tuple[str, dict[float, float], float, str]],
    start: float,
    end: float,
    path: Path,
) -> None:
    """Each alarm's datapoints against its threshold, one panel each, two per row."""
    unit_in = 0.32
    rows = 6 * math.ceil(max(1, len(alarms)) / 2)
    figure, top_in = _figure(title, rows, unit_in)
    panels = []
    for number, (name, series, threshold, comparison) in enumerate(alarms):
        axes = _box(figure, (12 * (number % 2), 6 * (number // 2), 12, 6), unit_in, top_in)
        _frame(axes, f"{name}: {comparison} {threshold:g}")
        if not series:
            _say(axes, "No data")
            panels.append({"title": name, "type": "alarm", "status": NO_DATA, "series": 0})
            continue
        plot = _inner(figure, axes)
        _time_axis(plot, start)
        plot.set_xlim(start, end)
        times = sorted(series)
        plot.plot(times, [series[t] for t in times], marker=".", lw=1, color=COLORS[5])
        plot.axhline(threshold, color="#E24D42", lw=0.8, ls="--")
        plot.set_ylim(bottom=min(0.0, plot.get_ylim()[0]))
        panels.append({"title": name, "type": "alarm", "status": DRAWN, "series": len(series)})
    _save(figure, path, panels)


def picture_panels(path: Path) -> list[dict]:
    """The ``panels`` text chunk of a picture drawn here."""
    from PIL import Image, PngImagePlugin

    with Image.open(path) as image:
        # Drawn here, so a PNG: its text chunks hold the panels.
        assert isinstance(image, PngImagePlugin.PngImageFile), path
        return json.loads(image.text[METADATA_KEY])
