"""The whole program with a ``faults`` key (under mocks, as ``pulumi up`` would run it): the
registered ECS task definition and EKS ConfigMap carry the one bootstrap with the fault
filter, and only the faulted service's; on ECS that service alone can be entered with ECS Exec
(docs/faults.md "On ECS")."""

from __future__ import annotations

import json
import re
import shlex

import botocore.session
import pytest
from botocore.validate import ParamValidator

from components.ecs.containers import ENVOY
from components.ecs.iam import ECS_EXEC_ACTIONS
from components.eks.objects import ENVOY_CONFIG_KEY
from components.settings.stack_files import PROJECT_ROOT, stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.faults import FAULT_FILTER
from tests.support.fault_cases import config_with_faults, with_faults
from tests.support.pulumi_harness import ProgramRun, run_program

FAULTS = {"abortPercent": 10, "delayPercent": 5, "delayMs": 200}
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# The AWS CLI's own options, which are not the API operation's parameters.
CLI_OPTIONS = {"query", "output"}


def _config(stack: str, service: str) -> dict:
    return config_with_faults(stack, service, FAULTS)[0]


def _task_definition_bootstrap(inputs: dict) -> dict:
    containers = json.loads(inputs["containerDefinitions"])
    command = next(c for c in containers if c["name"] == "envoy")["command"]
    return json.loads(command[command.index("--config-yaml") + 1])


def _config_map_bootstrap(inputs: dict) -> dict:
    return json.loads(inputs["data"][ENVOY_CONFIG_KEY])


@pytest.mark.parametrize(
    "stack, service, typ, bootstrap",
    [
        ("dev", "name", "aws:ecs/taskDefinition:TaskDefinition", _task_definition_bootstrap),
        ("dev-eks", "nginx", "kubernetes:core/v1:ConfigMap", _config_map_bootstrap),
    ],
)
def test_the_deployed_sidecar_carries_the_fault_filter(stack, service, typ, bootstrap):
    run = run_program(_config(stack, service), f"faults-{stack}")
    settings, spec = with_faults(stack, service, FAULTS)
    [registered] = [r for r in run.of_type(typ) if FAULT_FILTER in json.dumps(r.inputs)]
    assert bootstrap(registered.inputs) == envoy_bootstrap(settings, spec)


def _ecs_exec_view(run: ProgramRun, mesh: str, service: str) -> dict:
    """What the program registers for ``service`` that ECS Exec depends on: its ECS service's
    inputs, its task role's statements and its containers by name."""
    prefix = f"{mesh}-{service}"
    definition = run.one(TASK_DEFINITION, f"{prefix}-task").inputs
    return {
        "service": dict(run.one(ECS_SERVICE, f"{prefix}-service").inputs),
        "statements": json.loads(run.one(ROLE_POLICY, f"{prefix}-task").inputs["policy"])[
            "Statement"
        ],
        "family": definition["family"],
        "containers": {c["name"]: c for c in json.loads(definition["containerDefinitions"])},
    }


def test_ecs_exec_is_on_for_the_service_with_faults_only():
    """The faulted service gets exactly what ECS Exec needs (its ECS service's
    ``enableExecuteCommand``, the four ``ssmmessages`` actions on its task role, a writable
    root file system for its envoy container) and nothing else changes beyond its fault
    filter; every other service is registered exactly as without ``faults``. The registered
    task definitions are valid ``RegisterTaskDefinition`` requests for ECS's own model."""
    config, faulted = config_with_faults("dev", "name", FAULTS)
    settings = settings_from_config(config)
    with_exec = run_program(config, "faults-ecs-exec")
    without = run_program(stack_config("dev"), "faults-ecs-exec-off")
    register = (
        botocore.session.get_session()
        .get_service_model("ecs")
        .operation_model("RegisterTaskDefinition")
        .input_shape
    )
    for service in settings.services:
        on = _ecs_exec_view(with_exec, settings.mesh_name, service.name)
        off = _ecs_exec_view(without, settings.mesh_name, service.name)
        request = {"family": on["family"], "containerDefinitions": list(on["containers"].values())}
        report = ParamValidator().validate(request, register)
        assert not report.has_errors(), report.generate_report()
        assert off["service"]["enableExecuteCommand"] is False
        assert off["containers"][ENVOY]["readonlyRootFilesystem"] is True
        assert not [s for s in off["statements"] if s["Sid"] == "EcsExec"]
        if service.name != faulted:
            assert on == off, service.name
            continue
        assert on["service"].pop("enableExecuteCommand") is True
        off["service"].pop("enableExecuteCommand")
        [granted] = [s for s in on["statements"] if s["Sid"] == "EcsExec"]
        assert granted == {
            "Sid": "EcsExec",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        }
        assert granted["Action"] == ECS_EXEC_ACTIONS
        on["statements"].remove(granted)
        envoy = on["containers"][ENVOY]
        assert envoy.pop("readonlyRootFilesystem") is False
        off["containers"][ENVOY].pop("readonlyRootFilesystem")
        # The bootstrap differs by the fault filter (the test above); the app and the agent
        # containers stay as they were, the demo app's root file system read-only.
        assert envoy.pop("command") != off["containers"][ENVOY].pop("command")
        assert on == off


def _api_request(words: list[str]) -> dict:
    """An ``aws ecs <command>`` line's API parameters: ``--kebab-case value`` as ``camelCase``,
    a flag without a value as true, the CLI's own options left out."""
    request, options = {}, iter(words)
    for word in options:
        option = word.removeprefix("--")
        value = True if option == "interactive" else next(options)
        if option not in CLI_OPTIONS:
            head, *rest = option.split("-")
            request[head + "".join(part.title() for part in rest)] = value
    return request


def test_the_documented_ecs_exec_loop_is_valid_for_ecs_api():
    """docs/faults.md's ``aws ecs list-tasks`` and ``aws ecs execute-command`` lines name the
    parameters of ECS's ``ListTasks`` and ``ExecuteCommand`` (botocore's model), and enter the
    envoy container; tests/local/test_fault_filter.py runs the commands they send."""
    text = (PROJECT_ROOT / "docs" / "faults.md").read_text()
    block = text[text.index("### On ECS") :]
    block = block[block.index("```sh\n") : block.index("\n```\n", block.index("```sh\n"))]
    model = botocore.session.get_session().get_service_model("ecs")
    found = {}
    for line in re.findall(r"aws ecs [^)\n]+", block):
        _, _, command, *words = shlex.split(line.removesuffix("; do"))
        operation = "".join(part.title() for part in command.split("-"))
        request = _api_request(words)
        report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()
        found[operation] = request
    assert set(found) == {"ListTasks", "ExecuteCommand"}
    assert found["ExecuteCommand"]["container"] == ENVOY
    assert found["ExecuteCommand"]["interactive"] is True
