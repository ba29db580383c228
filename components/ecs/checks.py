"""Rules an ``ecs`` stack must meet beyond its settings, checked before any resource exists."""

from __future__ import annotations

import json

from components.ecs.containers import task_definition
from components.settings.errors import ConfigError
from components.settings.model import ServiceSpec, Settings

# Largest task definition ECS accepts (RegisterTaskDefinition, 64 KiB of JSON), less room for
# the two role ARNs that are only known once the roles exist.
MAX_TASK_DEFINITION_BYTES = 64 * 1024 - 512


def task_definition_size(settings: Settings, service: ServiceSpec) -> int:
    """Bytes of the task definition's JSON, as ECS counts them against its 64 KiB limit."""
    return len(json.dumps(task_definition(settings, service), separators=(",", ":")).encode())


def check_task_definition_sizes(settings: Settings) -> None:
    """Raise ``ConfigError`` for a service whose task definition ECS would reject as too large.

    Each upstream adds a listener and a cluster (about 3.1 KB of task definition) to the
    bootstrap carried on Envoy's command line: with the demo app a service fits 14 upstreams.
    """
    for i, service in enumerate(settings.services):
        size = task_definition_size(settings, service)
        if size > MAX_TASK_DEFINITION_BYTES:
            raise ConfigError(f"services[{i}].upstreams",
                              f"the ECS task definition of {service.name!r} would be {size} "
                              f"bytes, over ECS's limit of {MAX_TASK_DEFINITION_BYTES} (with "
                              "room for its role ARNs); give it fewer upstreams")
