"""Read a stack's ``Pulumi.<stack>.yaml`` the way the Pulumi CLI hands it to the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.settings.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def stack_names(root: Path = PROJECT_ROOT) -> list[str]:
    """Every stack that has a ``Pulumi.<stack>.yaml`` in the project."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def stack_config(stack: str, root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``config:`` map of ``Pulumi.<stack>.yaml`` with native values."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise ConfigError("stack", f"no file {path.name} (stacks: {known})")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError("stack", f"{path.name} is not valid YAML: {err}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError("stack", f"{path.name} has no 'config:' map")
    return config


def as_pulumi_config(config: dict[str, Any]) -> dict[str, str]:
    """The config map as the Pulumi CLI passes it: every value a string, objects as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
