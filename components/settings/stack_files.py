"""Read a stack's ``Pulumi.<stack>.yaml`` the way the Pulumi CLI hands it to the program."""

from __future__ import annotations

import difflib
import json
import re
import stat
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


STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>.+)\.yaml$")


class StackFileError(ConfigError):
    """The stack the command line names cannot be read; the message names the option
    (``--stack``, ``--root``), not a config key."""

    def __init__(self, option: str, reason: str) -> None:
        Exception.__init__(self, f"{option}: {reason}")
        self.key = option
        self.reason = reason


def stack_names(root: Path = PROJECT_ROOT) -> list[str]:
    """Every stack that has a ``Pulumi.<stack>.yaml`` file (a regular file: not a folder, a
    FIFO or a broken link of that name) in ``root``."""
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml") if p.is_file()
    )


def stack_file(stack: str, root: Path = PROJECT_ROOT) -> tuple[str, Path]:
    """``(name, absolute path)`` of the stack ``stack`` names: a stack name whose
    ``Pulumi.<stack>.yaml`` is in ``root``, or a path to such a file (``root`` is then its
    folder). Raises ``StackFileError`` naming ``--stack`` or ``--root``."""
    if "/" in stack or stack.endswith(".yaml"):
        named = STACK_FILE.match(Path(stack).name)
        if not named:
            raise StackFileError(
                "--stack", f"{_short(stack)} is not a path to a Pulumi.<stack>.yaml file"
            )
        path, stack, option = Path(stack), named["stack"], "--stack"
        root = path.parent
    else:
        path, option = root / f"Pulumi.{stack}.yaml", "--root"
    if not root.is_dir():
        raise StackFileError(option, f"{_short(str(root))} is not a folder")
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        known = stack_names(root)
        close = difflib.get_close_matches(stack, known, n=1)
        raise StackFileError(
            "--stack",
            f"no stack {_short(stack)!r} in {root.absolute()} (no Pulumi.{_short(stack)}.yaml; "
            f"stacks there: {', '.join(known) or 'none'})"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + " A stack elsewhere: --root FOLDER or --stack PATH/Pulumi.<stack>.yaml",
        ) from None
    except OSError as err:  # a name too long, a symbolic-link loop, no permission
        raise StackFileError(
            "--stack", f"cannot read {path.parent / _short(path.name)}: {err.strerror}"
        ) from None
    if stat.S_ISDIR(mode):
        raise StackFileError("--stack", f"{path} is a folder, not a stack file")
    if not stat.S_ISREG(mode):
        # Reading a FIFO would wait for a writer forever.
        raise StackFileError("--stack", f"{path} is not a regular file (a FIFO, socket or device)")
    return stack, path.absolute()


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters: a one-line error stays one readable line."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def stack_config(stack: str, root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``config:`` map of the stack ``stack`` names (see ``stack_file``), native values."""
    _, path = stack_file(stack, root)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as err:
        raise StackFileError(
            "--stack",
            f"{path.name} is not UTF-8 text (byte {err.object[err.start]:#04x} "
            f"at offset {err.start})",
        ) from None
    except yaml.YAMLError as err:
        raise StackFileError(
            "--stack", f"{path.name} is not valid YAML: {_one_line(err)}"
        ) from None
    except RecursionError:
        raise StackFileError("--stack", f"{path.name} nests too deeply to read") from None
    except OSError as err:
        raise StackFileError("--stack", f"cannot read {path}: {err.strerror}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError("--stack", f"{path.name} has no 'config:' map")
    return config


def _one_line(err: yaml.YAMLError) -> str:
    """PyYAML's problem and where it is, on one line as every ConfigError is."""
    if not isinstance(err, yaml.MarkedYAMLError) or err.problem_mark is None or not err.problem:
        return " ".join(str(err).split())
    mark = err.problem_mark
    return f"{err.problem} (line {mark.line + 1}, column {mark.column + 1})"


def as_pulumi_config(config: dict[str, Any]) -> dict[str, str]:
    """The config map as the Pulumi CLI passes it: every value a string, objects as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
