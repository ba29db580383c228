"""``python -m meshvis render``: every document a stack would deploy, written to a folder.

Made by the same pure functions the Pulumi program uses, so a user can read, diff or import
them (``aws ecs register-task-definition --container-definitions file://...``,
``aws cloudwatch put-dashboard --dashboard-body file://...``) without deploying anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from components.cloudwatch_agent import cloudwatch_agent_config
from components.ecs_containers import check_task_definition_sizes, container_definitions
from components.envoy_config import envoy_bootstrap
from components.settings import Settings
from dashboards.cloudwatch_alarms import alarm_specs
from dashboards.cloudwatch_dashboard import dashboard_body
from dashboards.logs_insights import query_definitions


def render_stack(settings: Settings, out: Path) -> list[Path]:
    """Write every generated document of the stack under ``out``; return the paths written."""
    return write_documents(stack_documents(settings), out)


def stack_documents(settings: Settings) -> dict[str, str]:
    """Every generated document of the stack: relative path -> file text."""
    if settings.topology == "eks":
        # Imported here so an ecs stack renders without the EKS modules' dependencies.
        from meshvis.render_eks import eks_documents

        return eks_documents(settings)
    return ecs_documents(settings)


def ecs_documents(settings: Settings) -> dict[str, str]:
    """The documents of an ``ecs`` stack.

    The dashboard names the load balancer by placeholder ARN suffixes: the real ones exist
    only once it is deployed (the stack's dashboard uses them). A service whose task
    definition ECS would refuse raises ``ConfigError``, as the program does.
    """
    check_task_definition_sizes(settings)
    documents: dict[str, str] = {}
    for service in settings.services:
        documents[f"envoy/{service.name}.yaml"] = yaml.safe_dump(
            envoy_bootstrap(settings, service), sort_keys=False)
        documents[f"ecs/{service.name}-containers.json"] = _json(
            container_definitions(settings, service))
    documents["cloudwatch-agent.json"] = _json(cloudwatch_agent_config(settings))
    load_balancer = target_group = None
    if settings.entry_service is not None:
        load_balancer = f"app/{settings.mesh_name}-alb/EXAMPLE"
        target_group = f"targetgroup/{settings.mesh_name}-tg/EXAMPLE"
    documents["cloudwatch-dashboard.json"] = _json(
        dashboard_body(settings, load_balancer, target_group))
    documents["alarms.json"] = _json(alarm_specs(settings))
    documents["logs-insights-queries.json"] = _json(query_definitions(settings))
    return documents


def write_documents(documents: dict[str, str], out: Path) -> list[Path]:
    """Write each ``relative path -> text`` under ``out`` (folders as needed)."""
    written = []
    for relative, text in documents.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def _json(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
