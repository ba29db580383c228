"""The composition root's Pulumi half: read the running stack's config, build its topology.

``__main__.py`` calls ``deploy``; nothing else here creates resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.settings.errors import ConfigError
from components.settings.model import Settings
from components.stack import checked_settings, stack_warnings

if TYPE_CHECKING:
    from components.ecs.topology import EcsTopology
    from components.eks.topology import EksTopology


def config_map() -> dict[str, Any]:
    """Every config key of the stack (``"<namespace>:<key>" -> value``).

    ``pulumi.Config`` reads one key at a time and cannot list keys, yet a misspelt key must be
    reported rather than silently ignored, so read the whole bag the language host received
    (``PULUMI_CONFIG``) together with anything set in-process (``set_all_config`` in tests).
    """
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def build(settings: Settings) -> EcsTopology | EksTopology:
    """The topology component of ``settings`` (``EcsTopology`` or ``EksTopology``)."""
    # Imported by topology so an ecs stack never loads the EKS providers' SDKs, and back.
    if settings.topology == "ecs":
        from components.ecs.topology import EcsTopology

        return EcsTopology(settings.mesh_name, settings)
    from components.eks.topology import EksTopology

    return EksTopology(settings.mesh_name, settings)


def deploy() -> EcsTopology | EksTopology:
    """Validate the running stack's config, build its topology and export its outputs.

    A bad configuration stops with one line naming the key, before any resource exists.
    """
    try:
        settings = checked_settings(config_map())
    except ConfigError as err:
        raise pulumi.RunError(str(err)) from None
    for warning in stack_warnings(settings):
        pulumi.log.warn(warning)
    topology = build(settings)
    for key, value in topology.stack_outputs().items():
        pulumi.export(key, value)
    return topology
