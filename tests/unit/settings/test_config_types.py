"""Every key Pulumi.yaml declares has the CLI type that lets through every value the settings
accept: the CLI checks a stack's value against the declaration before the program runs
(tests/support/pulumi_cli_rules.py has its rules), so a narrower declaration refuses values the
program would take (`type: integer` refused `traceSampleRate: 0.5`).

The CLI knows string, integer, boolean and array (and object); it has no number type. A setting
that takes decimals is therefore declared `string`, which takes any scalar, and the program
parses and checks it (pulumi/pulumi sdk/go/common/workspace/project.go ValidateConfigValue).
"""

from __future__ import annotations

import types
import typing

import pytest

from components.settings.model import Settings
from components.settings.stack_files import PROJECT_ROOT
from components.stack import checked_settings
from tests.support.pulumi_cli_rules import load_yaml, validate_stack_config

P = "mesh-visibility"
FIELDS = {(f.alias or n): f for n, f in Settings.model_fields.items()}
DECLARED = load_yaml(str(PROJECT_ROOT / "Pulumi.yaml"))["config"]


def _plain(annotation: object) -> object:
    """``annotation`` without ``Optional``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        [inner] = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def cli_type(annotation: object) -> str:
    """The Pulumi.yaml type that accepts every value of a settings field of ``annotation``."""
    annotation = _plain(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        kinds = {type(a) for a in typing.get_args(annotation)}
        assert kinds == {str}, f"a Literal of {kinds} has no rule here yet"
        return "string"
    if origin in (tuple, list):
        return "array"
    # bool before int: a bool is an int to Python, not to the CLI.
    scalars: dict[object, str] = {bool: "boolean", int: "integer", float: "string", str: "string"}
    return scalars[annotation]


@pytest.mark.parametrize("key", sorted(DECLARED))
def test_every_declared_type_takes_every_value_of_its_setting(key):
    assert DECLARED[key]["type"] == cli_type(FIELDS[key].annotation), key


DECIMAL_KEYS = sorted(k for k in DECLARED if _plain(FIELDS[k].annotation) is float)


def test_the_decimal_settings_are_the_ones_the_issue_named():
    assert DECIMAL_KEYS == ["errorRateAlarmPercent", "traceSampleRate"]


@pytest.mark.parametrize("key", DECIMAL_KEYS)
def test_a_decimal_value_passes_the_cli_and_reaches_the_settings(key):
    stack = load_yaml(str(PROJECT_ROOT / "Pulumi.dev.yaml"))
    stack["config"][f"{P}:{key}"] = 0.5
    effective = validate_stack_config(load_yaml(str(PROJECT_ROOT / "Pulumi.yaml")), stack, "dev")
    assert effective[f"{P}:{key}"] == "0.5"
    [name] = [n for n, f in Settings.model_fields.items() if f.alias == key]
    assert getattr(checked_settings(effective), name) == 0.5
