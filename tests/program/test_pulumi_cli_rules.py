"""The Pulumi CLI's own project and stack config rules, applied to this project's files.

``pulumi preview/up/destroy`` validate ``Pulumi.yaml`` and the stack's ``Pulumi.<stack>.yaml``
before the program runs (pulumi/pulumi pkg/workspace/config.go,
``ValidateStackConfigAndApplyProjectConfig``). The CLI cannot run here, so
tests/support/pulumi_cli_rules.py re-implements those rules from the Go source; the first
tests below check that re-implementation against the cases and messages of Pulumi's own Go
tests (pkg/workspace/config_project_test.go, sdk/go/common/workspace/project_test.go at the
commit it names), the rest apply it to every stack file of the project.
"""

from __future__ import annotations

import base64
import copy

import pytest

from components.settings.stack_files import PROJECT_ROOT, stack_config, stack_names
from components.stack import checked_settings
from tests.support.pulumi_cli_rules import (
    PULUMI_COMMIT,
    PulumiConfigError,
    load_yaml,
    validate_project,
    validate_stack_config,
)
from tests.support.pulumi_harness import run_program

PROJECT_FILE = PROJECT_ROOT / "Pulumi.yaml"
P = "mesh-visibility"


def _project() -> dict:
    return load_yaml(str(PROJECT_FILE))


def _stack(name: str) -> dict:
    return load_yaml(str(PROJECT_ROOT / f"Pulumi.{name}.yaml"))


def _fails(
    project: str | dict, stack: str | dict | None, stack_name: str = "dev"
) -> PulumiConfigError:
    project = load_yaml(project) if isinstance(project, str) else project
    stack = load_yaml(stack) if isinstance(stack, str) else stack
    with pytest.raises(PulumiConfigError) as caught:
        validate_stack_config(project, stack, stack_name)
    return caught.value


# --- the re-implementation against Pulumi's own tests ------------------------------------


def test_the_rules_are_pinned_to_a_read_commit():
    assert PULUMI_COMMIT == "1b5949891b3cefcb9974752b24a5ecef0acc86c8"


@pytest.mark.parametrize(
    "project, message",
    [
        # TestStackConfigErrorsWhenMissing{,Two,Multiple}StackValueForConfigTypeWithNoDefault
        (
            "name: test\nruntime: dotnet\nconfig:\n  values:\n    type: array\n    items:\n"
            "      type: string\n",
            "Stack 'dev' is missing configuration value 'values'",
        ),
        (
            "name: test\nruntime: dotnet\nconfig:\n  another:\n    type: string\n  values:\n"
            "    type: array\n    items:\n      type: string\n",
            "Stack 'dev' is missing configuration values 'another' and 'values'",
        ),
        (
            "name: test\nruntime: dotnet\nconfig:\n  hello:\n    type: integer\n  values:\n"
            "    type: array\n    items:\n      type: string\n  world:\n    type: string\n",
            "Stack 'dev' is missing configuration values 'hello', 'values' and 'world'",
        ),
    ],
    ids=["one", "two", "three"],
)
def test_a_declared_key_without_default_is_required(project, message):
    error = _fails(project, None)
    assert error.message == message
    assert error.cli_text == f"validating stack config: {message}"


@pytest.mark.parametrize(
    "project, stack, message",
    [
        # TestStackConfigErrorsWhenStackValueIsNotCorrectlyTyped
        (
            "name: test\nruntime: dotnet\nconfig:\n  values:\n    type: array\n    items:\n"
            "      type: string\n    default: [value]\n",
            "config:\n  test:values: someValue\n",
            "Stack 'dev' with configuration key 'values' must be of type 'array<string>'",
        ),
        # TestStackConfigIntegerTypeIsCorrectlyValidated
        (
            "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n",
            "config:\n  test:importantNumber: hello\n",
            "Stack 'dev' with configuration key 'importantNumber' must be of type 'integer'",
        ),
        # TestStackConfigSecretIsCorrectlyValidated
        (
            "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n"
            "    secret: true\n",
            "config:\n  test:importantNumber: 20\n",
            "Stack 'dev' with configuration key 'importantNumber' must be encrypted as it's secret",
        ),
    ],
    ids=["array", "integer", "secret"],
)
def test_stack_values_must_match_the_declared_type(project, stack, message):
    assert _fails(project, stack).message == message


def test_valid_values_pass_and_secrets_are_checked_decrypted():
    integer = "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n"
    assert validate_stack_config(
        load_yaml(integer), load_yaml("config:\n  test:importantNumber: 20\n"), "dev"
    ) == {"test:importantNumber": "20"}
    secret = integer + "    secret: true\n"
    cipher = base64.b64encode(b"20").decode()
    stack = load_yaml(f"config:\n  test:importantNumber:\n    secure: {cipher}\n")
    decrypt = lambda text: base64.b64decode(text).decode()  # noqa: E731 - Base64Crypter
    assert validate_stack_config(load_yaml(secret), stack, "dev", decrypt) == {
        "test:importantNumber": {"secure": cipher}
    }
    bad = load_yaml(
        f"config:\n  test:importantNumber:\n    secure: {base64.b64encode(b'x').decode()}\n"
    )
    with pytest.raises(PulumiConfigError, match="must be of type 'integer'"):
        validate_stack_config(load_yaml(secret), bad, "dev", decrypt)


def test_project_values_and_defaults_reach_the_stack():
    """TestNamespacedConfigValuesAreInheritedCorrectly and
    TestLoadingStackConfigWithoutNamespacingTheProject: shorthand values are defaults of
    the project's namespace and values of other namespaces; a stack key without a namespace
    is the project's."""
    project = load_yaml(
        "name: test\nruntime: dotnet\nconfig:\n  aws:region: us-west-1\n"
        '  pulumi:disable-default-providers: ["*"]\n  instanceSize: t3.micro\n'
    )
    assert validate_stack_config(
        project, load_yaml("config:\n  instanceSize: t4.large\n"), "dev"
    ) == {
        "aws:region": "us-west-1",
        "pulumi:disable-default-providers": '["*"]',
        "test:instanceSize": "t4.large",
    }


@pytest.mark.parametrize(
    "project, message",
    [
        (
            "name: test\nruntime: dotnet\nconfig:\n  aws:region:\n    type: string\n    value:\n"
            "      region: us-west-1\n",
            "Configuration key 'aws:region' is not namespaced by the project and should not "
            "define a type",
        ),
        (
            "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: string\n"
            "    default: t3.micro\n    value: t4.large\n",
            "project config 'instanceSize' cannot have both a 'default' and 'value' attribute",
        ),
        (
            "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: array\n"
            "    default: [t3.micro, t4.large]\n",
            "The configuration key 'instanceSize' declares an array but does not specify the "
            "underlying type via the 'items' attribute",
        ),
        (
            "name: test\nruntime: dotnet\nconfig:\n  aws:region:\n    default: us-west-1\n",
            "Configuration key 'aws:region' is not namespaced by the project and should not "
            "define a default value. Did you mean to use the 'value' attribute instead of "
            "'default'?",
        ),
        (
            "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: integer\n"
            "    default: hello\n",
            "The default value specified for configuration key 'instanceSize' is not of the "
            "expected type 'integer'",
        ),
    ],
    ids=[
        "namespaced-typed",
        "default-and-value",
        "array-without-items",
        "namespaced-default",
        "default-type",
    ],
)
def test_project_declarations_follow_project_validate(project, message):
    """sdk/go/common/workspace/project_test.go: the Project.Validate cases."""
    with pytest.raises(PulumiConfigError) as caught:
        validate_project(load_yaml(project))
    assert caught.value.message == message


def test_yaml_is_read_as_the_cli_reads_it():
    """yaml.v3, not YAML 1.1: `yes` is a string (so a boolean key refuses it), and a key
    written twice is an error."""
    assert load_yaml("a: yes\nb: true\n") == {"a": "yes", "b": True}
    with pytest.raises(PulumiConfigError, match='mapping key "a" already defined at line 1'):
        load_yaml("a: 1\na: 2\n")


# --- this project's files -------------------------------------------------------------------


def test_pulumi_yaml_is_a_valid_project():
    project = validate_project(_project())
    assert project["name"] == P


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_passes_the_cli_and_the_program_reads_what_it_hands_over(stack):
    """The config the CLI hands the program (stack values plus Pulumi.yaml's defaults, all as
    strings) gives the same settings as the stack file, and the program deploys it."""
    effective = validate_stack_config(_project(), _stack(stack), stack)
    assert not [k for k, v in effective.items() if not isinstance(v, str)]
    assert checked_settings(effective) == checked_settings(stack_config(stack))
    assert run_program(effective, stack).resources


def test_no_declared_key_is_required():
    """Every key Pulumi.yaml declares has a default: a declared key without one is required by
    the CLI, and `entryService`/`certificateArn` declared that way stopped every stack."""
    declared = validate_project(_project())["config"]
    assert declared and all("default" in raw for raw in _project()["config"].values())
    assert "entryService" not in declared and "certificateArn" not in declared


def test_declaring_an_optional_key_without_default_stops_every_stack():
    """What Pulumi.yaml used to do, and the CLI's answer to it."""
    project = copy.deepcopy(_project())
    project["config"]["entryService"] = {"type": "string", "description": "optional"}
    project["config"]["certificateArn"] = {"type": "string", "description": "optional"}
    assert (
        _fails(project, _stack("dev")).cli_text
        == "validating stack config: Stack 'dev' is missing configuration value 'certificateArn'"
    )
    assert (
        _fails(project, _stack("dev-eks"), "dev-eks").message
        == "Stack 'dev-eks' is missing configuration values 'certificateArn' and 'entryService'"
    )


@pytest.mark.parametrize(
    "key, value, type_name",
    [
        ("logRetentionDays", "seven", "integer"),
        ("containerInsights", "yes", "boolean"),
        ("meshName", ["a"], "string"),
    ],
)
def test_a_stack_value_of_the_wrong_type_is_refused_before_the_program(key, value, type_name):
    stack = _stack("dev")
    stack["config"][f"{P}:{key}"] = value
    assert (
        _fails(project=_project(), stack=stack).message
        == f"Stack 'dev' with configuration key '{key}' must be of type '{type_name}'"
    )


def test_every_update_refreshes_first():
    """A rollout the ECS circuit breaker rolled back is recorded as deployed by the provider;
    only a refresh before the next update lets `pulumi up` see that and roll again."""
    project = _project()
    assert project["options"] == {"refresh": "always"}
    validate_project(project)
