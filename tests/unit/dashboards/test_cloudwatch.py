"""The CloudWatch dashboard body, alarms and Logs Insights queries, checked against their
documented structure, the pulumi_aws resource signatures and botocore's API models.

That the metrics they name really arrive from Envoy is tests/local/test_telemetry_real_envoy.py.
"""

from __future__ import annotations

import inspect
import json
import re

import botocore.session
import pulumi_aws as aws
import pytest
from botocore.validate import ParamValidator

from components.settings.naming import log_group_name, metric_namespace
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import ACCESS_LOG_FORMAT
from components.stack import stack_settings
from dashboards.cloudwatch.alarms import (
    alarm_metric_names,
    alarm_reads,
    alarm_specs,
    threshold_alarm_services,
)
from dashboards.cloudwatch.dashboard import (
    ALB_NAMESPACE,
    dashboard_body,
    dashboard_metric_names,
    dashboard_reads,
)
from dashboards.cloudwatch.logs_insights import query_definitions, query_fields, sampling_note
from dashboards.cloudwatch.metrics import upstream

LB = "app/greeting-alb/0123456789abcdef"
TG = "targetgroup/greeting-tg/fedcba9876543210"

# "Dashboard Body Structure and Syntax": the documented keys of each part.
BODY_KEYS = {"widgets", "variables", "start", "end", "periodOverride"}
WIDGET_KEYS = {"type", "x", "y", "width", "height", "properties"}
WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
METRIC_PROPERTIES = {
    "accountId",
    "annotations",
    "liveData",
    "legend",
    "metrics",
    "period",
    "region",
    "sparkline",
    "stacked",
    "stat",
    "table",
    "timezone",
    "title",
    "view",
    "yAxis",
    "start",
    "end",
    "setPeriodToTimeRange",
}
LOG_PROPERTIES = {"accountId", "region", "title", "query", "view", "stacked"}
TEXT_PROPERTIES = {"markdown", "background"}
RENDERING_KEYS = {
    "accountId",
    "color",
    "label",
    "id",
    "period",
    "stat",
    "visible",
    "yAxis",
    "region",
}
EXPRESSION_KEYS = {"expression", "label", "id", "period", "color", "yAxis", "visible", "region"}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
# The statistics the widgets use: the basic ones, percentiles, and percentile rank PR(n:m)
# with either bound left out ("CloudWatch statistics definitions").
STAT = re.compile(
    r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?"
    r"|PR\((\d+(\.\d+)?)?:(\d+(\.\d+)?)?\))$"
)
METRIC_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
SEARCH = re.compile(
    r"^SEARCH\('\{(?P<schema>[^}]*)\} (?P<terms>[^']*)', '(?P<stat>[^']+)', "
    r"(?P<period>\d+)\)$"
)


@pytest.fixture(scope="module")
def settings():
    return stack_settings("dev")


@pytest.fixture(scope="module")
def body(settings):
    return dashboard_body(settings, LB, TG)


def _widgets(body, widget_type):
    return [w for w in body["widgets"] if w["type"] == widget_type]


def _variant(**changes):
    config = stack_config("dev")
    config.update({f"mesh-visibility:{k}": v for k, v in changes.items()})
    return settings_from_config(config)


def _expression_ids(expression: str) -> set[str]:
    """Lower-case identifiers outside string literals: references to other metric ids."""
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", expression)
    return set(re.findall(r"\b[a-z][a-zA-Z0-9_]*\b", unquoted))


# -- dashboard ---------------------------------------------------------------------------------


def test_body_has_only_documented_keys_and_fits_the_grid(body):
    assert set(body) <= BODY_KEYS
    assert 0 < len(body["widgets"]) <= 500
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert set(widget) == WIDGET_KEYS
        assert widget["type"] in WIDGET_TYPES
        assert 0 <= widget["x"] <= 23 and 1 <= widget["width"] <= 24
        assert widget["x"] + widget["width"] <= 24
        assert widget["y"] >= 0 and 1 <= widget["height"] <= 1000
        mine = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not mine & cells, f"{widget['properties'].get('title')} overlaps another widget"
        cells |= mine
    json.dumps(body)  # the Dashboard resource takes it as a JSON string


def test_metric_widgets_are_well_formed(settings, body):
    for widget in _widgets(body, "metric"):
        props = widget["properties"]
        title = props["title"]
        assert set(props) <= METRIC_PROPERTIES, title
        assert props["region"] == settings.region
        assert props["period"] % 60 == 0 and props["view"] in VIEWS
        assert STAT.match(props["stat"]), title
        metrics = props["metrics"]
        assert 1 <= len(metrics) <= 500
        ids = []
        for entry in metrics:
            if isinstance(entry[0], dict):
                assert len(entry) == 1 and set(entry[0]) <= EXPRESSION_KEYS, title
                assert entry[0]["expression"], title
                ids.append(entry[0]["id"])
                continue
            *names, options = entry if isinstance(entry[-1], dict) else (*entry, {})
            _, _, *dims = names  # namespace, metric name, dimension pairs
            assert all(isinstance(part, str) and part for part in names), title
            assert len(dims) % 2 == 0 and len(dims) // 2 <= 30, title
            assert set(options) <= RENDERING_KEYS, title
            if "stat" in options:
                assert STAT.match(options["stat"]), title
            if "id" in options:
                ids.append(options["id"])
        assert all(METRIC_ID.match(i) for i in ids), title
        assert len(ids) == len(set(ids)), title
        for entry in metrics:
            if isinstance(entry[0], dict):
                refs = _expression_ids(entry[0]["expression"])
                assert refs <= set(ids) - {entry[0]["id"]}, f"{title}: unknown ids {refs}"


def test_search_expressions_name_the_reads_exactly(settings, body):
    """Each SEARCH's schema is the exact dimension set of one read, in the mesh namespace."""
    namespace = metric_namespace(settings.mesh_name)
    reads = dashboard_reads(settings)
    searches = [
        entry[0]["expression"]
        for w in _widgets(body, "metric")
        for entry in w["properties"]["metrics"]
        if isinstance(entry[0], dict) and entry[0]["expression"].startswith("SEARCH")
    ]
    assert searches
    for expression in searches:
        match = SEARCH.match(expression)
        assert match, expression
        schema = [part.strip('"') for part in match["schema"].split(",")]
        assert schema[0] == namespace and STAT.match(match["stat"])
        name = re.search(r'MetricName="([^"]+)"', match["terms"])[1]
        keys = set(re.findall(r'(?:^| )([\w.]+)="', match["terms"])) - {"MetricName"}
        assert keys <= set(schema[1:]), expression
        assert any(r.name == name and [k for k, _ in r.dimensions] == schema[1:] for r in reads)


def test_dashboard_follows_the_service_list(settings):
    """Adding a service changes no SEARCH widget; only the per-service error math and the
    log widget's list of log groups grow."""
    config = stack_config("dev")
    config["mesh-visibility:services"] = [
        *config["mesh-visibility:services"],
        {"name": "farewell", "port": 3000},
    ]
    grown = settings_from_config(config)
    before, after = dashboard_body(settings, LB, TG), dashboard_body(grown, LB, TG)
    # Not strict: the new service's SLO rows are added after the widgets compared.
    pairs = zip(before["widgets"], after["widgets"], strict=False)
    changed = [a["properties"].get("title") for b, a in pairs if a != b]
    assert changed == [
        "5xx rate per service (%, as the alarms see it)",
        f"Latest 5xx responses (Envoy access logs: {sampling_note(settings)})",
    ]


def test_log_queries_and_widget_say_what_is_sampled(settings):
    """Under the default policy every 5xx/flagged/slow request is logged and healthy ones are
    sampled: each saved query and the log widget say so; with accessLog off there are none."""
    assert "healthy requests are a 1% sample" in sampling_note(settings)
    assert "every request of 1000 ms or more" in sampling_note(settings)
    for query in query_definitions(settings):
        assert query["query_string"].endswith(f"\n# Access logs: {sampling_note(settings)}.")
    (widget,) = _widgets(dashboard_body(settings, LB, TG), "log")
    assert "healthy requests are a 1% sample" in widget["properties"]["title"]
    assert "not logged" in sampling_note(_variant(accessLog="errors"))
    off = _variant(accessLog="off")
    assert query_definitions(off) == []
    assert _widgets(dashboard_body(off, LB, TG), "log") == []


def test_error_rate_widget_is_the_alarms_math():
    """Per service, the widget divides the very metrics the 5xx alarm (of a service without an
    SLO) divides."""
    settings = _variant(slo=False)
    body = dashboard_body(settings, LB, TG)
    widget = next(
        w for w in _widgets(body, "metric") if w["properties"]["title"].startswith("5xx rate")
    )
    lines = {
        e[-1]["id"]: (e[1], tuple(e[2:-1]))
        for e in widget["properties"]["metrics"]
        if not isinstance(e[0], dict)
    }
    expressions = [e[0] for e in widget["properties"]["metrics"] if isinstance(e[0], dict)]
    alarms = [s for s in alarm_specs(settings) if s["name"].endswith("-5xx-rate")]
    assert len(expressions) == len(alarms) == len(settings.app_services)
    for expression, alarm in zip(expressions, alarms, strict=True):
        queries = {q["id"]: q for q in alarm["metric_queries"]}
        math = queries["error_rate"]["expression"]
        for alarm_id in ("errors", "requests"):
            (widget_id,) = [
                i for i in _expression_ids(expression["expression"]) if i.startswith(alarm_id)
            ]
            math = re.sub(rf"\b{alarm_id}\b", widget_id, math)
            metric = queries[alarm_id]["metric"]
            flat = tuple(part for pair in metric["dimensions"].items() for part in pair)
            assert lines[widget_id] == (metric["metric_name"], flat)
        assert math == expression["expression"]
    assert (
        widget["properties"]["annotations"]["horizontal"][0]["value"]
        == settings.error_rate_alarm_percent
    )


def test_load_balancer_widgets_only_with_a_load_balancer(settings):
    def alb_metrics(b):
        return [
            e
            for w in _widgets(b, "metric")
            for e in w["properties"]["metrics"]
            if e[0] == ALB_NAMESPACE
        ]

    assert alb_metrics(dashboard_body(settings, None, None)) == []
    with_lb = alb_metrics(dashboard_body(settings, LB, None))
    assert {e[1] for e in with_lb} >= {"RequestCount", "TargetResponseTime"}
    assert all(e[2:4] == ["LoadBalancer", LB] for e in with_lb)
    with_tg = alb_metrics(dashboard_body(settings, LB, TG))
    assert {e[1] for e in with_tg} - {e[1] for e in with_lb} == {
        "HealthyHostCount",
        "UnHealthyHostCount",
    }


def test_log_widget_queries_every_envoy_log_group(settings, body):
    (widget,) = _widgets(body, "log")
    props = widget["properties"]
    assert set(props) <= LOG_PROPERTIES and props["region"] == settings.region
    sources = re.findall(r"SOURCE '([^']+)'", props["query"])
    assert sources == [
        log_group_name(settings.mesh_name, s.name, "envoy") for s in settings.services
    ]
    for widget in _widgets(body, "text"):
        assert set(widget["properties"]) <= TEXT_PROPERTIES and widget["properties"]["markdown"]


def test_metric_names_cover_the_original_walkthrough(settings):
    names = dashboard_metric_names(settings)
    # Not the walkthrough's downstream_rq_total (requests are the request time's sample count)
    # nor downstream_cx_http1_active (HTTP/1.1 only: it repeats downstream_cx_active).
    assert {
        "envoy_http_downstream_cx_total",
        "envoy_http_downstream_cx_active",
        "envoy_http_downstream_cx_http2_total",
        "envoy_http_downstream_rq_xx",
        "envoy_http_downstream_rq_time",
        "envoy_cluster_upstream_rq_time",
    } == names - {"envoy_cluster_upstream_rq_retry", "envoy_cluster_membership_healthy"}
    assert alarm_metric_names(settings) <= names


# -- alarms ------------------------------------------------------------------------------------


def _bind(cls, kwargs: dict) -> None:
    inspect.signature(cls.__init__).bind_partial(None, **kwargs)


def test_alarm_specs_bind_to_the_pulumi_resource(settings):
    specs = alarm_specs(settings)
    called = {u for s in settings.services for u in s.upstreams}
    assert len(specs) == 2 * len(threshold_alarm_services(settings)) + len(called)
    assert len({s["name"] for s in specs}) == len(specs)
    for spec in specs:
        _bind(aws.cloudwatch.MetricAlarmArgs, spec)
        for query in spec.get("metric_queries", []):
            _bind(aws.cloudwatch.MetricAlarmMetricQueryArgs, query)
            if "metric" in query:
                _bind(aws.cloudwatch.MetricAlarmMetricQueryMetricArgs, query["metric"])


def _put_metric_alarm_params(spec: dict) -> dict:
    """The PutMetricAlarm request the provider makes from these arguments."""

    def dims(mapping):
        return [{"Name": k, "Value": v} for k, v in mapping.items()]

    params = {
        "AlarmName": f"{spec['name']}-0123456",
        "AlarmDescription": spec["alarm_description"],
        "EvaluationPeriods": spec["evaluation_periods"],
        "Threshold": spec["threshold"],
        "DatapointsToAlarm": spec["datapoints_to_alarm"],
        "ComparisonOperator": spec["comparison_operator"],
        "TreatMissingData": spec["treat_missing_data"],
        "Tags": [{"Key": k, "Value": v} for k, v in spec["tags"].items()],
    }
    if "metric_queries" in spec:
        params["Metrics"] = []
        for q in spec["metric_queries"]:
            query = {"Id": q["id"], "ReturnData": q["return_data"]}
            if "expression" in q:
                query.update(Expression=q["expression"], Label=q["label"])
            else:
                m = q["metric"]
                query["MetricStat"] = {
                    "Metric": {
                        "Namespace": m["namespace"],
                        "MetricName": m["metric_name"],
                        "Dimensions": dims(m["dimensions"]),
                    },
                    "Period": m["period"],
                    "Stat": m["stat"],
                }
            params["Metrics"].append(query)
    else:
        params.update(
            Namespace=spec["namespace"],
            MetricName=spec["metric_name"],
            Dimensions=dims(spec["dimensions"]),
            Period=spec["period"],
        )
        if "extended_statistic" in spec:
            params["ExtendedStatistic"] = spec["extended_statistic"]
        else:
            params["Statistic"] = spec["statistic"]
    return params


def test_alarms_are_valid_put_metric_alarm_requests(settings):
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model("PutMetricAlarm").input_shape
    enums = {name: set(shape.members[name].enum) for name in ("ComparisonOperator",)}
    for spec in alarm_specs(settings):
        params = _put_metric_alarm_params(spec)
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        assert params["ComparisonOperator"] in enums["ComparisonOperator"]
        assert params["TreatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}


def test_alarm_queries_are_consistent(settings):
    for spec in alarm_specs(settings):
        if spec["name"].endswith("-no-healthy-hosts"):
            assert (spec["threshold"], spec["comparison_operator"]) == (1.0, "LessThanThreshold")
            assert spec["statistic"] == "Minimum" and "metric_queries" not in spec
            continue
        if "metric_queries" not in spec:
            assert re.match(r"^p\d{1,2}(\.\d+)?$", spec["extended_statistic"])
            assert spec["threshold"] == settings.latency_alarm_ms
            continue
        # With metric_queries the alarm must not also name a metric of its own.
        assert not {"metric_name", "namespace", "dimensions", "statistic"} & set(spec)
        queries = spec["metric_queries"]
        ids = [q["id"] for q in queries]
        assert all(METRIC_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
        assert [q["return_data"] for q in queries].count(True) == 1
        for q in queries:
            if "expression" in q:
                assert _expression_ids(q["expression"]) <= set(ids) - {q["id"]}
        assert spec["threshold"] == settings.error_rate_alarm_percent


def test_alarm_metrics_are_in_the_mesh_namespace_with_every_dimension(settings):
    namespace = metric_namespace(settings.mesh_name)
    reads = {(r.name, r.dimensions) for r in alarm_reads(settings)}
    for spec in alarm_specs(settings):
        metrics = [q["metric"] for q in spec.get("metric_queries", []) if "metric" in q] or [spec]
        # A service's own metrics, or (no healthy hosts) its callers' per-upstream aggregate.
        whose = "envoy.cluster_name" if spec["name"].endswith("-no-healthy-hosts") else "service"
        for m in metrics:
            assert m["namespace"] == namespace
            assert m["dimensions"][whose] == spec["tags"]["service"]
            assert {"mesh", "metric_type"} <= set(m["dimensions"])
            assert (m["metric_name"], tuple(sorted(m["dimensions"].items()))) in reads


def test_alarm_thresholds_follow_the_settings():
    config = stack_config("dev")
    config["mesh-visibility:latencyAlarmMs"] = 250
    config["mesh-visibility:errorRateAlarmPercent"] = 1.5
    # Threshold alarms are for the services without an SLO.
    config["mesh-visibility:slo"] = False
    specs = alarm_specs(settings_from_config(config))
    thresholds = {s["threshold"] for s in specs if not s["name"].endswith("-no-healthy-hosts")}
    assert thresholds == {250.0, 1.5}


# -- Logs Insights -----------------------------------------------------------------------------


def test_query_definitions_bind_and_are_valid_requests(settings):
    model = botocore.session.get_session().get_service_model("logs")
    shape = model.operation_model("PutQueryDefinition").input_shape
    queries = query_definitions(settings)
    assert len({q["name"] for q in queries}) == len(queries) >= 2
    for query in queries:
        _bind(aws.cloudwatch.QueryDefinitionArgs, query)
        request = {
            "name": query["name"],
            "queryString": query["query_string"],
            "logGroupNames": query["log_group_names"],
        }
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()


def test_queries_read_the_envoy_log_groups_and_access_log_fields(settings):
    groups = [log_group_name(settings.mesh_name, s.name, "envoy") for s in settings.services]
    written = {*ACCESS_LOG_FORMAT, "service", "listener"}
    titles = [q["name"].rsplit("/", 1)[1] for q in query_definitions(settings)]
    assert {"503s by response flag", "Slowest requests"} <= set(titles)
    for query in query_definitions(settings):
        assert query["log_group_names"] == groups
        fields = query_fields(query["query_string"])
        assert fields and fields <= written, fields - written


def test_query_fields_sees_fields_not_keywords_or_literals():
    assert query_fields(
        'filter ispresent(a) and b = "c d" and e like /f g/\n'
        "| stats count(*) as n by h\n| sort n desc\n# x y"
    ) == {"a", "b", "e", "h"}


def test_search_quotes_names_that_need_it():
    """ "You must enclose the name that contains those characters with double quotes": every
    namespace or dimension name in the schema with a character other than a letter or digit
    (CloudWatch search expression syntax; dashboards/cloudwatch/dashboard.py cites it)."""
    config = stack_config("dev")
    config["mesh-visibility:meshName"] = "my-mesh"
    body = dashboard_body(settings_from_config(config), None, None)
    expression = body["widgets"][1]["properties"]["metrics"][0][0]["expression"]
    assert expression.startswith(
        'SEARCH(\'{"MeshVisibility/my-mesh","envoy.http_conn_manager_prefix",mesh,'
    )
    assert 'mesh="my-mesh"' in expression and SEARCH.match(expression)
    for widget in _widgets(body, "metric"):
        for entry in widget["properties"]["metrics"]:
            if isinstance(entry[0], dict) and entry[0]["expression"].startswith("SEARCH"):
                schema = SEARCH.match(entry[0]["expression"])["schema"].split(",")
                assert all(
                    name.isalnum() or (name[0] == name[-1] == '"' and not name[1:-1].isalnum())
                    for name in schema
                )
                assert "envoy.cluster_name" not in schema


def test_gauges_shared_by_tasks_are_shown_per_task():
    """Active-connection gauges have no host dimension: every task of a service feeds one
    metric, ~6 samples per task and minute, so Sum would not be a total. The widgets show
    the mean per task and say so."""
    body = dashboard_body(stack_settings("dev"), None, None)
    gauges = [
        w["properties"] for w in _widgets(body, "metric") if "downstream_cx_active" in json.dumps(w)
    ]
    assert len(gauges) == 1
    for properties in gauges:
        assert "per task" in properties["title"]
        assert properties["yAxis"]["left"]["label"] == "connections per task"
        expression = properties["metrics"][0][0]["expression"]
        assert properties["stat"] == "Average" and expression.endswith(", 'Average', 60)")


def test_upstream_reads_leave_out_the_sidecars_own_clusters():
    """They read the agent's per-upstream aggregate: not a caller's own datum, not the
    aggregate of a sidecar's own cluster."""
    read = upstream("greeting", "membership_healthy", "gauge")
    dims = {"mesh": "greeting", "metric_type": "gauge"}
    for cluster, expected in (("greeting", True), ("local_app", False), ("envoy_admin", False)):
        published = tuple(sorted({**dims, "envoy.cluster_name": cluster}.items()))
        assert read.matches("envoy_cluster_membership_healthy", published) is expected
    assert not read.matches(
        "envoy_cluster_membership_healthy",
        tuple(sorted({**dims, "envoy.cluster_name": "greeting", "service": "greeter"}.items())),
    )
    one = upstream("greeting", "membership_healthy", "gauge", "name")
    assert one.matches(
        "envoy_cluster_membership_healthy",
        tuple(sorted({**dims, "envoy.cluster_name": "name"}.items())),
    )
