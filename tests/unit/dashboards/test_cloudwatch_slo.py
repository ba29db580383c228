"""The SLO burn-rate alarms and composites of the ECS stack (dashboards/cloudwatch/slo.py):
valid PutMetricAlarm / PutCompositeAlarm requests by botocore's CloudWatch model, within its
evaluation-range limits, their metric math evaluated at and around the Workbook's thresholds,
the composites naming exactly the alarms that exist, and their price."""

from __future__ import annotations

import inspect
import json
import math
import re

import botocore.session
import pulumi_aws as aws
import pytest
from botocore.validate import ParamValidator

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from dashboards.burn_rates import BURN_RATE_ALERTS, PAGE, TICKET
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.prices import (
    alarms_monthly_usd,
    metric_alarm_monthly_usd,
    stack_monthly_usd,
)
from dashboards.cloudwatch.slo import (
    AVAILABILITY,
    LATENCY,
    MAX_RANGE_S,
    MAX_RANGE_SHORT_PERIOD_S,
    alarm_rule,
    alert_topic_policy,
    check_evaluation_range,
    composite_alarm_specs,
    measured_latency_bound_ms,
    rule_alarm_names,
    slo_alarm_specs,
    slo_reads,
)
from tests.unit.dashboards.test_cloudwatch import _put_metric_alarm_params

TOPIC = "arn:aws:sns:us-west-2:111122223333:greeting-alerts"
MODEL = botocore.session.get_session().get_service_model("cloudwatch")
# "PR(n:m)": percentile rank, either bound optional (PutMetricAlarm ExtendedStatistic).
PERCENTILE_RANK = re.compile(r"^PR\((\d+(\.\d+)?)?:(\d+(\.\d+)?)?\)$")


@pytest.fixture(scope="module")
def settings():
    return stack_settings("dev")


def _variant(**changes):
    config = stack_config("dev")
    config.update({f"mesh-visibility:{k}": v for k, v in changes.items()})
    return settings_from_config(config)


def _bind(cls, kwargs: dict) -> None:
    inspect.signature(cls.__init__).bind_partial(None, **kwargs)


def test_every_alarm_is_a_valid_put_metric_alarm_request(settings):
    shape = MODEL.operation_model("PutMetricAlarm").input_shape
    specs = slo_alarm_specs(settings)
    assert len(specs) == 2 * 8 * len(settings.slo_services) == 48
    for spec in specs:
        kwargs = {k: v for k, v in spec.items() if k != "resource_name"}
        _bind(aws.cloudwatch.MetricAlarmArgs, kwargs)
        for query in spec["metric_queries"]:
            _bind(aws.cloudwatch.MetricAlarmMetricQueryArgs, query)
        params = _put_metric_alarm_params({**spec, "name": spec["name"]})
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        assert [q["return_data"] for q in spec["metric_queries"]].count(True) == 1
        # No actions: the composites notify.
        assert not {"alarm_actions", "ok_actions", "insufficient_data_actions"} & set(spec)
        stats = {q["metric"]["stat"] for q in spec["metric_queries"] if "metric" in q}
        # Availability: 5xx (Sum) over the responses (the request time's SampleCount).
        assert stats in ({"Sum", "SampleCount"}, {"PR(:300)"}), stats
        assert all(s in ("Sum", "SampleCount") or PERCENTILE_RANK.match(s) for s in stats)
    assert len({s["name"] for s in specs}) == len({s["resource_name"] for s in specs}) == 48


def test_every_composite_is_a_valid_put_composite_alarm_request(settings):
    shape = MODEL.operation_model("PutCompositeAlarm").input_shape
    specs = composite_alarm_specs(settings, TOPIC)
    assert len(specs) == 2 * 2 * len(settings.slo_services)
    for spec in specs:
        kwargs = {k: v for k, v in spec.items() if k != "resource_name"}
        _bind(aws.cloudwatch.CompositeAlarmArgs, kwargs)
        params = {
            "AlarmName": spec["alarm_name"],
            "AlarmRule": spec["alarm_rule"],
            "AlarmDescription": spec["alarm_description"],
            "ActionsEnabled": spec["actions_enabled"],
            "AlarmActions": spec["alarm_actions"],
            "OKActions": spec["ok_actions"],
            "Tags": [{"Key": k, "Value": v} for k, v in spec["tags"].items()],
        }
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        assert spec["alarm_actions"] == spec["ok_actions"] == [TOPIC]
        assert spec["tags"]["severity"] in (PAGE, TICKET)
        assert spec["tags"]["slo"] in (AVAILABILITY, LATENCY)


def test_composite_rules_name_exactly_the_alarms_that_exist(settings):
    """Each rule names the two windows of each pair of its severity, and together the rules
    name every SLO alarm once: no alarm is left without a composite, none is made up."""
    alarms = {s["name"]: s for s in slo_alarm_specs(settings)}
    named: list[str] = []
    for spec in composite_alarm_specs(settings, TOPIC):
        children = rule_alarm_names(spec["alarm_rule"])
        tags = spec["tags"]
        assert len(children) == 2 * len(
            [a for a in BURN_RATE_ALERTS if a.severity == tags["severity"]]
        )
        for child in children:
            assert {k: alarms[child]["tags"][k] for k in tags} == tags
        named += children
    assert sorted(named) == sorted(alarms)


def test_rule_is_an_or_of_and_pairs(settings):
    rule = alarm_rule(settings, "greeter", LATENCY, PAGE)
    assert rule == (
        '(ALARM("mesh-visibility-greeting-greeter-latency-14.4x-1h") AND '
        'ALARM("mesh-visibility-greeting-greeter-latency-14.4x-5m")) OR '
        '(ALARM("mesh-visibility-greeting-greeter-latency-6x-6h") AND '
        'ALARM("mesh-visibility-greeting-greeter-latency-6x-30m"))'
    )


def test_evaluation_ranges_are_within_put_metric_alarm_limits(settings):
    """The limits as botocore's own model of PutMetricAlarm documents them, and every alarm
    within them (the 3-day window as one period of 259,200 s)."""
    period_doc = MODEL.operation_model("PutMetricAlarm").input_shape.members["Period"].documentation
    assert "604,800 seconds" in period_doc and "86,400 seconds" in period_doc
    assert (MAX_RANGE_S, MAX_RANGE_SHORT_PERIOD_S) == (604_800, 86_400)
    for spec in slo_alarm_specs(settings):
        for query in spec["metric_queries"]:
            if "metric" in query:
                check_evaluation_range(query["metric"]["period"], spec["evaluation_periods"])
    periods = {
        q["metric"]["period"]
        for s in slo_alarm_specs(settings)
        for q in s["metric_queries"]
        if "metric" in q
    }
    assert periods == {300, 1800, 3600, 7200, 21600, 86400, 259200}
    with pytest.raises(ValueError):
        check_evaluation_range(300, 289)  # over a day at a period under an hour
    with pytest.raises(ValueError):
        check_evaluation_range(259_200, 3)  # over seven days
    with pytest.raises(ValueError):
        check_evaluation_range(90, 1)  # not a multiple of 60 s


def _evaluate(spec: dict, values: dict[str, float]) -> float:
    """The alarm's returned expression over one period's statistics (FILL of a present value
    is the value; ids are plain names)."""
    (expression,) = [q["expression"] for q in spec["metric_queries"] if "expression" in q]
    python = re.sub(r"FILL\((\w+), 0\)", r"\1", expression)
    return eval(python, {}, dict(values))


@pytest.mark.parametrize("alert", BURN_RATE_ALERTS, ids=lambda a: f"{a.factor:g}x")
def test_each_window_fires_just_above_its_burn_rate_and_not_below(settings, alert):
    """At 1 % above the Workbook's threshold error ratio (factor x budget) both windows of the
    pair breach, at 1 % below neither does, for either SLI."""
    slo = settings.slo_for(settings.slo_services[0])
    specs = [s for s in slo_alarm_specs(settings) if s["threshold"] == alert.factor]
    assert len(specs) == 2 * 2 * len(settings.slo_services)
    for spec in specs:
        for scale, fires in ((1.01, True), (0.99, False)):
            if spec["tags"]["slo"] == AVAILABILITY:
                ratio = alert.factor * (1 - slo.availability / 100) * scale
                values = {"errors": ratio * 1000, "requests": 1000}
            else:
                values = {"within": 100 - alert.factor * (100 - slo.latency_percent) * scale}
            assert (_evaluate(spec, values) > spec["threshold"]) is fires


def test_latency_alarms_read_the_ingress_request_time_as_percentile_rank(settings):
    for spec in slo_alarm_specs(settings):
        if spec["tags"]["slo"] != LATENCY:
            continue
        (query,) = [q for q in spec["metric_queries"] if "metric" in q]
        (read,) = slo_reads(settings, spec["tags"]["service"])[LATENCY]
        assert query["metric"]["metric_name"] == read.name == "envoy_http_downstream_rq_time"
        assert query["metric"]["dimensions"]["envoy.http_conn_manager_prefix"] == "ingress"
        assert query["metric"]["stat"] == "PR(:300)"


def test_measured_latency_bound_is_the_agents_bucket_edge():
    """What PR(:L) counts as fast, request by request, when the agent ships each request time
    as its bucket's mid-point (seh1: buckets 10 % wide): exactly the times under the bound."""

    def published(ms: float) -> float:
        bucket = math.floor(math.log(ms) / math.log(1.1))
        return math.exp((bucket + 0.5) * math.log(1.1))

    for latency_ms in (100, 250, 300, 400, 500, 1000, 2500):
        bound = measured_latency_bound_ms(latency_ms)
        assert abs(bound - latency_ms) / latency_ms < 0.1
        for ms in range(1, 4 * latency_ms):
            assert (published(ms) <= latency_ms) is (ms < bound), (latency_ms, ms)
    assert round(measured_latency_bound_ms(300), 1) == 304.5


def test_no_slo_no_alarms_and_per_service_overrides_apply():
    assert slo_alarm_specs(_variant(slo=False)) == []
    assert composite_alarm_specs(_variant(slo=False), TOPIC) == []
    config = stack_config("dev")
    services = config["mesh-visibility:services"]
    services[0] = {**services[0], "slo": {"latencyMs": 500, "availability": 99.5}}
    services[1] = {**services[1], "slo": False}
    settings = settings_from_config(config)
    specs = slo_alarm_specs(settings)
    assert {s["tags"]["service"] for s in specs} == {s.name for s in settings.slo_services}
    assert services[1]["name"] not in {s["tags"]["service"] for s in specs}
    first = [s for s in specs if s["tags"]["service"] == services[0]["name"]]
    expressions = {q["expression"] for s in first for q in s["metric_queries"] if "expression" in q}
    assert "100 * FILL(errors, 0) / requests / 0.5" in expressions
    stats = {q["metric"]["stat"] for s in first for q in s["metric_queries"] if "metric" in q}
    assert "PR(:500)" in stats


def test_slo_alarms_cost_at_most_five_dollars_per_service_a_month(settings):
    """us-east-1 list prices: per service 8 availability alarms of 2 metrics, 8 latency alarms
    of 1, 4 composites: 1.60 + 0.80 + 2.00."""
    per_service = alarms_monthly_usd(
        slo_alarm_specs(settings), len(composite_alarm_specs(settings, TOPIC))
    ) / len(settings.slo_services)
    assert per_service == pytest.approx(4.40)
    assert per_service <= 5.0


def test_topic_policy_is_for_this_accounts_alarms_only():
    policy = alert_topic_policy(TOPIC)
    (statement,) = policy["Statement"]
    assert statement["Resource"] == TOPIC
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-west-2:111122223333:alarm:*"},
    }


def test_the_run_summarys_monthly_cost_includes_every_alarm(settings):
    """What `meshvis run` reports as cloudwatch.monthly_usd: metrics plus, on ecs, every alarm
    (3 services: 3 x 4.40 of SLO alarms; the others of dashboards/cloudwatch/alarms.py)."""
    others = sum(metric_alarm_monthly_usd(spec) for spec in alarm_specs(settings))
    cost = stack_monthly_usd(settings, 100)
    assert cost["metrics_monthly_usd"] == 30.0
    assert cost["alarms_monthly_usd"] == pytest.approx(13.20 + others)
    assert cost["monthly_usd"] == pytest.approx(30.0 + 13.20 + others)
    assert stack_monthly_usd(stack_settings("dev-eks"), 100)["alarms_monthly_usd"] == 0.0


@pytest.mark.parametrize("availability", [99.999, 99.99999])
def test_tiny_budgets_are_fixed_point_numbers_in_the_metric_math(availability):
    """Metric math has decimal numbers, no exponent: ``f"{0.00001:g}"`` is ``1e-05``. Every
    SLO alarm's and dashboard widget's expression divides or multiplies by the budget
    written out in fixed point."""
    settings = _variant(slo={"availability": availability})
    budget = f"{100 - availability:.10f}".rstrip("0")
    expressions = [
        q["expression"]
        for spec in slo_alarm_specs(settings)
        if spec["tags"]["slo"] == AVAILABILITY
        for q in spec["metric_queries"]
        if "expression" in q
    ]
    assert expressions and all(e.endswith(f"/ {budget}") for e in expressions)
    body = json.dumps(dashboard_body(settings, None, None))
    assert "e-0" not in body and f"* {budget}" in body
