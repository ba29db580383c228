"""Read a stack's ``Pulumi.<stack>.yaml`` the way the Pulumi CLI hands it to the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.settings.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice instead of silently
    keeping the last value, as PyYAML does: YAML requires unique keys, and which value another
    reader keeps is anyone's guess (go-yaml v3 refuses them: yaml/go-yaml decode.go, "mapping
    key %#v already defined"; the Pulumi CLI's encoding/marshal.go @0c8d867 reads stack files
    with yaml.v2's Unmarshal, which keeps one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def stack_names(root: Path = PROJECT_ROOT) -> list[str]:
    """Every stack that has a ``Pulumi.<stack>.yaml`` in the project."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def stack_config(stack: str, root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``config:`` map of ``Pulumi.<stack>.yaml`` with native values."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise ConfigError("stack", f"no file {path.name} (stacks: {known})")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(
            "stack",
            f"{path.name} is not UTF-8 text (byte {err.object[err.start]:#04x} "
            f"at offset {err.start})",
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError("stack", f"{path.name} is not valid YAML: {_one_line(err)}") from None
    except RecursionError:
        raise ConfigError("stack", f"{path.name} nests too deeply to read") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError("stack", f"{path.name} has no 'config:' map")
    return config


def _one_line(err: yaml.YAMLError) -> str:
    """PyYAML's problem and where it is, on one line as every ConfigError is."""
    mark = getattr(err, "problem_mark", None)
    if mark is None or not getattr(err, "problem", None):
        return " ".join(str(err).split())
    return f"{err.problem} (line {mark.line + 1}, column {mark.column + 1})"


def as_pulumi_config(config: dict[str, Any]) -> dict[str, str]:
    """The config map as the Pulumi CLI passes it: every value a string, objects as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
