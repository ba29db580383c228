"""One contract for every Pulumi component of the project (``pulumi.ComponentResource``
subclasses anywhere under components/), whatever its topology:

- its outputs are the public attributes its class annotates (the component package's schema is
  inferred from them, provider/), each assigned, and every one that is set is in the outputs it
  registers, under its camelCase name, with no other key;
- ``__init__`` assigns them: no helper method sets an attribute as a side effect;
- a topology's stack outputs are its registered outputs (one dictionary, no second list).

The registered outputs are recorded while the demo stacks run under mocks, so a component
neither stack builds fails the test rather than passing unseen.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from typing import Any

import pulumi
import pytest

import components
from components.settings.stack_files import stack_config
from tests.support.pulumi_harness import run_program

STACKS = ("dev-eks", "dev")


def component_classes() -> list[type[pulumi.ComponentResource]]:
    """Every ComponentResource subclass defined in a module under components/."""
    found: dict[str, type[pulumi.ComponentResource]] = {}
    for module in pkgutil.walk_packages(components.__path__, "components."):
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == module.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


CLASSES = component_classes()


def declared(cls: type) -> list[str]:
    """The public attributes ``cls`` and its bases annotate at class level."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        names += [n for n in vars(klass).get("__annotations__", {}) if not n.startswith("_")]
    return list(dict.fromkeys(names))


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


@pytest.fixture(scope="module")
def registered() -> dict[str, list[tuple[Any, dict[str, Any], dict[str, Any]]]]:
    """Per stack: (component, its registered outputs, the stack's outputs), for every
    component instance the stack's program created."""
    original = pulumi.ComponentResource.register_outputs
    recorded: list[tuple[Any, dict[str, Any]]] = []

    def record(self: pulumi.ComponentResource, outputs: Any) -> None:
        recorded.append((self, dict(outputs)))
        original(self, outputs)

    found: dict[str, list[tuple[Any, dict[str, Any], dict[str, Any]]]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pulumi.ComponentResource, "register_outputs", record)
        for stack in STACKS:
            recorded.clear()
            run = run_program(stack_config(stack), stack)
            found[stack] = [(c, outputs, run.outputs) for c, outputs in recorded]
    return found


def test_every_component_is_found_and_built_by_a_demo_stack(registered):
    assert {cls.__name__ for cls in CLASSES} >= {"EcsTopology", "EcsMeshService", "Vpc"}
    built = {type(c) for instances in registered.values() for c, _, _ in instances}
    assert [cls.__name__ for cls in CLASSES if cls not in built] == []


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_declared_outputs_are_the_registered_outputs(cls, registered):
    instances = [
        (c, outputs) for found in registered.values() for c, outputs, _ in found if type(c) is cls
    ]
    assert instances, f"no demo stack builds a {cls.__name__}"
    names = declared(cls)
    assert names, f"{cls.__name__} declares no outputs"
    for component, outputs in instances:
        missing = [n for n in names if not hasattr(component, n)]
        assert missing == [], f"{cls.__name__} never assigns {missing}"
        expected = {camel(n) for n in names if getattr(component, n) is not None}
        assert set(outputs) == expected, f"{cls.__name__} registers other keys"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_only_init_assigns_attributes(cls):
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    offenders = [
        f"{method.name} sets self.{node.attr}"
        for method in ast.walk(tree)
        if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) and method.name != "__init__"
        for node in ast.walk(method)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ]
    assert offenders == []


def test_a_topology_exports_exactly_what_it_registers(registered):
    for stack, found in registered.items():
        topologies = [(c, o, exported) for c, o, exported in found if hasattr(c, "stack_outputs")]
        assert len(topologies) == 1, stack
        [(topology, outputs, exported)] = topologies
        assert set(exported) == set(outputs), f"{stack}: {type(topology).__name__}"
