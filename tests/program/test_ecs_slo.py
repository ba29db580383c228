"""The SLO alarms of an ecs stack under mocks: every burn-rate alarm and composite registered
with the inputs its spec gives, the composites notifying the mesh's topic and depending on the
alarms their rules name, the topic's policy and the optional email subscription."""

from __future__ import annotations

import json
import re

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from dashboards.cloudwatch.slo import composite_alarm_specs, rule_alarm_names, slo_alarm_specs
from tests.support.pulumi_harness import ProgramRun, run_program

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


def _camel(value):
    """A spec (snake_case keyword arguments) as the engine receives it (camelCase inputs; the
    keys of a map input, such as a metric's dimensions, as they are)."""
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z])", lambda m: m[1].upper(), k): v if k == "dimensions" else _camel(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _config(**changes) -> dict:
    config = stack_config("dev")
    config.update({f"mesh-visibility:{k}": v for k, v in changes.items()})
    return config


@pytest.fixture(scope="module")
def dev() -> tuple[dict, ProgramRun]:
    config = _config()
    return config, run_program(config, "dev")


def _topic_arn(run: ProgramRun, mesh: str) -> str:
    # The ARN the mocks give a resource (tests/support/pulumi_harness.py).
    return f"arn:aws:mock:us-west-2:123456789012:topic/{mesh}-alerts"


def test_every_slo_alarm_is_registered_as_specified_without_actions(dev):
    config, run = dev
    settings = settings_from_config(config)
    mesh = settings.mesh_name
    specs = slo_alarm_specs(settings)
    assert len(specs) == 2 * 8 * len(settings.slo_services) > 0
    for spec in specs:
        registered = run.one(METRIC_ALARM, f"{mesh}-{spec['resource_name']}").inputs
        expected = _camel({k: v for k, v in spec.items() if k not in ("resource_name", "tags")})
        assert {k: registered[k] for k in expected} == expected
        assert registered["tags"] == {"mesh-visibility:mesh": mesh, **spec["tags"]}
        # One notification per page or ticket: the composites act, the windows do not.
        assert not {"alarmActions", "okActions", "insufficientDataActions"} & set(registered)


def test_composites_notify_the_topic_and_depend_on_the_alarms_they_name(dev):
    config, run = dev
    settings = settings_from_config(config)
    mesh = settings.mesh_name
    topic = _topic_arn(run, mesh)
    alarms = {r.inputs["name"]: r.name for r in run.of_type(METRIC_ALARM) if "name" in r.inputs}
    specs = composite_alarm_specs(settings, topic)
    assert len(specs) == len(run.of_type(COMPOSITE)) == 2 * 2 * len(settings.slo_services)
    for spec in specs:
        name = f"{mesh}-{spec['resource_name']}"
        registered = run.one(COMPOSITE, name).inputs
        expected = _camel({k: v for k, v in spec.items() if k not in ("resource_name", "tags")})
        assert {k: registered[k] for k in expected} == expected
        assert registered["alarmActions"] == registered["okActions"] == [topic]
        children = rule_alarm_names(spec["alarm_rule"])
        assert set(children) <= set(alarms)
        dependencies = run.options[(COMPOSITE, name)].dependencies
        assert {(METRIC_ALARM, alarms[child]) for child in children} <= dependencies


def test_topic_policy_lets_only_this_accounts_cloudwatch_publish(dev):
    _, run = dev
    (topic,) = run.of_type(TOPIC)
    (policy,) = run.of_type(TOPIC_POLICY)
    arn = _topic_arn(run, topic.name.removesuffix("-alerts"))
    assert policy.inputs["arn"] == arn
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
        "Allow",
        "sns:Publish",
        arn,
    )
    # Only AWS's own example's condition (ArnLike aws:SourceArn): no key CloudWatch may not
    # send (aws:SourceAccount), which would silently drop every notification.
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:*"}
    }
    assert run.of_type(SUBSCRIPTION) == []


def test_alert_email_subscribes_an_address():
    run = run_program(_config(alertEmail="oncall@example.com"), "dev")
    (subscription,) = run.of_type(SUBSCRIPTION)
    (topic,) = run.of_type(TOPIC)
    assert subscription.inputs == {
        "topic": _topic_arn(run, topic.name.removesuffix("-alerts")),
        "protocol": "email",
        "endpoint": "oncall@example.com",
    }


def test_no_slo_no_slo_alarms_but_the_topic_stays():
    run = run_program(_config(slo=False), "dev")
    assert run.of_type(COMPOSITE) == []
    names = {r.inputs["name"] for r in run.of_type(METRIC_ALARM) if "name" in r.inputs}
    assert not [n for n in names if "-availability-" in n or "-latency-" in n]
    assert len(run.of_type(TOPIC)) == 1
