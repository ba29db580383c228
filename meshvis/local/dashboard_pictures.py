"""A Grafana dashboard, as deployed, reduced to what a picture of it needs (pure).

The input is the JSON Grafana provisions (dashboards/grafana/, grafana-foundation-sdk's
encoding); the output is each panel's type, place on Grafana's 24-column grid (``gridPos``),
title, unit, limits, thresholds and queries, with the dashboard's template variables replaced
by the values of the local run. Grafana's own rules decide the details:

- variables are written ``$name``, ``${name}`` or ``[[name]]``; only declared variables and
  Grafana's built-ins (``$__interval``, ``$__rate_interval``, ``$__range``) are replaced, so a
  ``$1`` in a ``label_replace`` stays as it is (grafana/grafana
  public/app/features/variables/utils.ts ``variableRegex``);
- ``$__rate_interval`` is max(4 x scrape interval, ``$__interval`` + scrape interval)
  (Grafana docs, "Prometheus template variables");
- a legend format names labels as ``{{label}}``; without one a series is named by its labels;
- a time series panel draws thresholds only when ``custom.thresholdsStyle.mode`` is not
  ``off`` (its default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Panel types the drawing module draws; any other is placed and titled, and says so.
DRAWN_TYPES = ("timeseries", "nodeGraph", "row")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class PanelQuery:
    """One target of a panel: its PromQL (variables replaced), legend format and kind."""

    ref: str
    expr: str
    legend: str
    instant: bool


@dataclass(frozen=True)
class PanelLayout:
    """What a picture draws of one panel."""

    title: str
    type: str
    x: int
    y: int
    w: int
    h: int
    unit: str = "short"
    min: float | None = None
    max: float | None = None
    thresholds: tuple[tuple[float, str], ...] = ()
    queries: tuple[PanelQuery, ...] = field(default_factory=tuple)
    description: str = ""


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with every variable named in ``values`` replaced; other ``$`` words kept."""

    def replace(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(replace, text)


def variables(document: dict) -> list[str]:
    """The names of the dashboard's template variables."""
    return [v["name"] for v in document.get("templating", {}).get("list", [])]


def local_values(
    document: dict, known: dict[str, str], step_s: float, scrape_s: float, range_s: float
) -> dict[str, str]:
    """The value of every variable of ``document`` in the local run, plus Grafana's built-ins
    for a picture at ``step_s`` resolution over ``range_s`` seconds. Raises ``ValueError``
    naming a variable the run has no value for (the picture would query something else)."""
    missing = [name for name in variables(document) if name not in known]
    if missing:
        raise ValueError(
            f"dashboard {document.get('title')!r}: no local value for ${', $'.join(missing)}"
        )
    interval = max(1, round(step_s))
    return {
        **{name: known[name] for name in variables(document)},
        "__interval": f"{interval}s",
        "__rate_interval": f"{max(4 * round(scrape_s), interval + round(scrape_s))}s",
        "__range": f"{max(1, round(range_s))}s",
    }


def panel_layouts(document: dict, values: dict[str, str]) -> list[PanelLayout]:
    """Every panel of ``document`` in its order (rows too), with ``values`` substituted."""
    layouts = []
    for panel in document.get("panels", []):
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        grid = panel["gridPos"]
        layouts.append(
            PanelLayout(
                title=substitute(panel.get("title", ""), values),
                type=panel["type"],
                x=grid["x"],
                y=grid["y"],
                w=grid["w"],
                h=grid["h"],
                unit=defaults.get("unit", "short"),
                min=defaults.get("min"),
                max=defaults.get("max"),
                thresholds=_thresholds(defaults),
                queries=tuple(
                    PanelQuery(
                        ref=target.get("refId", ""),
                        expr=substitute(target["expr"], values),
                        legend=target.get("legendFormat", ""),
                        instant=bool(target.get("instant")),
                    )
                    for target in panel.get("targets", [])
                    if "expr" in target and not target.get("hide")
                ),
                description=panel.get("description", ""),
            )
        )
    return layouts


def _thresholds(defaults: dict) -> tuple[tuple[float, str], ...]:
    """(value, colour) of every absolute threshold step a time series panel draws."""
    style = defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off")
    thresholds = defaults.get("thresholds") or {}
    if style == "off" or thresholds.get("mode", "absolute") != "absolute":
        return ()
    return tuple(
        (float(step["value"]), step.get("color", "red"))
        for step in thresholds.get("steps", [])
        if step.get("value") is not None
    )


def series_name(legend: str, labels: dict[str, str]) -> str:
    """A series' name as Grafana shows it: the legend format with ``{{label}}`` filled in,
    or (no format) its labels."""
    if legend and legend != "__auto":
        return _LEGEND_LABEL.sub(lambda m: labels.get(m.group(1), ""), legend)
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def grid_height(layouts: list[PanelLayout]) -> int:
    """Rows of Grafana's grid the dashboard takes."""
    return max((p.y + p.h for p in layouts), default=1)
