"""The dashboards reduced to pictures (pure parts, and the drawing of a synthetic dashboard):
Grafana JSON as deployed -> panels with their queries; CloudWatch widgets -> computed lines
and SEARCH listings; every panel on the picture, an undrawable one saying so."""

from __future__ import annotations

import pytest

from components.settings.naming import metric_namespace
from components.stack import stack_settings
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.grafana.dashboards import grafana_dashboards
from meshvis.local.cloudwatch_pictures import Span, parse_search, widget_pictures
from meshvis.local.dashboard_drawing import (
    DRAWN,
    NO_DATA,
    NOT_DRAWN,
    PanelData,
    draw_grafana,
    picture_panels,
    unit_text,
)
from meshvis.local.dashboard_outputs import DrawingFailed, picture
from meshvis.local.dashboard_pictures import (
    local_values,
    panel_layouts,
    series_name,
    substitute,
)
from meshvis.render.ecs import example_load_balancer


def test_only_declared_variables_and_builtins_are_replaced():
    values = {"datasource": "local", "mesh": "shop", "__rate_interval": "20s"}
    assert substitute('rate(x{mesh="$mesh"}[$__rate_interval])', values) == (
        'rate(x{mesh="shop"}[20s])'
    )
    assert substitute("${mesh} [[mesh]] ${mesh:raw}", values) == "shop shop shop"
    # A label_replace group is not a variable.
    assert substitute('label_replace(x, "id", "$1", "service", "(.*)")', values) == (
        'label_replace(x, "id", "$1", "service", "(.*)")'
    )


def test_a_variable_without_a_local_value_is_refused():
    document = {"title": "d", "templating": {"list": [{"name": "cluster"}]}}
    with pytest.raises(ValueError, match=r"no local value for \$cluster"):
        local_values(document, {"datasource": "local"}, 5, 5, 60)
    builtins = local_values({"templating": {"list": []}}, {}, 10, 5, 60)
    # Grafana: max(4 x scrape interval, $__interval + scrape interval).
    assert builtins["__rate_interval"] == "20s"
    assert builtins["__interval"] == "10s"


def test_every_deployed_grafana_panel_keeps_its_place_title_unit_and_queries():
    settings = stack_settings("dev-eks")
    for document in grafana_dashboards(settings).values():
        layouts = panel_layouts(document, local_values(document, {"datasource": "x"}, 5, 5, 60))
        assert [p.title for p in layouts] == [p["title"] for p in document["panels"]]
        for layout, panel in zip(layouts, document["panels"], strict=True):
            assert (layout.x, layout.y, layout.w, layout.h) == tuple(
                panel["gridPos"][k] for k in "xywh"
            )
            assert [q.expr for q in layout.queries] == [t["expr"] for t in panel.get("targets", [])]
            if panel["type"] == "timeseries":
                assert layout.unit == panel["fieldConfig"]["defaults"]["unit"]


def test_a_series_is_named_by_its_legend_format_or_its_labels():
    labels = {"service": "greeter", "envoy_cluster_name": "name"}
    assert series_name("{{service}} → {{envoy_cluster_name}}", labels) == "greeter → name"
    assert series_name("", labels) == '{envoy_cluster_name="name", service="greeter"}'


def test_units_as_grafana_shows_them():
    assert unit_text("percentunit", 0.999) == "99.9%"
    assert unit_text("reqps", 2500) == "2.5K req/s"
    assert unit_text("ms", 1500) == "1.5 s"
    assert unit_text("bytes", 3 * 1024**2) == "3 MiB"
    assert unit_text("s", float("inf")) == "∞"


def test_a_search_selects_exactly_its_schema_values_and_exclusions():
    expression = (
        'SEARCH(\'{"MeshVisibility/shop","envoy.cluster_name",mesh,service} '
        'MetricName="rq" mesh="shop" NOT envoy.cluster_name="local_app"\', \'Sum\', 60)'
    )
    wanted = (("envoy.cluster_name", "name"), ("mesh", "shop"), ("service", "greeter"))
    received = [
        ("rq", wanted),
        ("rq", (("envoy.cluster_name", "local_app"), ("mesh", "shop"), ("service", "greeter"))),
        ("rq", (("mesh", "shop"), ("service", "greeter"))),  # another schema
        ("other", wanted),
    ]
    search = parse_search(expression, received)
    assert search.selected == (wanted,)
    assert search.pattern() == (
        'rq{envoy.cluster_name=*, mesh="shop", service=*, NOT envoy.cluster_name="local_app"} (Sum)'
    )
    assert parse_search("100 * FILL(e, 0) / r", received) is None


def test_cloudwatch_widgets_are_computed_from_the_agent_samples():
    settings = stack_settings("dev")
    body = dashboard_body(settings, *example_load_balancer(settings))
    # Requests are the samples of the ingress request time (one per response).
    requests = (
        "envoy_http_downstream_rq_time",
        tuple(
            sorted(
                {
                    "envoy.http_conn_manager_prefix": "ingress",
                    "mesh": settings.mesh_name,
                    "metric_type": "timing",
                    "service": "greeter",
                }.items()
            )
        ),
    )
    samples = {requests: [(1000.0 + t, 12.0, 1.0) for t in range(0, 60, 2)]}
    widgets = widget_pictures(
        body, metric_namespace(settings.mesh_name), samples, Span(1000, 1060, 10)
    )
    assert len(widgets) == len(body["widgets"])
    by_title = {w.title: w for w in widgets}
    [(label, series)] = by_title["Requests per service (ingress)"].lines
    assert label == "greeter"
    assert sorted(series.values()) == [5.0] * 6  # 5 requests per 10 s period
    # The 5xx rate, metric math over exact metrics: no 5xx sent, FILL(errors, 0) gives 0 %.
    rates = dict(by_title["5xx rate per service (%, as the alarms see it)"].lines)
    assert set(rates["greeter"].values()) == {0.0}
    alb = by_title["Load balancer requests and 5xx"]
    assert not alb.lines and "no local stand-in" in alb.notes[0]


def test_every_panel_is_on_the_picture_and_an_undrawable_one_says_so(tmp_path):
    document = {
        "title": "t",
        "templating": {"list": []},
        "panels": [
            {"type": "row", "title": "Row", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
            {
                "type": "timeseries",
                "title": "Rate",
                "gridPos": {"x": 0, "y": 1, "w": 12, "h": 8},
                "fieldConfig": {"defaults": {"unit": "reqps"}},
                "targets": [{"refId": "A", "expr": "x", "legendFormat": "{{service}}"}],
            },
            {
                "type": "timeseries",
                "title": "Empty",
                "gridPos": {"x": 12, "y": 1, "w": 12, "h": 8},
                "targets": [{"refId": "A", "expr": "y"}],
            },
            {"type": "stat", "title": "Stat", "gridPos": {"x": 0, "y": 9, "w": 6, "h": 4}},
        ],
    }
    layouts = panel_layouts(document, {})
    data = {1: PanelData(series=(("A", "{{service}}", {"service": "a"}, [(0, 1.0), (10, 2.0)]),))}
    path = tmp_path / "t.png"
    draw_grafana("t", layouts, data, (0, 10), path)
    assert [(p["title"], p["status"]) for p in picture_panels(path)] == [
        ("Row", DRAWN),
        ("Rate", DRAWN),
        ("Empty", NO_DATA),
        ("Stat", NOT_DRAWN),
    ]


def test_a_picture_that_cannot_be_made_fails_as_an_output_error_only(tmp_path):
    """The runner reports an OSError of one output in one line and writes the others."""

    def unreadable():
        raise KeyError("panels")

    def broken(path):
        raise ValueError("no axes")

    for make, reason in ((unreadable, "its data could not be read"), (lambda: broken, "drawing")):
        with pytest.raises(OSError, match=reason) as raised:
            picture("x.png", make).draw(tmp_path / "x.png")
        assert isinstance(raised.value, DrawingFailed)
