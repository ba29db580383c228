"""Run the whole Pulumi program under mocks and collect what it registers.

There is no Pulumi CLI or cloud here: ``pulumi.runtime.set_mocks`` stands in for the engine,
each test loads a stack's config itself (the CLI would read ``Pulumi.<stack>.yaml``) and runs
``__main__.py`` with ``runpy`` inside ``@pulumi.runtime.test`` so every registration has
finished before the assertions look at it.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components.settings.stack_files import as_pulumi_config

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "__main__.py"


@dataclass
class Registered:
    """One resource as the program registered it."""

    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None


@dataclass(frozen=True)
class RegisteredOptions:
    """A resource's registration as the engine receives it, beyond its inputs: what it
    depends on (per input property and in all, as (type, name) pairs), its parent, its
    ``deleteBeforeReplace`` option (None when the program left it to the provider) and the
    inputs whose changes it ignores."""

    parent: tuple[str, str] | None
    dependencies: frozenset[tuple[str, str]]
    property_dependencies: dict[str, frozenset[tuple[str, str]]]
    delete_before_replace: bool | None
    ignore_changes: tuple[str, ...] = ()


def _key(urn: str) -> tuple[str, str]:
    # urn:pulumi:<stack>::<project>::<parent types $ type>::<name>
    _, _, qualified, name = urn.split("::", 3)
    return qualified.split("$")[-1], name


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock engine, also recording each registration's dependencies and options."""

    def __init__(self, mocks: pulumi.runtime.Mocks, run: ProgramRun) -> None:
        super().__init__(mocks)
        self.run = run

    def RegisterResource(self, request):  # noqa: N802 (the engine's RPC name)
        def keys(urns) -> frozenset[tuple[str, str]]:
            return frozenset(_key(u) for u in urns)

        self.run.options[(request.type, request.name)] = RegisteredOptions(
            parent=_key(request.parent) if request.parent else None,
            dependencies=keys(request.dependencies),
            property_dependencies={
                k: keys(v.urns) for k, v in request.propertyDependencies.items()
            },
            delete_before_replace=(
                request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None
            ),
            ignore_changes=tuple(request.ignoreChanges),
        )
        return super().RegisterResource(request)


@dataclass
class ProgramRun:
    """Everything one run of the program registered, plus its stack outputs."""

    resources: list[Registered] = field(default_factory=list)
    # What the engine would learn besides the inputs, per (type, name), in registration order.
    options: dict[tuple[str, str], RegisteredOptions] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Stack outputs that Pulumi would store and show as secrets.
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str) -> Registered:
        found = [r for r in self.resources if r.typ == typ and r.name == name]
        assert len(found) == 1, (
            f"expected one {typ} named {name}, found {len(found)}: "
            f"{sorted(r.name for r in self.of_type(typ))}"
        )
        return found[0]


# Outputs a mocked remote component or provider-computed attribute must carry for the program
# to wire it further; keys are camelCase as the engine returns them.
def _mock_outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    outputs = dict(args.inputs)
    name = args.name
    typ = args.typ
    if typ == "eks:index:Cluster":
        outputs.setdefault("kubeconfigJson", '{"apiVersion": "v1", "kind": "Config"}')
        outputs.setdefault("kubeconfig", {"apiVersion": "v1", "kind": "Config"})
        # No `eksCluster`: the SDK types it as an aws.eks.Cluster resource, and a plain dict
        # there fails output deserialization for every program that creates a cluster.
        outputs.setdefault("clusterSecurityGroupId", f"sg-{name}")
        # What a ManagedNodeGroup reads of `cluster.core` to join it (no resource references).
        outputs.setdefault(
            "core",
            {
                "endpoint": f"https://{name}.eks.example",
                "vpcId": args.inputs.get("vpcId"),
                "subnetIds": args.inputs.get("privateSubnetIds"),
                "tags": args.inputs.get("tags"),
            },
        )
    if typ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        kind = "app" if typ.endswith("LoadBalancer") else "targetgroup"
        outputs.setdefault("arnSuffix", f"{kind}/{name}/0123456789abcdef")
    outputs.setdefault(
        "arn", f"arn:aws:mock:us-west-2:123456789012:{typ.split(':')[-1].lower()}/{name}"
    )
    outputs.setdefault("name", name)
    outputs.setdefault("id", f"{name}-id")
    outputs.setdefault("dnsName", f"{name}.us-west-2.elb.amazonaws.com")
    return outputs


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record every resource and invoke."""

    def __init__(self, run: ProgramRun) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.run.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
        return [f"{args.name}-id", _mock_outputs(args)]

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.run.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
                "names": ["us-west-2a", "us-west-2b", "us-west-2c"],
                "zoneIds": ["usw2-az1", "usw2-az2", "usw2-az3"],
                "id": "us-west-2",
            }
        if args.token in ("aws:index/getCallerIdentity:getCallerIdentity",):
            return {
                "accountId": "123456789012",
                "arn": "arn:aws:iam::123456789012:user/test",
                "userId": "test",
                "id": "123456789012",
            }
        if args.token in ("aws:index/getRegion:getRegion",):
            return {"name": "us-west-2", "region": "us-west-2", "id": "us-west-2"}
        if args.token in ("aws:index/getPartition:getPartition",):
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        return {}


def run_program(
    config: dict[str, Any], stack: str = "test", run: ProgramRun | None = None
) -> ProgramRun:
    """Run ``__main__.py`` for a config map (native values) and return what it registered.

    Raises whatever the program raises (``pulumi.RunError`` for a bad configuration); pass
    ``run`` to inspect what had been registered by then.
    """

    def main() -> dict[str, Any]:
        return runpy.run_path(str(MAIN), run_name="__main__")["topology"].stack_outputs()

    return run_under_mocks(main, config, stack=stack, run=run)


def run_under_mocks(
    main: Callable[[], dict[str, Any]],
    config: dict[str, Any],
    stack: str = "test",
    run: ProgramRun | None = None,
    project: str = "mesh-visibility",
    mocks: type[RecordingMocks] = RecordingMocks,
) -> ProgramRun:
    """Run ``main`` as a Pulumi program of ``project`` with a config map (native values) and
    return what it registered; ``main`` returns the stack's outputs. ``mocks`` may add invoke
    results (a subclass of ``RecordingMocks``). Raises whatever ``main`` raises."""
    run = run if run is not None else ProgramRun()
    recording = mocks(run)
    pulumi.runtime.set_mocks(
        recording,
        project=project,
        stack=stack,
        preview=False,
        monitor=RecordingMonitor(recording, run),
    )
    pulumi.runtime.set_all_config(as_pulumi_config(config))
    failure: list[BaseException] = []

    @pulumi.runtime.test
    def program():
        try:
            outputs = main()
        except BaseException as err:  # re-raised below, outside Pulumi's event loop
            failure.append(err)
            return None

        async def secret_keys() -> set[str]:
            return {
                key
                for key, value in outputs.items()
                if await pulumi.Output.from_input(value).is_secret()
            }

        return pulumi.Output.all(
            pulumi.Output.from_input(outputs).apply(run.outputs.update),
            pulumi.Output.from_input(secret_keys()).apply(run.secret_outputs.update),
        )

    program()
    if failure:
        raise failure[0]
    return run
