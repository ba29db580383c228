"""The stack's config map as the running Pulumi program sees it."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import config as runtime_config

from components.settings import Settings
from components.stack_checks import checked_settings


def config_map() -> dict[str, Any]:
    """Every config key of the stack (``"<namespace>:<key>" -> value``).

    ``pulumi.Config`` reads one key at a time and cannot list keys, yet a misspelt key must be
    reported rather than silently ignored, so read the whole bag the language host received
    (``PULUMI_CONFIG``) together with anything set in-process (``set_all_config`` in tests).
    """
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def stack_settings() -> Settings:
    """Validated settings of the running stack; raises ``ConfigError`` before any resource."""
    return checked_settings(config_map())
