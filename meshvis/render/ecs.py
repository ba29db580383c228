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


def ecs_documents(settings: Settings) -> dict[str, str]:
    """The documents of an ``ecs`` stack.

    The dashboard names the load balancer by placeholder ARN suffixes: the real ones exist
    only once it is deployed (the stack's dashboard uses them).
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
    load_balancer = target_group = None
    if settings.entry_service is not None:
        load_balancer = f"app/{settings.mesh_name}-alb/EXAMPLE"
        target_group = f"targetgroup/{settings.mesh_name}-tg/EXAMPLE"
    documents["cloudwatch-dashboard.json"] = _json(
        dashboard_body(settings, load_balancer, target_group)
    )
    documents["alarms.json"] = _json(alarm_specs(settings))
    documents["logs-insights-queries.json"] = _json(query_definitions(settings))
    return documents


def _json(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
