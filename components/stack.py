"""The composition root's pure half: a stack's settings with its topology's own rules.

``components/settings/`` validates every value and the service graph. The rules here need
what a topology builds from the settings, so each lives with its topology
(``components/ecs/checks.py``: the size of a task definition; ``components/eks/checks.py``:
the namespaces a cluster already has, the Kubernetes version's standard support, the size
of what a pod gets as environment). The program
(``components/program.py``) and the command line load every stack through
``checked_settings``, so a stack that breaks one of them stops before any resource is
registered or any process started, with the same one-line message everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from components.ecs.checks import check_task_definition_sizes
from components.eks.capacity import capacity_warning, check_node_capacity
from components.eks.checks import (
    check_api_access_cidrs,
    check_eks_version,
    check_env_sizes,
    check_kubernetes_namespace,
)
from components.settings.model import Settings
from components.settings.stack_files import PROJECT_ROOT, stack_config
from components.settings.validate import settings_from_config


def check_topology(settings: Settings, today: date) -> None:
    """Raise ``ConfigError`` if the stack's topology could not deploy ``settings`` on
    ``today`` (or only at a price it should not pay, such as EKS extended support)."""
    if settings.topology == "ecs":
        check_task_definition_sizes(settings)
    else:
        check_kubernetes_namespace(settings)
        check_eks_version(settings.eks_version, today)
        check_env_sizes(settings)
        check_api_access_cidrs(settings)
        check_node_capacity(settings)


def stack_warnings(settings: Settings) -> list[str]:
    """One line per thing that deploys but runs worse than it should (the program logs them
    at preview and `up`, ``meshvis render`` prints them): on EKS, pods that would not fit
    with one node lost."""
    if settings.topology != "eks":
        return []
    warning = capacity_warning(settings)
    return [warning] if warning else []


def checked_settings(config: Mapping[str, Any], today: date | None = None) -> Settings:
    """``settings_from_config`` plus the topology's own rules; raises ``ConfigError``.

    ``today`` defaults to the current date in UTC, the time zone AWS bills support in.
    """
    settings = settings_from_config(config)
    check_topology(settings, today or datetime.now(UTC).date())
    return settings


def stack_settings(stack: str, root: Path = PROJECT_ROOT) -> Settings:
    """Checked settings of ``Pulumi.<stack>.yaml`` (what ``meshvis render`` and ``run`` use)."""
    return checked_settings(stack_config(stack, root))
