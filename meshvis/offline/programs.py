"""``meshvis offline FOLDER``: a Pulumi program of the components run under mocks, offline, and
what it would create (type, name, key inputs), as a tree of components and their children.

No Pulumi CLI, no cloud: the program runs in this process with ``pulumi.runtime.set_mocks``
(meshvis/offline/harness.py, the harness the tests run the whole program with). Its config is
what its ``Pulumi.yaml`` declares: the defaults, the values given with ``--config``, and for a
required key without one a placeholder, said as such. The look-ups of existing resources the
examples make (an ECS cluster, a Cloud Map namespace) answer with the names asked for.

A Python program (``__main__.py``) runs as it is. A YAML program (``runtime: yaml``) has no
engine here to interpret it: its ``meshvis:`` components are constructed through the
package's construct path (what the engine would call, provider/construct.py) with its
``${...}`` references resolved (config, ``fn::invoke`` variables, resource ids as the mocks
give them); its other resources are listed as declared.
"""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import yaml

from components.settings.stack_files import PROJECT_ROOT
from meshvis.errors import UsageError
from meshvis.offline.harness import ExistingResources, ProgramRun, run_under_mocks

if TYPE_CHECKING:  # imported from the checkout at run time (_package)
    from provider.construct import MeshComponentProvider

REGION = "us-west-2"
_REFERENCE = re.compile(r"\$\{(.+)\}")
# Inputs worth a glance per resource type (the rest is in the program); others show their
# first few short scalar inputs.
KEY_INPUTS = {
    "aws:ecs/taskDefinition:TaskDefinition": ("family", "cpu", "memory", "networkMode"),
    "aws:ecs/service:Service": ("cluster", "desiredCount", "launchType"),
    "aws:servicediscovery/service:Service": ("name",),
    "aws:ec2/securityGroup:SecurityGroup": ("vpcId", "description"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:iam/role:Role": ("name",),
}
SHORT = 60
SHOWN = 4


def project_file(folder: Path) -> dict:
    """The program's ``Pulumi.yaml``. Raises ``UsageError`` if ``folder`` has none."""
    path = folder / "Pulumi.yaml"
    if not path.is_file():
        raise UsageError(f"{folder}: no Pulumi.yaml there; give a Pulumi program's folder")
    return yaml.safe_load(path.read_text())


def program_config(project: dict, given: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The config map the program runs with (``<project>:<key>`` -> native value) and the keys
    that got a placeholder: a declared key's ``given`` value (a JSON array for an array key),
    else its default, else a placeholder of its type."""
    name = project["name"]
    config: dict[str, Any] = {"aws:region": given.pop("aws:region", REGION)}
    placeholders = []
    for key, spec in (project.get("config") or {}).items():
        kind = spec.get("type", "string") if isinstance(spec, dict) else "string"
        if key in given:
            value = json.loads(given.pop(key)) if kind == "array" else given.pop(key)
        elif isinstance(spec, dict) and "default" in spec:
            value = spec["default"]
        else:
            value = _placeholder(key, kind)
            placeholders.append(key)
        config[key if ":" in key else f"{name}:{key}"] = value
    if given:
        raise UsageError(
            f"--config {', '.join(sorted(given))}: not declared in the program's Pulumi.yaml "
            f"(declared: {', '.join(project.get('config') or {}) or 'none'})"
        )
    return config, placeholders


def _placeholder(key: str, kind: str) -> Any:
    """A stand-in value of a config key's type; strings in lowercase with hyphens
    (``namespaceName`` -> ``namespace-name-example``), which names and DNS names accept."""
    word = re.sub(r"(?<!^)(?=[A-Z])", "-", key).lower() + "-example"
    if kind == "array":
        return [f"{word}-1", f"{word}-2"]
    if kind == "integer":
        return 1
    if kind == "boolean":
        return False
    return word


def run_folder(folder: Path, config: dict[str, Any], project: dict) -> tuple[ProgramRun, dict]:
    """Run the program in ``folder`` under mocks; what it registered, and (a YAML program)
    the resources it declares that are not constructed here (name -> type)."""
    if project.get("runtime") == "yaml" or (project.get("runtime") or {}) == {"name": "yaml"}:
        return _run_yaml(project, config)
    main = folder / "__main__.py"
    if not main.is_file():
        raise UsageError(f"{folder}: a Python program needs __main__.py there")

    def program() -> dict[str, Any]:
        runpy.run_path(str(main), run_name="__main__")
        return {}

    return (
        run_under_mocks(program, config, project=project["name"], mocks=ExistingResources),
        {},
    )


def yaml_values(value: Any, values: dict[str, Any]) -> Any:
    """A YAML program's property with its whole-value ``${...}`` replaced from ``values`` and
    every number a float, as the engine hands it to a provider (protobuf's Struct has doubles
    only)."""
    if isinstance(value, dict):
        return {k: yaml_values(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [yaml_values(v, values) for v in value]
    if isinstance(value, str) and (ref := _REFERENCE.fullmatch(value)):
        return values[ref.group(1)]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _package() -> tuple[str, list[type], type[MeshComponentProvider]]:
    """The component package (provider/): its name, its components and its construct path.
    It is a folder of the checkout, not an installed package (provider/__main__.py says why),
    so it is imported from there."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from provider.__main__ import COMPONENTS, PACKAGE
    from provider.construct import MeshComponentProvider

    return PACKAGE, COMPONENTS, MeshComponentProvider


def _run_yaml(project: dict, config: dict[str, Any]) -> tuple[ProgramRun, dict]:
    package, components_types, provider_type = _package()
    values = {key.split(":", 1)[1]: value for key, value in config.items() if ":" in key}
    values.update({key.replace("aws:", "aws."): v for key, v in config.items()})
    lookups = ExistingResources(ProgramRun())
    for name, variable in (project.get("variables") or {}).items():
        invoke = variable["fn::invoke"]
        answer, _ = lookups.call(
            pulumi.runtime.MockCallArgs(
                invoke_token(invoke["function"]),
                yaml_values(invoke.get("arguments") or {}, values),
                "",
            )
        )
        values[name] = answer[invoke["return"]] if "return" in invoke else answer
    resources = project.get("resources") or {}
    # A resource's id, as the mocks give it (meshvis/offline/harness.py RecordingMocks).
    values.update({f"{name}.id": f"{name}-id" for name in resources})
    components = {n: r for n, r in resources.items() if r["type"].startswith(f"{package}:")}
    declared = {n: r["type"] for n, r in resources.items() if n not in components}

    def program() -> dict[str, Any]:
        provider = provider_type(components_types, package)
        for name, resource in components.items():
            provider.construct(
                name,
                resource["type"],
                yaml_values(resource.get("properties") or {}, values),
                pulumi.ResourceOptions(),
            )
        return {}

    return run_under_mocks(
        program, {"aws:region": values["aws.region"]}, project=project["name"]
    ), declared


def invoke_token(function: str) -> str:
    """A YAML ``fn::invoke`` function (``aws:ecs:getCluster``, ``aws:getRegion``) as the
    engine's token (``aws:ecs/getCluster:getCluster``, ``aws:index/getRegion:getRegion``)."""
    package, *module, name = function.split(":")
    return f"{package}:{module[0] if module else 'index'}/{name}:{name}"


def key_inputs(typ: str, inputs: dict[str, Any]) -> str:
    """A resource's key inputs in one line: its type's chosen ones, or its first short
    scalar ones; a task definition's containers by name."""
    keys = (
        KEY_INPUTS.get(typ)
        or [
            k
            for k, v in sorted(inputs.items())
            if isinstance(v, (str, int, float, bool)) and len(str(v)) <= SHORT and k != "name"
        ][:SHOWN]
    )
    shown = [f"{k}={_plain(inputs[k])}" for k in keys if k in inputs]
    if "containerDefinitions" in inputs:
        containers = json.loads(inputs["containerDefinitions"])
        shown.append(f"containers={[c['name'] for c in containers]}")
    return ", ".join(shown)


def _plain(value: Any) -> Any:
    """A number as written: the engine hands every number over as a float (protobuf)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def resource_lines(run: ProgramRun) -> list[str]:
    """Every registered resource as ``type name  key inputs``, children indented under their
    component, by type and name (the order of registration varies from run to run)."""
    children: dict[tuple[str, str] | None, list] = {}
    known = {(r.typ, r.name) for r in run.resources}
    for resource in run.resources:
        parent = run.options.get((resource.typ, resource.name))
        key = parent.parent if parent and parent.parent in known else None
        children.setdefault(key, []).append(resource)
    lines: list[str] = []

    def walk(parent: tuple[str, str] | None, depth: int) -> None:
        for resource in sorted(children.get(parent, []), key=lambda r: (r.typ, r.name)):
            inputs = key_inputs(resource.typ, resource.inputs)
            lines.append(
                f"{'  ' * depth}{resource.typ} {resource.name}" + (f"  {inputs}" if inputs else "")
            )
            walk((resource.typ, resource.name), depth + 1)

    walk(None, 0)
    return lines


def offline_command(folder: Path, given: dict[str, str]) -> int:
    """``meshvis offline``: print what the program in ``folder`` would create. Returns 0, or
    1 with one line on stderr when the program fails under mocks."""
    project = project_file(folder)
    config, placeholders = program_config(project, dict(given))
    try:
        run, declared = run_folder(folder, config, project)
    except Exception as err:  # the program's own failure, said in one line
        raise UsageError(f"{folder}: the program failed under mocks: {err}") from None
    print(
        f"{project['name']} ({folder}) under Pulumi mocks, offline: "
        f"{len(run.resources)} resources would be registered"
    )
    shown = ", ".join(
        f"{k}={v!r}" + (" (placeholder)" if k.split(":")[-1] in placeholders else "")
        for k, v in config.items()
    )
    print(f"config: {shown}")
    for line in resource_lines(run):
        print(line)
    for name, typ in declared.items():
        print(f"{typ} {name}  (declared in Pulumi.yaml; only the package's components run here)")
    return 0
