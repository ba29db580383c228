"""Run a Pulumi program under mocks and collect what it registers (``meshvis offline``, and
the tests of the whole program).

There is no Pulumi CLI or cloud here: ``pulumi.runtime.set_mocks`` stands in for the engine,
the caller loads the config itself (the CLI would read ``Pulumi.<stack>.yaml``) and the program
runs inside ``@pulumi.runtime.test`` so every registration has finished before anyone looks at
what it registered.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
from google.protobuf import json_format

from components.settings.naming import PROJECT
from components.settings.stack_files import PROJECT_ROOT, as_pulumi_config

if TYPE_CHECKING:  # the engine's messages, for annotations only
    from pulumi.runtime.proto import alias_pb2, resource_pb2

ROOT = PROJECT_ROOT
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
    # Input paths whose change replaces the resource whatever its provider says
    # (``replaceOnChanges``: the engine's applyReplaceOnChanges).
    replace_on_changes: tuple[str, ...] = ()
    retain_on_delete: bool = False
    # The id of an existing resource the engine would import instead of creating one.
    import_id: str = ""
    # The (type, name) and parent (type, name) of each earlier URN the resource answers to
    # (``aliases``): the engine moves a resource it finds under one to the new URN.
    aliases: tuple[tuple[tuple[str, str], tuple[str, str] | None], ...] = ()


def _key(urn: str) -> tuple[str, str]:
    # urn:pulumi:<stack>::<project>::<parent types $ type>::<name>
    _, _, qualified, name = urn.split("::", 3)
    return qualified.split("$")[-1], name


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock engine, also recording each registration's dependencies and options."""

    def __init__(self, mocks: pulumi.runtime.Mocks, run: ProgramRun) -> None:
        super().__init__(mocks)
        self.run = run

    def RegisterResource(  # the engine's RPC name
        self, request: resource_pb2.RegisterResourceRequest
    ) -> resource_pb2.RegisterResourceResponse:
        def keys(urns: Iterable[str]) -> frozenset[tuple[str, str]]:
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
            replace_on_changes=tuple(request.replaceOnChanges),
            retain_on_delete=request.retainOnDelete,
            import_id=request.importId,
            aliases=tuple(_alias(a, request) for a in request.aliases),
        )
        return super().RegisterResource(_without_resource_references(request))


# How the engine's wire format marks a resource reference (pulumi/runtime/rpc.py).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"


def _without_resource_references(
    request: resource_pb2.RegisterResourceRequest,
) -> resource_pb2.RegisterResourceRequest:
    """``request`` with each resource passed as an input (pulumi-eks's Addon takes the Cluster)
    replaced by its URN. The mock engine would rehydrate the resource on its own thread's event
    loop, and the program's loop, awaiting every outstanding RPC, would then await that
    ``get_resource`` task from the wrong loop: "attached to a different loop", now and then,
    in whichever run came next."""
    inputs = json_format.MessageToDict(request.object)

    def replaced(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(_SIG_KEY) == _RESOURCE_SIG:
                return value["urn"]
            return {key: replaced(item) for key, item in value.items()}
        if isinstance(value, list):
            return [replaced(item) for item in value]
        return value

    cleaned = replaced(inputs)
    if cleaned == inputs:
        return request
    copy = type(request)()
    copy.CopyFrom(request)
    copy.object.Clear()
    copy.object.update(cleaned)
    return copy


def _alias(
    alias: alias_pb2.Alias, request: resource_pb2.RegisterResourceRequest
) -> tuple[tuple[str, str], tuple[str, str] | None]:
    """An alias as the engine resolves it: a whole URN, or a spec whose unset parts are the
    resource's own (pulumi sdk/python/lib/pulumi/resource.py ``Alias``: a name or type not
    given is the current one; a parent not given is the current parent)."""
    if alias.urn:
        return _key(alias.urn), None
    spec = alias.spec
    key = (spec.type or request.type, spec.name or request.name)
    if spec.noParent:
        return key, None
    parent = spec.parentUrn or request.parent
    return key, _key(parent) if parent else None


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
    # The config map the program ran with (native values).
    config: dict[str, Any] = field(default_factory=dict)

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
        # What the IAM role of a service account trusts (createOidcProvider).
        issuer = f"oidc.eks.us-west-2.amazonaws.com/id/{name.upper()}"
        outputs.setdefault("oidcIssuer", issuer)
        outputs.setdefault("oidcProviderArn", f"arn:aws:iam::123456789012:oidc-provider/{issuer}")
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

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.run.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
        return f"{args.name}-id", _mock_outputs(args)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.run.calls.append((args.token, dict(args.args)))
        return _answer(args), []  # no failures


def _answer(args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
    """What the mock engine answers an invoke of the providers' look-ups (empty: unknown)."""
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


class ExistingResources(RecordingMocks):
    """Mocks that also answer the look-ups of an ECS cluster and a Cloud Map namespace that
    already exist (what the examples build on), by the names asked for."""

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:ecs/getCluster:getCluster":
            name = args.args["clusterName"]
            return {
                "arn": f"arn:aws:ecs:us-west-2:123456789012:cluster/{name}",
                "clusterName": name,
                "id": name,
            }, []
        if args.token == "aws:servicediscovery/getDnsNamespace:getDnsNamespace":
            return {
                "id": "ns-existing",
                "name": args.args["name"],
                "type": "DNS_PRIVATE",
                "arn": "arn:aws:servicediscovery:us-west-2:123456789012:namespace/ns-existing",
                "hostedZone": "Z0123",
                "description": "",
            }, []
        return super().call(args)


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
    project: str = PROJECT,
    mocks: type[RecordingMocks] = RecordingMocks,
) -> ProgramRun:
    """Run ``main`` as a Pulumi program of ``project`` with a config map (native values) and
    return what it registered; ``main`` returns the stack's outputs. ``mocks`` may add invoke
    results (a subclass of ``RecordingMocks``). Raises whatever ``main`` raises."""
    run = run if run is not None else ProgramRun()
    run.config = dict(config)
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
    def program() -> pulumi.Output[list[Any]] | None:
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
            # pulumi's Input[U] (U | Awaitable[U] | Output[U]) leaves U open for a coroutine.
            pulumi.Output.from_input(secret_keys()).apply(run.secret_outputs.update),  # type: ignore[arg-type]
        )

    program()
    if failure:
        raise failure[0]
    return run
