"""Stacks with a ``faults`` key, for the fault tests.

The golden renders of faults are cases of tests/golden/cases.yaml (``dev-name-abort``,
``dev-greeter-delay``, ``dev-eks-nginx-armed``): ``diff tests/golden/dev/envoy/name.yaml
tests/golden/dev-name-abort/envoy/name.yaml`` shows exactly what the option adds.
"""

from __future__ import annotations

from components.settings.model import ServiceSpec, Settings
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config


def config_with_faults(stack: str, service: str | None, faults: dict | None) -> tuple[dict, str]:
    """The stack's configuration with ``faults`` on ``service`` (None: its first app service;
    faults None: unchanged), and that service's name."""
    config = stack_config(stack)
    services = config["mesh-visibility:services"]
    chosen = next(
        s for s in services if s["name"] == service or (service is None and s.get("kind") != "load")
    )
    if faults is not None:
        chosen["faults"] = faults
    return config, chosen["name"]


def with_faults(
    stack: str, service: str | None, faults: dict | None
) -> tuple[Settings, ServiceSpec]:
    """The stack with ``faults`` on ``service`` (as ``config_with_faults``), validated as a
    stack file is; and that service."""
    config, name = config_with_faults(stack, service, faults)
    settings = settings_from_config(config)
    return settings, settings.service(name)
