"""The documents of an ``ecs`` stack, as ``meshvis render`` writes them."""

from __future__ import annotations

import json

import yaml

from components.ecs.agent import cloudwatch_agent_config
from components.ecs.containers import container_definitions
from components.ecs.documents import (
    Document,
    example_mesh_references,
    example_service_references,
    mesh_tags,
    service_component_name,
)
from components.ecs.mesh_documents import mesh_documents
from components.ecs.service_documents import service_documents
from components.settings.model import Settings
from components.sidecar.bootstrap import envoy_bootstrap
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import alert_topic_policy, composite_alarm_specs, slo_alarm_specs


def ecs_documents(settings: Settings) -> dict[str, str]:
    """The documents of an ``ecs`` stack.

    ``resources.json`` (shared) and ``resources/<service>.json`` hold every document the
    stack registers, as the components register it (components/ecs/documents.py); the other
    files are the same content in the form each tool reads (Envoy, ``aws ecs
    register-task-definition --container-definitions``, ``aws cloudwatch put-dashboard``...).
    What exists only once deployed (ARNs, IDs) is written as a placeholder
    (``example_*_references``): the stack's resources use the real ones. The resources are
    named as the program names them: the topology after the mesh, each service's component
    ``<mesh>-<service>``.
    """
    documents: dict[str, str] = {}
    for service in settings.services:
        documents[f"envoy/{service.name}.yaml"] = yaml.safe_dump(
            envoy_bootstrap(settings, service), sort_keys=False
        )
        documents[f"ecs/{service.name}-containers.json"] = _json(
            container_definitions(settings, service)
        )
        references = example_service_references(settings, service)
        name = service_component_name(settings.mesh_name, service.name)
        documents[f"resources/{service.name}.json"] = _resources(
            service_documents(settings, service, references, mesh_tags(settings), name)
        )
    documents["cloudwatch-agent.json"] = _json(cloudwatch_agent_config(settings))
    documents["cloudwatch-dashboard.json"] = _json(
        dashboard_body(settings, *example_load_balancer(settings))
    )
    topic_arn = example_topic_arn(settings)
    documents["alarms.json"] = _json(alarm_specs(settings, topic_arn))
    documents["slo-alarms.json"] = _json(slo_alarm_specs(settings))
    documents["slo-composite-alarms.json"] = _json(composite_alarm_specs(settings, topic_arn))
    documents["alert-topic-policy.json"] = _json(alert_topic_policy(topic_arn))
    documents["logs-insights-queries.json"] = _json(query_definitions(settings))
    documents["resources.json"] = _resources(
        mesh_documents(settings, example_mesh_references(settings), settings.mesh_name)
    )
    return documents


def example_load_balancer(settings: Settings) -> tuple[str | None, str | None]:
    """The load balancer's and target group's ARN suffixes in rendered documents (placeholders:
    the real ones exist once deployed); none without an entry service."""
    if settings.entry_service is None:
        return None, None
    references = example_mesh_references(settings)
    return references.load_balancer_arn_suffix, references.target_group_arn_suffix


def example_topic_arn(settings: Settings) -> str:
    """The alert topic's ARN in rendered documents: the real one exists once it is deployed."""
    return str(example_mesh_references(settings).topic_arn)


def _resources(documents: list[Document]) -> str:
    """Documents as a JSON list of ``{kind, name, args}``, in the order they are registered."""
    return _json([{"kind": d.kind, "name": d.name, "args": d.args} for d in documents])


def _json(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
