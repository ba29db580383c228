"""The documents of an ``ecs`` stack, as ``meshvis render`` writes them."""

from __future__ import annotations

import json

import yaml

from components.ecs.agent import cloudwatch_agent_config
from components.ecs.containers import container_definitions
from components.settings.model import Settings
from components.sidecar.bootstrap import envoy_bootstrap
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import alert_topic_policy, composite_alarm_specs, slo_alarm_specs


def ecs_documents(settings: Settings) -> dict[str, str]:
    """The documents of an ``ecs`` stack.

    The dashboard names the load balancer by placeholder ARN suffixes, the SLO composites and
    the topic policy the alert topic by a placeholder ARN: the real ones exist only once they
    are deployed (the stack's resources use them).
    """
    documents: dict[str, str] = {}
    for service in settings.services:
        documents[f"envoy/{service.name}.yaml"] = yaml.safe_dump(
            envoy_bootstrap(settings, service), sort_keys=False
        )
        documents[f"ecs/{service.name}-containers.json"] = _json(
            container_definitions(settings, service)
        )
    documents["cloudwatch-agent.json"] = _json(cloudwatch_agent_config(settings))
    documents["cloudwatch-dashboard.json"] = _json(
        dashboard_body(settings, *example_load_balancer(settings))
    )
    documents["alarms.json"] = _json(alarm_specs(settings))
    topic_arn = example_topic_arn(settings)
    documents["slo-alarms.json"] = _json(slo_alarm_specs(settings))
    documents["slo-composite-alarms.json"] = _json(composite_alarm_specs(settings, topic_arn))
    documents["alert-topic-policy.json"] = _json(alert_topic_policy(topic_arn))
    documents["logs-insights-queries.json"] = _json(query_definitions(settings))
    return documents


def example_load_balancer(settings: Settings) -> tuple[str | None, str | None]:
    """The load balancer's and target group's ARN suffixes in rendered documents (placeholders:
    the real ones exist once deployed); none without an entry service."""
    if settings.entry_service is None:
        return None, None
    return (
        f"app/{settings.mesh_name}-alb/EXAMPLE",
        f"targetgroup/{settings.mesh_name}-tg/EXAMPLE",
    )


def example_topic_arn(settings: Settings) -> str:
    """The alert topic's ARN in rendered documents: the real one exists once it is deployed
    (111122223333 is the account AWS's documentation uses in examples)."""
    return f"arn:aws:sns:{settings.region or 'us-east-1'}:111122223333:{settings.mesh_name}-alerts"


def _json(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
