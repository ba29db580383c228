"""The CloudWatch dashboard's widgets, computed from the local agent stand-in's samples (pure).

The input is the dashboard body the ECS program puts (dashboards/cloudwatch/dashboard.py) and
the samples the stand-in received (``DogStatsdReceiver.timed_samples``); the output is, per
widget, its place on the 24-column grid, its title and what a picture shows:

- a metric widget whose metrics are named exactly (namespace, name, every dimension) is
  computed as CloudWatch would: each metric's statistic per period, then the metric-math
  expressions over them (meshvis/local/alarm_eval.py, the alarms' local evaluator);
  ``singleValue`` with ``setPeriodToTimeRange`` is one value over the whole run;
- a ``SEARCH()`` is listed with what it is meant to select (its metric name, dimension schema,
  fixed values and exclusions) and the metrics of the run it does select;
- a metric outside the mesh's namespace (the load balancer's ``AWS/ApplicationELB``), a Logs
  Insights widget or a text widget says what it is: there is no local data for it.

A local run lasts minutes, a dashboard period is a minute and the SLO windows hours to days:
the picture uses periods scaled down to ``period_s`` and cuts every longer window to the run
so far, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshvis.local.alarm_eval import (
    Samples,
    Series,
    alarm_period,
    alarm_series,
    expression_series,
    metric_series,
    scaled,
)

_SEARCH = re.compile(
    r"SEARCH\(\s*'\{(?P<schema>[^}]*)\}\s*(?P<terms>[^']*)'\s*,\s*'(?P<stat>[^']+)'"
)
_PROP = re.compile(r"\$\{PROP\('Dim\.([^']+)'\)\}")
_TERM = re.compile(r'(?P<not>NOT\s+)?(?P<key>[\w.]+)="(?P<value>[^"]*)"')


@dataclass(frozen=True)
class Search:
    """What one ``SEARCH()`` expression is meant to select, and what it selects locally."""

    metric: str
    schema: tuple[str, ...]
    fixed: tuple[tuple[str, str], ...]
    excluded: tuple[tuple[str, str], ...]
    stat: str
    selected: tuple[tuple[tuple[str, str], ...], ...]

    def pattern(self) -> str:
        """The selection in one line: name{dimension="value", other=*, NOT key="value"}."""
        fixed = dict(self.fixed)
        parts = [f'{key}="{fixed[key]}"' if key in fixed else f"{key}=*" for key in self.schema]
        parts += [f'NOT {key}="{value}"' for key, value in self.excluded]
        return f"{self.metric}{{{', '.join(parts)}}} ({self.stat})"


@dataclass(frozen=True)
class WidgetPicture:
    """One widget as the picture shows it."""

    title: str
    kind: str
    x: int
    y: int
    w: int
    h: int
    lines: tuple[tuple[str, Series], ...] = ()
    searches: tuple[Search, ...] = ()
    notes: tuple[str, ...] = ()
    thresholds: tuple[tuple[float, str], ...] = ()
    y_label: str = ""
    y_min: float | None = None
    table: tuple[tuple[str, ...], ...] = ()


def parse_search(expression: str, received: Sequence[tuple[str, tuple]]) -> Search | None:
    """The ``SEARCH()`` in ``expression`` (None if there is none), with the metrics among
    ``received`` ((name, dimension pairs)) it selects: exactly the schema's dimensions
    (CloudWatch's "exact schema" match), every fixed value, no excluded one."""
    match = _SEARCH.search(expression)
    if match is None:
        return None
    schema = tuple(token.strip().strip('"') for token in match["schema"].split(","))[1:]
    fixed, excluded, metric = [], [], ""
    for term in _TERM.finditer(match["terms"]):
        pair = (term["key"], term["value"])
        if term["not"]:
            excluded.append(pair)
        elif term["key"] == "MetricName":
            metric = term["value"]
        else:
            fixed.append(pair)
    selected = tuple(
        sorted(
            dims
            for name, dims in received
            if name == metric
            and {k for k, _ in dims} == set(schema)
            and set(fixed) <= set(dims)
            and not set(excluded) & set(dims)
        )
    )
    return Search(metric, schema, tuple(fixed), tuple(excluded), match["stat"], selected)


@dataclass(frozen=True)
class Span:
    """The run a picture shows: ``[start, end]`` (unix time) at ``period_s`` resolution."""

    start: float
    end: float
    period_s: float

    def grid(self, step: float | None = None) -> list[float]:
        """Period starts from ``start`` while a whole period fits before ``end``."""
        step = step or self.period_s
        count = max(1, int((self.end - self.start) // step))
        return [self.start + i * step for i in range(count)]


def widget_pictures(
    body: Mapping, namespace: str, samples: Samples, span: Span
) -> list[WidgetPicture]:
    """Every widget of the dashboard ``body``, in order, over ``span``, from ``samples`` of
    the metrics in ``namespace``."""
    reader = _Reader(namespace, samples, sorted(samples), span)
    pictures = []
    for widget in body["widgets"]:
        place = (widget["x"], widget["y"], widget["width"], widget["height"])
        properties = widget.get("properties", {})
        if widget["type"] == "text":
            text = properties.get("markdown", "")
            pictures.append(WidgetPicture("", "text", *place, notes=(text,)))
        elif widget["type"] == "metric":
            pictures.append(reader.widget(properties, place))
        else:
            what = "a Logs Insights query" if widget["type"] == "log" else widget["type"]
            pictures.append(
                WidgetPicture(
                    properties.get("title", ""),
                    widget["type"],
                    *place,
                    notes=(
                        f"{what}: not drawn locally (no CloudWatch Logs here); the run's "
                        "access logs are in its logs folder",
                    ),
                )
            )
    return pictures


@dataclass
class _Reader:
    """Computes one metric widget's lines from the samples, as CloudWatch would."""

    namespace: str
    samples: Samples
    received: Sequence
    span: Span

    def widget(self, properties: Mapping, place: tuple[int, int, int, int]) -> WidgetPicture:
        view = properties.get("view", "timeSeries")
        # A single value, and a table's summary, are one figure over the whole run.
        whole = view in ("singleValue", "table")
        step = self.span.end - self.span.start if whole else self.span.period_s
        lines, searches, notes = [], [], []
        cells: dict[str, dict[str, Series]] = {}
        by_id: dict[str, Series] = {}
        for number, entry in enumerate(properties.get("metrics", [])):
            options: dict[str, Any] = entry[-1] if isinstance(entry[-1], dict) else {}
            ident = options.get("id", f"m{number}")
            search = parse_search(options.get("expression", ""), self.received)
            if search is not None:
                searches.append(search)
                for dims, series in self._search_lines(search, step):
                    if view == "table":
                        column = options.get("label", ident)
                        cells.setdefault(_open_dimensions(search, dims), {})[column] = series
                    else:
                        lines.append((_search_label(options.get("label"), search, dims), series))
                continue
            if "expression" in options:
                series = expression_series(options["expression"], by_id, self.span.grid(step))
                label = options.get("label", ident)
            else:
                metric_namespace, name, *rest = [p for p in entry if not isinstance(p, dict)]
                if metric_namespace != self.namespace:
                    notes.append(f"{metric_namespace} {name}: AWS's own metric, no local stand-in")
                    continue
                dims = tuple(sorted(zip(rest[::2], rest[1::2], strict=True)))
                label = options.get("label") or f"{name} {dict(dims).get('service', '')}".strip()
                series = self._metric(name, dims, options, properties, step)
            by_id[ident] = series
            if options.get("visible", True):
                lines.append((label, series))
        notes.append(self._resolution_note(properties, whole))
        left_axis = properties.get("yAxis", {}).get("left", {})
        return WidgetPicture(
            properties.get("title", ""),
            view,
            *place,
            lines=tuple(lines),
            searches=tuple(searches),
            notes=tuple(n for n in notes if n),
            thresholds=tuple(
                (float(a["value"]), a.get("label", ""))
                for a in properties.get("annotations", {}).get("horizontal", [])
            ),
            y_label=left_axis.get("label", ""),
            y_min=left_axis.get("min"),
            table=_table(cells),
        )

    def _search_lines(
        self, search: Search, step: float
    ) -> Iterator[tuple[tuple[tuple[str, str], ...], Series]]:
        """``(dimensions, series)`` of every metric a SEARCH selects, at its statistic."""
        for dims in search.selected:
            samples = self.samples.get((search.metric, dims), ())
            yield dims, _sliding(samples, search.stat, step, self.span.grid(step), step)

    def _metric(
        self,
        name: str,
        dims: tuple[tuple[str, str], ...],
        options: Mapping,
        properties: Mapping,
        step: float,
    ) -> Series:
        """One exactly named metric at its statistic; a period longer than the run's is cut
        to the run so far."""
        stat = options.get("stat") or properties.get("stat", "Average")
        period = float(options.get("period") or properties.get("period", 60))
        window = max(min(period, self.span.end - self.span.start), step)
        samples = self.samples.get((name, dims), ())
        return _sliding(samples, stat, window, self.span.grid(step), step)

    def _resolution_note(self, properties: Mapping, whole: bool) -> str:
        if whole:
            return "over the whole run"
        if float(properties.get("period", 60)) != self.span.period_s:
            return (
                f"periods of {self.span.period_s:g} s, not {properties.get('period', 60)} s (a "
                "short local run); longer windows cut to the run so far"
            )
        return ""


def _table(cells: dict[str, dict[str, Series]]) -> tuple[tuple[str, ...], ...]:
    """A table widget's rows (a header first): each selected line, one column per query."""
    if not cells:
        return ()
    columns = list(dict.fromkeys(c for row in cells.values() for c in row))
    rows = [("", *columns)]
    for name, row in sorted(cells.items()):
        values = [next(iter(row[c].values()), None) if c in row else None for c in columns]
        rows.append((name, *("—" if v is None else f"{v:.3g}" for v in values)))
    return tuple(rows)


def _search_label(label: str | None, search: Search, dims: tuple[tuple[str, str], ...]) -> str:
    """A SEARCH line's name: ``label`` with ``${PROP('Dim.<name>')}`` filled in; without a
    label, the dimensions the search leaves open, joined by an arrow."""
    if label:
        return _PROP.sub(lambda m: dict(dims).get(m.group(1), ""), label)
    return _open_dimensions(search, dims)


def _open_dimensions(search: Search, dims: tuple[tuple[str, str], ...]) -> str:
    """The values of the dimensions a search leaves open, the sending service first (for
    an upstream cluster: caller → upstream)."""
    values, fixed = dict(dims), dict(search.fixed)
    open_keys = sorted((k for k in search.schema if k not in fixed), key=lambda k: k != "service")
    return " → ".join(values[k] for k in open_keys if k in values)


def _sliding(
    samples: Sequence, stat: str, window: float, grid: Sequence[float], step: float
) -> Series:
    """The statistic over the ``window`` seconds that end where each period of ``grid`` ends
    (one period when the window is the period), keyed by the period's start."""
    ends = {t: t + step for t in grid}
    starts = [ends[t] - window for t in grid]
    series = metric_series(list(samples), stat, window, starts)
    return {t: series[ends[t] - window] for t in grid if ends[t] - window in series}


def alarm_lines(
    specs: Sequence[Mapping], samples: Samples, span: Span
) -> list[tuple[str, Series, float, str]]:
    """Each metric alarm's datapoints over the run (periods scaled to the span's), with its
    threshold and comparison: ``(alarm name, series, threshold, comparison)``."""
    found = []
    for spec in specs:
        period = alarm_period(spec)
        local = scaled(spec, period / span.period_s) if period > span.period_s else spec
        series = alarm_series(local, samples, span.grid())
        found.append((spec["name"], series, spec["threshold"], spec["comparison_operator"]))
    return found
