"""Pictures of the dashboards a stack deploys, drawn from the local run's own data.

An ``eks`` stack gets one picture per Grafana dashboard its topology provisions
(``grafana_dashboards``), each panel drawn from the local Prometheus with the panel's own
queries; an ``ecs`` stack gets its CloudWatch dashboard, widget by widget, and its alarms,
from the CloudWatch agent stand-in's samples. ``collect`` reads everything while Prometheus
still runs; the pictures are drawn afterwards (meshvis/local/dashboard_drawing.py) with the
run's other outputs. Each picture's PNG carries the list of its panels and what each shows
(text chunk ``panels``), so a test can check the picture itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from components.settings.model import Settings
from components.settings.naming import metric_namespace
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.scrape import SCRAPE_INTERVAL
from meshvis.local import dashboard_drawing as drawing
from meshvis.local.alarm_eval import Samples
from meshvis.local.cloudwatch_pictures import Span, alarm_lines, widget_pictures
from meshvis.local.dashboard_pictures import PanelLayout, local_values, panel_layouts
from meshvis.local.prometheus import Prometheus
from meshvis.render.ecs import example_load_balancer

FOLDER = "dashboards"
# Grafana asks for about one point per pixel; a picture needs far fewer.
POINTS = 200
# CloudWatch periods in a picture of a run shorter than this many of the dashboard's periods
# are scaled down to SHORT_PERIOD_S (a 60 s run has one 60 s period).
MIN_PERIODS = 10
SHORT_PERIOD_S = 10.0


class DrawingFailed(OSError):
    """A dashboard picture could not be made: the runner says so in one line, as for a
    picture it cannot write, and writes every other output."""


@dataclass(frozen=True)
class Picture:
    """One dashboard picture to write: its file name and how to draw it into a path."""

    filename: str
    draw: Callable[[Path], None]


def picture(filename: str, make: Callable[[], Callable[[Path], None]]) -> Picture:
    """``filename`` drawn by what ``make`` returns (``make`` reads the data now). A failure
    of either, a bug included, becomes ``DrawingFailed`` when the picture is written: a
    picture must not cost the run its other outputs."""
    draw: Callable[[Path], None] | None
    reason: str | None = None
    try:
        draw = make()
    except Exception as err:  # see the docstring
        reason = f"its data could not be read ({err!r})"
        draw = None

    def guarded(path: Path) -> None:
        if draw is None:
            raise DrawingFailed(reason)
        try:
            draw(path)
        except OSError:
            raise
        except Exception as err:  # see the docstring
            raise DrawingFailed(f"drawing failed ({err!r})") from err

    return Picture(filename, guarded)


def collect(
    settings: Settings,
    stack: str,
    prometheus: Prometheus | None,
    samples: Samples,
    run: tuple[float, float],
) -> list[Picture]:
    """Every dashboard picture of the stack's topology over the run (start, end in unix
    time), its data read now: Prometheus must still run (a query that fails is said on its
    panel; None: Prometheus is gone, so no Grafana picture)."""
    start, end = run
    if settings.topology != "eks":
        period = 60.0 if end - start >= MIN_PERIODS * 60 else SHORT_PERIOD_S
        return _cloudwatch_pictures(settings, stack, samples, Span(start, end, period))
    if prometheus is None:
        return []
    scrape_s = float(SCRAPE_INTERVAL.rstrip("s"))
    # Grafana's step: its range over the points it asks for, at least the scrape interval.
    span = Span(start, end, max(scrape_s, (end - start) / POINTS))
    # The data source variable names the local Prometheus: the only one there is.
    known = {"datasource": "local Prometheus", "mesh": settings.mesh_name}

    def grafana(document: dict) -> Callable[[Path], None]:
        values = local_values(document, known, span.period_s, scrape_s, end - start)
        layouts = panel_layouts(document, values)
        data = {i: _panel_data(layout, prometheus, span) for i, layout in enumerate(layouts)}
        title = (
            f"Grafana: {document['title']} ({stack}, local run of {end - start:.0f} s; "
            f"deployed time range {document['time']['from']} to {document['time']['to']})"
        )
        return partial(drawing.draw_grafana, title, layouts, data, run)

    return [
        picture(filename.replace(".json", ".png"), partial(grafana, document))
        for filename, document in grafana_dashboards(settings).items()
    ]


def _panel_data(layout: PanelLayout, prometheus: Prometheus, span: Span) -> drawing.PanelData:
    """Each query's series: ``(ref, legend, labels, points)``; or why there are none."""
    if layout.type not in ("timeseries", "nodeGraph"):
        return drawing.PanelData()
    found = []
    try:
        for query in layout.queries:
            if query.instant:
                for labels, value in prometheus.query_series(query.expr, at=span.end):
                    found.append((query.ref, query.legend, labels, [(span.end, value)]))
            else:
                for labels, points in prometheus.query_range_series(
                    query.expr, span.start, span.end, span.period_s
                ):
                    found.append((query.ref, query.legend, labels, points))
    except (OSError, RuntimeError) as err:
        return drawing.PanelData(error=f"query failed: {err}")
    return drawing.PanelData(series=tuple(found))


def _cloudwatch_pictures(
    settings: Settings, stack: str, samples: Samples, span: Span
) -> list[Picture]:
    run = (
        f"{stack}, local run of {span.end - span.start:.0f} s, CloudWatch agent stand-in's "
        "datapoints"
    )

    def dashboard() -> Callable[[Path], None]:
        namespace = metric_namespace(settings.mesh_name)
        # The load balancer exists once deployed (its widgets say they have no local data).
        body = dashboard_body(settings, *example_load_balancer(settings))
        widgets = widget_pictures(body, namespace, samples, span)
        title = f"CloudWatch dashboard: {settings.mesh_name} ({run})"
        return partial(drawing.draw_cloudwatch, title, widgets, span.start)

    def alarms() -> Callable[[Path], None]:
        lines = alarm_lines(alarm_specs(settings), samples, span)
        title = f"CloudWatch alarms: {settings.mesh_name} ({run}; periods of {span.period_s:g} s)"
        return partial(drawing.draw_alarms, title, lines, span.start, span.end)

    return [
        picture("cloudwatch-dashboard.png", dashboard),
        picture("cloudwatch-alarms.png", alarms),
    ]
