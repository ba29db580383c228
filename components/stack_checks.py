"""Rules a stack must also meet on its topology, checked together with its settings.

``settings.py`` validates every value and the service graph. These rules need what a topology
builds from the settings, so they live beside those builders: the size of an ECS task
definition (``ecs_containers``) and the namespaces an EKS cluster already has
(``k8s_objects``). The program and the command line load every stack through
``checked_settings``, so a stack that breaks one of them stops before any resource is
registered or any process started, with the same one-line message everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.ecs_containers import check_task_definition_sizes
from components.k8s_objects import check_kubernetes_namespace
from components.settings import Settings, settings_from_config


def check_topology(settings: Settings) -> None:
    """Raise ``ConfigError`` if the stack's topology could not deploy ``settings``."""
    if settings.topology == "ecs":
        check_task_definition_sizes(settings)
    else:
        check_kubernetes_namespace(settings)


def checked_settings(config: Mapping[str, Any]) -> Settings:
    """``settings_from_config`` plus the topology's own rules; raises ``ConfigError``."""
    settings = settings_from_config(config)
    check_topology(settings)
    return settings
