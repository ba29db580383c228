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


# The service keys that grow a task definition, each with its empty value and the advice.
GROWING_KEYS: dict[str, tuple[object, str]] = {
    "upstreams": ((), "give it fewer upstreams"),
    "env": ({}, "keep large values out of env (read them from a file or a secret)"),
    "command": (None, "shorten its command"),
}


def check_task_definition_sizes(settings: Settings) -> None:
    """Raise ``ConfigError`` for a service whose task definition ECS would reject as too large,
    naming the key that made it large.

    Each upstream adds a listener and a cluster (about 3.1 KB of task definition) to the
    bootstrap carried on Envoy's command line: with the demo app a service fits 14 upstreams.
    The app's ``env`` and ``command`` go into the task definition as written.
    """
    for i, service in enumerate(settings.services):
        size = task_definition_size(settings, service)
        if size > MAX_TASK_DEFINITION_BYTES:
            key = _largest_key(settings, service, size)
            raise ConfigError(
                f"services[{i}].{key}",
                f"the ECS task definition of {service.name!r} would be {size} "
                f"bytes, over ECS's limit of {MAX_TASK_DEFINITION_BYTES} (with "
                f"room for its role ARNs); {GROWING_KEYS[key][1]}",
            )


def _largest_key(settings: Settings, service: ServiceSpec, size: int) -> str:
    """The key of ``GROWING_KEYS`` whose value adds the most bytes to the task definition."""
    added = {
        key: size - task_definition_size(settings, service.model_copy(update={key: empty}))
        for key, (empty, _) in GROWING_KEYS.items()
    }
    return max(added, key=added.__getitem__)
