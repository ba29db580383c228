"""A day-2 `pulumi preview` without the Pulumi CLI: run the program twice under mocks (the
deployed config and the changed one) and classify every resource the way the engine would.

The engine diffs each resource's new inputs against its state through its provider; the
provider answers "update in place" or "replace", and for a replacement whether the old one
must go first. The providers' answers come from ``tests.support.replacement_rules`` (their
sources cited there); the engine's part is reproduced here from pulumi/pulumi
``pkg/resource/deploy/step_generator.go`` @1b594989:

* a replacement is create-before-delete unless the provider asks for delete-before-create
  (``DiffResponse.DeleteBeforeReplace``) or the program's ``deleteBeforeReplace`` option
  says otherwise; the option, when set, wins either way (lines 2043-2046);
* a delete-before-create replacement first deletes every dependent that the replacement
  would replace too ("dependent replacements", lines 2049-2120);
* an input that depends on a replaced resource is unknown in the plan; if it is one of the
  dependent's replace-on-change inputs, the dependent is replaced as well;
* creates, updates and the "create" half of replacements run in dependency order; deletes of
  removed resources and the "delete" half of create-before-delete replacements run last, in
  reverse dependency order;
* a new resource with an alias that names a resource of the old state (same type and name,
  and the same parent when the alias gives one) is that resource, diffed and updated under
  its new URN, never created and deleted (``pulumi.Alias``).

Under mocks a replaced resource keeps its mocked id, so the plan marks the inputs that refer
to it as changed itself: per input property, from the dependencies the SDK sent with the
registration, down to the leaves that hold one of the dependency's mocked outputs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi

from tests.support.pulumi_harness import ProgramRun, Registered, _mock_outputs
from tests.support.replacement_rules import RULES, Rule

# A change to a stack's config document, in place.
ConfigChange = Callable[[dict], None]

Key = tuple[str, str]

CREATE, UPDATE, REPLACE, DELETE = "create", "update", "replace", "delete"
CREATE_FIRST, DELETE_FIRST = "create-before-delete", "delete-before-create"


@dataclass(frozen=True)
class Change:
    """What the engine would do to one resource."""

    op: str
    key: Key
    mode: str = ""
    # The inputs that differ; for a replacement, those that force it.
    why: tuple[str, ...] = ()
    # A create-before-delete replacement whose new resource would carry the very unique name
    # the old one still holds (the create fails, or both share one physical object).
    name_conflict: bool = False


@dataclass(frozen=True)
class Step:
    """One step of the update, in the order the engine runs them."""

    action: str  # create | update | delete | create-replacement | delete-replaced
    key: Key


@dataclass
class Plan:
    """The changes and their order."""

    changes: dict[Key, Change]
    steps: list[Step]
    # (caller, upstream, its old or new bootstrap, the upstream's registration before or
    # after) pairings in which the caller's sidecar finds no name that answers (``dns_gaps``).
    dns_gaps: list[tuple[str, str, str, str]]
    # (old key, new key) of security-group rules held twice during the update
    # (``duplicate_rules``).
    duplicate_rules: list[tuple[Key, Key]] = dataclasses.field(default_factory=list)

    def of(self, op: str) -> list[Change]:
        return [c for c in self.changes.values() if c.op == op]


def rule(typ: str) -> Rule:
    """The replacement rule of a resource type; every type the program registers has one."""
    if typ not in RULES:
        raise KeyError(
            f"no replacement rule for {typ}: add it to tests/support/replacement_rules.py"
        )
    return RULES[typ]


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        if not value:
            yield path, {}
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if not value:
            yield path, []
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")
    else:
        yield path, value


def _generic(path: str) -> str:
    """``a.0.b`` -> ``a.*.b``: rules name list items generically."""
    return ".".join("*" if part.isdigit() else part for part in path.split("."))


def _matches(changed: str, paths: tuple[str, ...]) -> bool:
    generic = _generic(changed)
    return any(
        generic == p or generic.startswith(p + ".") or p.startswith(generic + ".") for p in paths
    )


def state_after_create(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs as the provider stores them: blocks it drops when empty are gone."""
    return {
        k: v
        for k, v in inputs.items()
        if not (k in rule(typ).dropped_when_empty and v in ({}, [], None))
    }


# What pulumi-aws (v7, on terraform-provider-aws v6) adds to every regional resource: the
# provider's region as the resource's own `region` input, which replaces the resource when it
# changes ("Changing the value of `region` will force resource replacement": hashicorp/
# terraform-provider-aws website/docs/guides/enhanced-region-support.html.markdown @0cb788ce;
# IAM is global and has none).
REGION = "region"


def provider_inputs(run: ProgramRun, typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A resource's inputs as its provider stores them: with the provider's region injected
    into every region-aware AWS resource, unless the program set one itself."""
    if typ.startswith("aws:") and rule(typ).region_aware and REGION not in inputs:
        return {**inputs, REGION: run.config.get("aws:region")}
    return inputs


def _kind_switched(r: Rule, old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    """The ``one_of`` inputs set before or after, when the set one is another one."""
    before = {k for k in r.one_of if old.get(k) is not None}
    after = {k for k in r.one_of if new.get(k) is not None}
    return tuple(sorted(before | after)) if before != after else ()


def _reported_path(old: Any, new: Any, leaf: str) -> str:
    """The path a provider's detailed diff names for a changed ``leaf``: the shallowest one
    that the old or the new inputs lack (a block added or removed whole is one entry), else
    the leaf itself (pulumi/pulumi-kubernetes provider/pkg/provider/provider.go
    ``addPatchValueToDiff`` @94977969: a value missing from the old state is one ADD, a map
    present on both sides is compared key by key)."""
    parts = leaf.split(".")
    for depth, part in enumerate(parts):
        found = []
        for side in (old, new):
            if isinstance(side, dict) and part in side:
                found.append(side[part])
            elif isinstance(side, list) and part.isdigit() and int(part) < len(side):
                found.append(side[int(part)])
        if len(found) < 2:
            return ".".join(parts[: depth + 1])
        old, new = found
    return leaf


def _contains(pattern: str, path: str) -> bool:
    """pulumi/pulumi ``PropertyPath.Contains`` (sdk/go/common/resource/properties_path.go
    @1b594989): ``pattern`` (``*`` for any key or item) is ``path`` or one of its ancestors;
    a pattern deeper than the reported path never matches."""
    wanted = pattern.replace("[*]", ".*").split(".")
    found = path.split(".")
    return len(found) >= len(wanted) and all(
        w in ("*", f) for w, f in zip(wanted, found[: len(wanted)], strict=True)
    )


def _replaced_on_change(patterns: tuple[str, ...], old: dict, new: dict, leaf: str) -> bool:
    """Whether the program's ``replaceOnChanges`` turns this change into a replacement (the
    engine's ``applyReplaceOnChanges``, pkg/resource/deploy/step_generator.go @1b594989,
    matches its patterns against the provider's detailed diff)."""
    reported = _reported_path(old, new, leaf)
    return any(_contains(p, reported) for p in patterns)


def _differences(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    before, after = dict(_leaves(old)), dict(_leaves(new))
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def _tokens(typ: str, name: str, inputs: dict[str, Any]) -> set[str]:
    """The mocked outputs of a resource that other inputs can hold (ids, ARNs, names)."""
    outputs = _mock_outputs(pulumi.runtime.MockResourceArgs(typ=typ, name=name, inputs=inputs))
    computed = {v for k, v in _leaves(outputs) if isinstance(v, str) and k not in inputs}
    return computed | {f"{name}-id"}


def _referring_leaves(value: Any, prop: str, tokens: set[str]) -> set[str]:
    found = set()
    for path, leaf in _leaves(value, prop):
        text = leaf if isinstance(leaf, str) else json.dumps(leaf)
        if any(token == text or token in text for token in tokens):
            found.add(path)
    return found


def _replace_on(run: ProgramRun, res: Registered, r: Rule) -> tuple[str, ...]:
    """The row's replacing paths, less those the resource's own provider makes mutable (its
    provider reference is ``<urn>::<id>``, the URN ending in the provider's name)."""
    paths = r.replace_on or ()
    if r.mutable_with is None or not res.provider:
        return paths
    option, mutable = r.mutable_with
    name = res.provider.split("::")[3]
    providers = [p for p in run.resources if p.typ.startswith("pulumi:providers:")]
    if any(p.name == name and p.inputs.get(option) in (True, "true") for p in providers):
        return tuple(p for p in paths if p not in mutable)
    return paths


def _delete_first(typ: str, old: dict, new: dict, option: bool | None) -> bool:
    if option is not None:
        return option
    r = rule(typ)
    if r.always_delete_first:
        return True
    if r.provider == "kubernetes":
        # provider/pkg/provider/provider.go: a named object replaced under the same name and
        # namespace is deleted first.
        meta_old, meta_new = old.get("metadata") or {}, new.get("metadata") or {}
        return bool(meta_new.get("name")) and all(
            meta_old.get(k) == meta_new.get(k) for k in ("name", "namespace")
        )
    # pulumi-terraform-bridge pkg/tfbridge/schema.go nameRequiresDeleteBeforeReplace: an
    # auto-nameable property that the program set itself.
    return any(p in new for p in r.autonamed)


def moved(old: ProgramRun, new: ProgramRun) -> dict[Key, Key]:
    """New key -> the old state's key it answers to through an alias (the old key gone from
    the new run, its parent the alias's when the alias names one)."""
    found = {}
    for key, options in new.options.items():
        for alias, parent in options.aliases:
            if (
                alias != key
                and alias in old.options
                and alias not in new.options
                and (parent is None or old.options[alias].parent == parent)
            ):
                found[key] = alias
    return found


def plan(old: ProgramRun, new: ProgramRun) -> Plan:
    """What ``pulumi up`` would do to the stack ``old`` deployed when the program now
    registers ``new``."""
    before = {(r.typ, r.name): r for r in old.resources}
    after = {(r.typ, r.name): r for r in new.resources}
    aliased = moved(old, new)
    changes: dict[Key, Change] = {}
    replaced_first: dict[Key, bool] = {}  # replaced key -> replaced delete-first

    for key in new.options:  # registration order: dependencies come first
        if key not in after or rule(key[0]).provider == "component":
            continue
        res = after[key]
        was = aliased.get(key, key)
        if was not in before:
            changes[key] = Change(CREATE, key)
            continue
        old_inputs = provider_inputs(old, key[0], state_after_create(key[0], before[was].inputs))
        new_inputs = provider_inputs(new, key[0], res.inputs)
        changed = _differences(old_inputs, new_inputs)
        options = new.options[key]
        cascade_first = False
        for prop, deps in options.property_dependencies.items():
            for dep in deps & replaced_first.keys():
                dep_inputs = after[dep].inputs if dep in after else {}
                leaves = _referring_leaves(
                    res.inputs.get(prop), prop, _tokens(dep[0], dep[1], dep_inputs)
                )
                changed |= leaves or {prop}
                cascade_first = cascade_first or replaced_first[dep]
        changed = {p for p in changed if not _matches(p, options.ignore_changes)}
        if not changed:
            continue
        r = rule(key[0])
        replace_on = (
            *_replace_on(new, res, r),
            *([REGION] if REGION in new_inputs else []),
        )
        forcing = tuple(
            sorted(
                {p for p in changed if r.replace_on is None or _matches(p, replace_on)}
                | {
                    p
                    for p in changed
                    if _replaced_on_change(options.replace_on_changes, old_inputs, new_inputs, p)
                }
                | set(_kind_switched(r, old_inputs, new_inputs))
            )
        )
        if not forcing:
            changes[key] = Change(UPDATE, key, why=tuple(sorted(changed)))
            continue
        first = cascade_first or _delete_first(
            key[0], old_inputs, new_inputs, options.delete_before_replace
        )
        conflict = (
            not first
            and not any(_matches(p, (*r.name_scope, REGION)) for p in changed)
            and any(
                p in new_inputs and new_inputs.get(p) == old_inputs.get(p) for p in r.unique_names
            )
        )
        replaced_first[key] = first
        changes[key] = Change(
            REPLACE, key, DELETE_FIRST if first else CREATE_FIRST, forcing, conflict
        )
    for key in old.options:
        if (
            key in before
            and key not in after
            and key not in aliased.values()
            and rule(key[0]).provider != "component"
        ):
            changes[key] = Change(DELETE, key)
    return Plan(
        changes,
        _order(changes, list(old.options), list(new.options)),
        dns_gaps(old, new),
        duplicate_rules(changes, old, new),
    )


def _order(changes: dict[Key, Change], old_order: list[Key], new_order: list[Key]) -> list[Step]:
    steps = [
        Step("delete-replaced", k)
        for k in reversed(new_order)
        if k in changes and changes[k].mode == DELETE_FIRST
    ]
    for key in new_order:
        change = changes.get(key)
        if change is None:
            continue
        if change.op == REPLACE:
            steps.append(Step("create-replacement", key))
        elif change.op in (CREATE, UPDATE):
            steps.append(Step(change.op, key))
    steps += [
        Step("delete-replaced" if key in changes and changes[key].op == REPLACE else "delete", key)
        for key in reversed(old_order)
        if key in changes and (changes[key].op == DELETE or changes[key].mode == CREATE_FIRST)
    ]
    return steps


# --- security-group rules that exist twice during an update -------------------------------

RULE_TYPES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
PEERS = ("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId")


def rule_identity(typ: str, inputs: dict[str, Any]) -> tuple:
    """What EC2 compares to refuse a rule as InvalidPermission.Duplicate: direction, group,
    peer, protocol and ports (the description is not part of it)."""
    return (
        typ,
        inputs.get("securityGroupId"),
        tuple(inputs.get(p) for p in PEERS),
        inputs.get("ipProtocol"),
        inputs.get("fromPort"),
        inputs.get("toPort"),
    )


def duplicate_rules(
    changes: dict[Key, Change], old: ProgramRun, new: ProgramRun
) -> list[tuple[Key, Key]]:
    """(old key, new key) of every security-group rule the update creates (or creates as a
    replacement) while an identical one still exists under another URN, to be deleted only at
    the end: EC2 refuses that create, and the update stops."""
    created = {
        rule_identity(c.key[0], new.one(*c.key).inputs): c.key
        for c in changes.values()
        if c.key[0] in RULE_TYPES and (c.op == CREATE or c.mode == CREATE_FIRST)
    }
    return [
        (c.key, created[identity])
        for c in changes.values()
        if c.key[0] in RULE_TYPES
        and (c.op == DELETE or c.mode == CREATE_FIRST)
        and (identity := rule_identity(c.key[0], old.one(*c.key).inputs)) in created
        and created[identity] != c.key
    ]


# --- DNS answers through an update (ecs) ------------------------------------------------

ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
DISCOVERY = "aws:servicediscovery/service:Service"
NAMESPACE = "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace"


@dataclass(frozen=True)
class Mesh:
    """What one run registers for DNS, per service name: the names each caller's sidecar
    resolves per upstream, the name its tasks are registered under, and its ECS service."""

    resolves: dict[str, dict[str, frozenset[str]]]
    registered: dict[str, str]
    keys: dict[str, Key]


def _by_output(run: ProgramRun, typ: str, output: str) -> dict[str, Any]:
    return {
        _mock_outputs(pulumi.runtime.MockResourceArgs(typ=r.typ, name=r.name, inputs=r.inputs))[
            output
        ]: r
        for r in run.of_type(typ)
    }


def _resolved_names(container_definitions: str) -> dict[str, frozenset[str]]:
    """Upstream cluster -> the DNS names of its STRICT_DNS endpoints, from the Envoy
    container's ``--config-yaml`` bootstrap."""
    found = {}
    for container in json.loads(container_definitions):
        command = container.get("command") or []
        if "--config-yaml" not in command:
            continue
        bootstrap = json.loads(command[command.index("--config-yaml") + 1])
        for cluster in bootstrap["static_resources"]["clusters"]:
            if cluster["type"] == "STRICT_DNS":
                found[cluster["name"]] = frozenset(
                    e["endpoint"]["address"]["socket_address"]["address"].rstrip(".")
                    for group in cluster["load_assignment"]["endpoints"]
                    for e in group["lb_endpoints"]
                )
    return found


def mesh_dns(run: ProgramRun) -> Mesh:
    """The DNS side of an ecs run, read from its registered inputs only."""
    definitions = _by_output(run, TASK_DEFINITION, "arn")
    discovery = _by_output(run, DISCOVERY, "arn")
    namespaces = {f"{r.name}-id": r for r in run.of_type(NAMESPACE)}
    resolves, registered, keys = {}, {}, {}
    for service in run.of_type(ECS_SERVICE):
        name = service.inputs["name"]
        keys[name] = (ECS_SERVICE, service.name)
        definition = definitions[service.inputs["taskDefinition"]]
        resolves[name] = _resolved_names(definition.inputs["containerDefinitions"])
        registry = service.inputs.get("serviceRegistries")
        if registry:
            cloud_map = discovery[registry["registryArn"]]
            zone = namespaces[cloud_map.inputs["dnsConfig"]["namespaceId"]].inputs["name"]
            registered[name] = f"{cloud_map.inputs['name']}.{zone}"
    return Mesh(resolves, registered, keys)


def dns_gaps(old: ProgramRun, new: ProgramRun) -> list[tuple[str, str, str, str]]:
    """Every (caller, upstream, bootstrap, registration) pairing that leaves a caller's sidecar
    without a name that answers during the update from ``old`` to ``new``: the names its
    bootstrap resolves hold none the upstream's tasks are registered under.

    Callers' old tasks run through the whole update, so their bootstrap must find the
    upstream's tasks as registered before and after it; a caller's new tasks start only once
    the upstreams it depends on are steady (``wait_for_steady_state``), so only the upstream's
    registration after the update counts for them, unless it does not depend on it. A removed
    upstream stays registered as before until the end of the update.
    """
    before, after = mesh_dns(old), mesh_dns(new)

    def registrations(upstream: str) -> dict[str, str]:
        found = {
            "before": before.registered.get(upstream),
            "after": after.registered.get(upstream, before.registered.get(upstream)),
        }
        return {when: name for when, name in found.items() if name is not None}

    gaps = []
    for mesh, label in ((before, "old"), (after, "new")):
        for caller, clusters in mesh.resolves.items():
            for upstream, names in clusters.items():
                found = registrations(upstream)
                if (
                    label == "new"
                    and upstream in after.keys
                    and after.keys[upstream] in new.options[after.keys[caller]].dependencies
                ):
                    found.pop("before", None)
                gaps += [
                    (caller, upstream, label, when)
                    for when, name in found.items()
                    if name not in names
                ]
    return gaps


# --- the day-2 changes the check covers, and the docs/day-2.md table made from them ------------

ECS_BASE, EKS_BASE = "dev", "dev-eks"
WORKLOADS = ("aws:ecs/service:Service", "kubernetes:apps/v1:Deployment")
# Estimates for docs/day-2.md, not measurements: an ECS rollout with wait_for_steady_state
# (Fargate pull and start, LB_GRACE_SECONDS, two 15 s health checks, the 30 s deregistration
# delay) takes about three minutes; a pod starts, becomes ready and is drained in about half
# a minute, and a Deployment replaces one pod at a time (maxSurge 1, maxUnavailable 0).
ECS_ROLLOUT_MINUTES = 3
EKS_POD_SECONDS = 30
CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab"


def _services(config: dict) -> list[dict]:
    return config["mesh-visibility:services"]


def _service(config: dict, name: str) -> dict:
    return next(s for s in _services(config) if s["name"] == name)


def _set_region(region: str) -> ConfigChange:
    def change(config: dict) -> None:
        config["aws:region"] = region

    return change


def _set(key: str, value: Any) -> ConfigChange:
    def change(config: dict) -> None:
        config[f"mesh-visibility:{key}"] = value

    return change


def _add_leaf(config: dict) -> None:
    _services(config).insert(0, {"name": "echo", "port": 3000, "replicas": 2})


def _remove_name(config: dict) -> None:
    config["mesh-visibility:services"] = [s for s in _services(config) if s["name"] != "name"]
    _service(config, "greeter")["upstreams"].remove("name")


def _remove_load_generator(config: dict) -> None:
    config["mesh-visibility:services"] = [
        s for s in _services(config) if s["name"] != "load-generator"
    ]


def _port(name: str, port: int) -> ConfigChange:
    def change(config: dict) -> None:
        _service(config, name)["port"] = port

    return change


def _replicas(name: str, replicas: int) -> ConfigChange:
    def change(config: dict) -> None:
        _service(config, name)["replicas"] = replicas

    return change


def _upstreams(name: str, upstreams: list[str], add_leaf: bool = False) -> ConfigChange:
    def change(config: dict) -> None:
        if add_leaf:
            _add_leaf(config)
        _service(config, name)["upstreams"] = upstreams

    return change


@dataclass(frozen=True)
class Scenario:
    """One day-2 change: what it is, how it is applied to each base stack (None: the key does
    not apply to that topology) and what to do in two steps, if anything. ``deployed``: the
    change that made the stack as deployed before this one (a second step), if any. ``keys``:
    the config keys it changes (``meshName``, ``aws:region``, ``services[].port``), which
    ``test_every_config_key_has_a_scenario`` checks against every key there is.
    ``new_stack``: the plan is shown, and the advice is a new stack instead (the change would
    replace what carries traffic delete-first). ``previous_version``: the stack as an earlier
    version of this program deployed it (the base run's stored inputs rewritten), for an
    upgrade of the program itself with an unchanged config."""

    label: str
    ecs: Any
    eks: Any
    advice: str
    deployed: Any = None
    keys: tuple[str, ...] = ()
    new_stack: bool = False
    previous_version: Any = None


NEW_NAMESPACE = "mesh"


def _namespace_step_1(config: dict) -> None:
    config["mesh-visibility:previousDnsNamespace"] = config["mesh-visibility:dnsNamespace"]
    config["mesh-visibility:dnsNamespace"] = NEW_NAMESPACE


def _namespace_step_2(config: dict) -> None:
    config["mesh-visibility:dnsNamespace"] = NEW_NAMESPACE
    config.pop("mesh-visibility:previousDnsNamespace", None)


def _service_field(name: str, **values: Any) -> ConfigChange:
    def change(config: dict) -> None:
        _service(config, name).update(values)

    return change


def _own_image(name: str) -> ConfigChange:
    """ecs: the demo app's ``name`` runs an image of its own first (dev-eks's nginx has one;
    the demo app always answers /health, whatever its healthPath)."""

    def change(config: dict) -> None:
        if any(s["name"] == name for s in _services(config)):
            _service(config, name).update(image=OWN_IMAGE, port=8080)

    return change


_greeting_own_image = _own_image("greeting")
_greeter_own_image = _own_image("greeter")


def _load_to_app(config: dict) -> None:
    service = _service(config, "load-generator")
    service.pop("rate", None)
    service.update(kind="app", port=3000)


def _rename_leaf(config: dict) -> None:
    _service(config, "name")["name"] = "person"
    greeter = _service(config, "greeter")
    greeter["upstreams"] = ["person" if u == "name" else u for u in greeter["upstreams"]]


def _both(*changes: ConfigChange) -> ConfigChange:
    def change(config: dict) -> None:
        for one in changes:
            one(config)

    return change


OWN_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.30-alpine"
FAULTS = {"abortPercent": 0, "delayPercent": 0}
SLO = {"availability": 99.5}
WEBHOOK = "https://alerts.example.com/hook"
ONE_ROLL = "One step: that service's tasks or pods roll."
EVERY_ROLL = "One step: every sidecar's bootstrap changes, every service rolls, upstreams first."
ALARMS_ONLY = "One step: the alarms or alert rules change in place, nothing rolls."

# The EKS cluster and its nodes (eks:index:Cluster, eks:index:ManagedNodeGroup rules in
# tests/support/replacement_rules.py, read from terraform-provider-aws eks/cluster.go and
# node_group.go). Prometheus's and Tempo's data are on EBS volumes: a node that goes keeps it.
NODE_ROLL = (
    "the managed node group replaces its nodes one at a time, evicting pods within their "
    "disruption budgets; Prometheus and Tempo reattach their EBS volumes in the same zone"
)
EKS_SCENARIOS = (
    Scenario(
        "upgrade `eksVersion`",
        None,
        _set("eksVersion", "1.36"),
        "One minor version per step (EKS refuses a jump): the control plane is upgraded in "
        f"place, then {NODE_ROLL}.",
        deployed=_set("eksVersion", "1.35"),
        keys=("eksVersion",),
    ),
    Scenario(
        "change `nodeInstanceType`",
        None,
        _set("nodeInstanceType", "t3.large"),
        "One step: a new node group is created first, then the old one is deleted, draining "
        "its nodes (its pods move to the new nodes; volumes follow in their zone).",
        keys=("nodeInstanceType",),
    ),
    Scenario(
        "change `nodeCount`",
        None,
        _set("nodeCount", 4),
        "One step, in place: nodes are added or removed (a removed node is drained first); "
        "the preview warns if the pods would not fit with one node lost.",
        keys=("nodeCount",),
    ),
    Scenario(
        "change `apiAccessCidrs`",
        None,
        _set("apiAccessCidrs", ["203.0.113.0/24"]),
        "One step, in place (a few minutes): keep the address `pulumi up` runs from in the "
        "list, or the next update cannot reach the cluster.",
        keys=("apiAccessCidrs",),
    ),
)

# Every other config key and service field, each applied the way a user would change it.
MORE_SCENARIOS = (
    Scenario(
        "rename a service",
        _rename_leaf,
        None,
        "One step: a new service (new DNS name, log groups, roles) and its callers roll to "
        "it; the old one is deleted at the end.",
        keys=("services[].name",),
    ),
    Scenario(
        "change a service's `kind`",
        _load_to_app,
        _load_to_app,
        "One step: it gains an ingress, a DNS name and its health checks; it rolls.",
        keys=("services[].kind",),
    ),
    Scenario(
        "change a load generator's `rate`",
        _service_field("load-generator", rate=5),
        _service_field("load-generator", rate=5),
        ONE_ROLL,
        keys=("services[].rate",),
    ),
    Scenario(
        "give a service its own `image`",
        _service_field("greeting", image=OWN_IMAGE, port=8080),
        None,
        ONE_ROLL + " The image must answer `healthPath` and have curl or wget (docs/day-2.md).",
        keys=("services[].image",),
    ),
    Scenario(
        "change a service's `command`",
        _service_field("greeting", command=["nginx", "-g", "daemon off;"]),
        _service_field("nginx", command=["nginx", "-g", "daemon off;"]),
        ONE_ROLL,
        deployed=_greeting_own_image,
        keys=("services[].command",),
    ),
    Scenario(
        "change a service's `env`",
        _service_field("greeting", env={"WORDS": "Hello,Hi"}),
        _service_field("nginx", env={"NGINX_ENTRYPOINT_QUIET_LOGS": "1"}),
        ONE_ROLL,
        keys=("services[].env",),
    ),
    Scenario(
        "change a service's `cpu`",
        _service_field("greeting", cpu=512),
        _service_field("nginx", cpu=256),
        ONE_ROLL,
        keys=("services[].cpu",),
    ),
    Scenario(
        "change a service's `memory`",
        _service_field("greeting", memory=1024),
        _service_field("nginx", memory=256),
        ONE_ROLL,
        keys=("services[].memory",),
    ),
    Scenario(
        "change a service's `healthPath`",
        _both(_greeter_own_image, _service_field("greeter", healthPath="/")),
        _service_field("nginx", healthPath="/index.html"),
        "One step, with the service's rollout: on ECS the path is in the app container's "
        "health check and, for the entry, in its sidecar's route for the ALB's fixed check "
        "path (the target group never changes); on EKS in the readiness probe. The demo app "
        "is always checked on its own `/health`.",
        deployed=_greeter_own_image,
        keys=("services[].healthPath",),
    ),
    Scenario(
        "turn a service's `healthCheck` off",
        _both(_greeting_own_image, _service_field("greeting", healthCheck=False)),
        None,
        ONE_ROLL + " Its tasks keep only the sidecar's check: a hung app stays in DNS.",
        deployed=_greeting_own_image,
        keys=("services[].healthCheck",),
    ),
    Scenario(
        "add `faults` to a service",
        _service_field("greeting", faults=FAULTS),
        _service_field("nginx", faults=FAULTS),
        ONE_ROLL + " Raise or clear them at run time through the admin API (docs/faults.md).",
        keys=("services[].faults",),
    ),
    Scenario(
        "override a service's `slo`",
        _service_field("greeting", slo=SLO),
        _service_field("nginx", slo=SLO),
        ALARMS_ONLY,
        keys=("services[].slo",),
    ),
    Scenario(
        "change the mesh-wide `slo`",
        _set("slo", {"windowDays": 7}),
        _set("slo", {"windowDays": 7}),
        ALARMS_ONLY + " On eks a new `windowDays` also sets Prometheus's retention and "
        "volume size; a larger volume needs its claim resized by hand "
        "(docs/deploy-checklist.md).",
        keys=("slo",),
    ),
    Scenario(
        "set `alertEmail`",
        _set("alertEmail", "oncall@example.com"),
        None,
        "One step: an SNS email subscription, active once the recipient confirms it.",
        keys=("alertEmail",),
    ),
    Scenario(
        "set `alertWebhookUrl`",
        None,
        _set("alertWebhookUrl", WEBHOOK),
        "One step: Alertmanager's receiver changes; nothing of the mesh rolls.",
        keys=("alertWebhookUrl",),
    ),
    Scenario(
        "change `latencyAlarmMs`",
        _set("latencyAlarmMs", 500),
        _set("latencyAlarmMs", 500),
        "One step: alarms or alert rules change; the slow-request threshold of the access "
        "log follows it (unless `accessLogSlowMs`), so every service rolls.",
        keys=("latencyAlarmMs",),
    ),
    Scenario(
        "change `errorRateAlarmPercent`",
        _set("errorRateAlarmPercent", 2),
        _set("errorRateAlarmPercent", 2),
        ALARMS_ONLY,
        keys=("errorRateAlarmPercent",),
    ),
    Scenario(
        "change `accessLog`",
        _set("accessLog", "errors"),
        _set("accessLog", "errors"),
        EVERY_ROLL,
        keys=("accessLog",),
    ),
    Scenario(
        "change `accessLogSamplePercent`",
        _set("accessLogSamplePercent", 5),
        _set("accessLogSamplePercent", 5),
        EVERY_ROLL,
        keys=("accessLogSamplePercent",),
    ),
    Scenario(
        "change `accessLogSlowMs`",
        _set("accessLogSlowMs", 250),
        _set("accessLogSlowMs", 250),
        EVERY_ROLL,
        keys=("accessLogSlowMs",),
    ),
    Scenario(
        "turn `tracing` off",
        _set("tracing", False),
        _set("tracing", False),
        EVERY_ROLL,
        keys=("tracing",),
    ),
    Scenario(
        "change `traceSampleRate`",
        _set("traceSampleRate", 50),
        _set("traceSampleRate", 50),
        "Nothing under the trace ceiling (`traceLimitPerMinute`, on by default: the share "
        "applies only without it); with `traceLimitPerMinute: 0`, every sidecar's bootstrap "
        "changes and every service rolls, upstreams first.",
        keys=("traceSampleRate",),
    ),
    Scenario(
        "change `traceLimitPerMinute`",
        _set("traceLimitPerMinute", 120),
        _set("traceLimitPerMinute", 120),
        "One step: every app sidecar's bootstrap changes (each runs the ceiling; load "
        "generators do not trace), every app service rolls, upstreams first.",
        keys=("traceLimitPerMinute",),
    ),
    Scenario(
        "change `appImage`",
        _set("appImage", "python:3.12.13-slim"),
        _set("appImage", "python:3.12.13-slim"),
        "One step: every service that runs the demo app rolls.",
        keys=("appImage",),
    ),
    Scenario(
        "change `cloudwatchAgentImage`",
        _set(
            "cloudwatchAgentImage",
            "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300063.0b1318",
        ),
        None,
        EVERY_ROLL.replace("every sidecar's bootstrap changes, ", ""),
        keys=("cloudwatchAgentImage",),
    ),
    Scenario(
        "change `logRetentionDays`",
        _set("logRetentionDays", 30),
        None,
        "One step: every log group is updated in place, nothing rolls.",
        keys=("logRetentionDays",),
    ),
    Scenario(
        "change `logGroupsOnDelete`",
        _set("logGroupsOnDelete", "keep"),
        None,
        "One step, nothing rolls: from now on a removed service, a renamed mesh or "
        "`pulumi destroy` leaves the log groups to their retention. Either way a group "
        "that still exists is imported, and updated to match with Pulumi CLI 3.174.0 or "
        'later (docs/day-2.md "Log groups").',
        keys=("logGroupsOnDelete",),
    ),
    Scenario(
        "turn `containerInsights` on",
        _set("containerInsights", True),
        None,
        "One step: the cluster's setting changes in place after its log group exists.",
        keys=("containerInsights",),
    ),
    Scenario(
        "change `cpuArchitecture`",
        _set("cpuArchitecture", "X86_64"),
        None,
        EVERY_ROLL.replace("every sidecar's bootstrap changes, ", ""),
        keys=("cpuArchitecture",),
    ),
    Scenario(
        "turn `fargateSpot` off",
        _set("fargateSpot", False),
        None,
        EVERY_ROLL.replace("every sidecar's bootstrap changes, ", ""),
        keys=("fargateSpot",),
    ),
    Scenario(
        "change `kubernetesNamespace`",
        None,
        _set("kubernetesNamespace", "shop"),
        "One step: a new namespace with every object of the mesh, then the old one goes; "
        "callers resolve the new names once they rolled.",
        keys=("kubernetesNamespace",),
    ),
    Scenario(
        "change `meshName`",
        _set("meshName", "hello"),
        _set("meshName", "hello"),
        "Everything under the new name is created, then everything under the old one is "
        "deleted (its log groups too, unless `logGroupsOnDelete: keep`): a new stack is "
        "simpler (docs/day-2.md).",
        keys=("meshName",),
    ),
    Scenario(
        "change `topology`",
        _set("topology", "eks"),
        _set("topology", "ecs"),
        "Use a new stack: the whole other topology is created and this one deleted.",
        keys=("topology",),
        new_stack=True,
    ),
    Scenario(
        "change `aws:region`",
        _set_region("us-east-2"),
        _set_region("us-east-2"),
        'Use a new stack in the new region (docs/day-2.md "Moving to another region"): '
        "every regional resource is replaced delete-first under its fixed name.",
        keys=("aws:region",),
        new_stack=True,
    ),
)


def _unchanged(config: dict) -> None:
    del config  # the program changed, not the config


def _tempo_on_empty_dir(run: ProgramRun) -> ProgramRun:
    """The stack as the version before EBS volumes deployed it: Tempo's data in an emptyDir
    (extraVolumes), no ``persistence`` values, so its StatefulSet had no volumeClaimTemplates."""
    from components.eks import tempo

    # Only the release is copied: the rest is unchanged.
    def before_volumes(r: Registered) -> Registered:
        if r.typ != HELM_RELEASE or r.inputs.get("name") != tempo.RELEASE_NAME:
            return r
        inputs = copy.deepcopy(r.inputs)
        values = inputs["values"]
        del values["persistence"]
        values["tempo"]["extraVolumeMounts"] = [{"name": "tempo-data", "mountPath": "/var/tempo"}]
        values["extraVolumes"] = [{"name": "tempo-data", "emptyDir": {"sizeLimit": "5Gi"}}]
        return dataclasses.replace(r, inputs=inputs)

    return dataclasses.replace(run, resources=[before_volumes(r) for r in run.resources])


TOPOLOGY = "meshvis:ecs:Topology"


def _alb_rule_under_the_topology(run: ProgramRun) -> ProgramRun:
    """The stack as c0559b3 deployed it: the load balancer's egress rule to the entry was the
    topology's child ``<name>-alb-to-entry`` (components/ecs/topology.py there), with the same
    group, peer, protocol and port as the entry service's ``<name>-<entry>-alb-to-envoy`` now."""
    topology = next(k for k in run.options if k[0] == TOPOLOGY)
    (current,) = [r for r in run.of_type(RULE_TYPES[1]) if r.name.endswith("-alb-to-envoy")]
    key, was = (current.typ, current.name), (current.typ, f"{topology[1]}-alb-to-entry")
    previous = dataclasses.replace(
        current,
        name=was[1],
        inputs={**current.inputs, "description": "Envoy ingress of the entry service"},
    )
    return dataclasses.replace(
        run,
        resources=[previous if r is current else r for r in run.resources],
        options={
            (was if k == key else k): (
                dataclasses.replace(v, parent=topology, aliases=()) if k == key else v
            )
            for k, v in run.options.items()
        },
    )


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Upgrades of the program itself that change what a deployed stack holds.
UPGRADE_SCENARIOS = (
    Scenario(
        "upgrade from a version with the load balancer's rule under the topology (c0559b3)",
        _unchanged,
        None,
        "One step: the rule `<mesh>-alb-to-entry` moves, through an alias, to the entry "
        "service as `<mesh>-<entry>-alb-to-envoy` and only its description is updated. "
        "Upgrade before changing `entryService`: in the same update the moved rule would "
        "be pointed at the new entry in place, cutting the old one off.",
        previous_version=_alb_rule_under_the_topology,
    ),
    Scenario(
        "upgrade from a version with Tempo on an emptyDir",
        None,
        _unchanged,
        "One step: the Tempo release is replaced delete-first (its StatefulSet gains a volume "
        "claim template, which Kubernetes refuses to change in place); the traces of the old "
        "emptyDir are lost and tracing pauses while Tempo starts (docs/eks.md).",
        previous_version=_tempo_on_empty_dir,
    ),
)

SCENARIOS = (
    Scenario(
        "add a service",
        _add_leaf,
        _add_leaf,
        "One step. Callers pick it up when it is named in their `upstreams` (below).",
        keys=("services",),
    ),
    Scenario(
        "remove a service",
        _remove_name,
        _remove_load_generator,
        "One step: callers roll first, the service is deleted at the end of the update "
        "(its log groups too, unless `logGroupsOnDelete: keep`).",
        keys=("services",),
    ),
    Scenario(
        "change a service's `port`",
        _port("greeting", 3001),
        _port("nginx", 8081),
        "One step: only that service's tasks or pods roll (callers reach port 15000).",
        keys=("services[].port",),
    ),
    Scenario(
        "change `replicas`",
        _replicas("greeting", 3),
        _replicas("nginx", 3),
        "One step, nothing that carries traffic is replaced: the service's sidecar gets its "
        "new share of the trace ceiling (`traceLimitPerMinute` per replica), so its task "
        "definition or ConfigMap is new; on ECS every update of a service is a rolling "
        "deployment of its tasks (`force_new_deployment`, which a `fargateSpot` switch needs).",
        keys=("services[].replicas",),
    ),
    Scenario(
        "change `upstreams`",
        _upstreams("load-generator", ["greeter", "greeting"]),
        _upstreams("load-generator", ["nginx", "echo"], add_leaf=True),
        "One step: a new upstream is up before its callers roll.",
        keys=("services[].upstreams",),
    ),
    Scenario(
        "change `dnsNamespace`",
        _set("dnsNamespace", NEW_NAMESPACE),
        None,
        "Has a gap, see below: old callers lose an upstream for up to one wave; use the "
        "two steps instead.",
        keys=("dnsNamespace",),
    ),
    Scenario(
        "change `dnsNamespace`, step 1",
        _namespace_step_1,
        None,
        "Set `dnsNamespace` to the new name and `previousDnsNamespace` to the old one: "
        "services stay registered in the old namespace, every sidecar resolves both.",
        keys=("previousDnsNamespace",),
    ),
    Scenario(
        "change `dnsNamespace`, step 2",
        _namespace_step_2,
        None,
        "Remove `previousDnsNamespace`: services register in the new namespace, the old "
        "one goes at the end of the update.",
        deployed=_namespace_step_1,
    ),
    Scenario(
        "change `statsProfile`",
        _set("statsProfile", "full"),
        _set("statsProfile", "full"),
        "One step: every sidecar's bootstrap changes, every service rolls.",
        keys=("statsProfile",),
    ),
    Scenario(
        "change `envoyImage`",
        _set("envoyImage", "docker.io/envoyproxy/envoy:v1.39.3"),
        _set("envoyImage", "docker.io/envoyproxy/envoy:v1.39.3"),
        "One step: every service rolls, upstreams first.",
        keys=("envoyImage",),
    ),
    Scenario(
        "change `entryService`",
        _set("entryService", "greeting"),
        None,
        "One step: the new entry gets its own firewall rules before its tasks start and is "
        "registered in the target group as it rolls; the old entry's rule goes at the end. "
        "If the old entry is an upstream of the new one, it rolls first and leaves the "
        "target group empty (503) for about one rollout: do it at a quiet moment "
        '(docs/day-2.md "Changes that need care").',
        keys=("entryService",),
    ),
    Scenario(
        "add `certificateArn`",
        _set("certificateArn", CERTIFICATE),
        None,
        "One step: port 80 redirects only once the HTTPS listener and its firewall rule exist.",
        keys=("certificateArn",),
    ),
    *MORE_SCENARIOS,
    *EKS_SCENARIOS,
    *UPGRADE_SCENARIOS,
)


def scenario_config(stack: str, change: ConfigChange) -> dict:
    """The base stack's config with ``change`` applied."""
    from components.settings.stack_files import stack_config

    config = copy.deepcopy(stack_config(stack))
    change(config)
    return config


def _rollout(plan_: Plan, new: ProgramRun, topology: str) -> str:
    # Every update of an ECS service is a new deployment: the program sets
    # force_new_deployment, which the provider sends with each UpdateService call
    # (resourceServiceUpdate in terraform-provider-aws internal/service/ecs/service.go).
    rolled = [
        c.key
        for c in plan_.changes.values()
        if c.key[0] in WORKLOADS
        and (
            c.op == CREATE
            or (c.op == UPDATE and c.key[0] == WORKLOADS[0])
            or any(
                p.startswith(
                    ("taskDefinition", "serviceRegistries", "loadBalancers", "spec.template")
                )
                for p in c.why
            )
        )
    ]
    if not rolled:
        scaled = any(c.key[0] in WORKLOADS for c in plan_.of(UPDATE))
        return "nothing rolls" + (" (scales in place)" if scaled else "")
    depth: dict[Key, int] = {}
    for key in new.options:  # registration order: upstream workloads first
        if key in rolled:
            deps = [d for d in new.options[key].dependencies if d in depth]
            depth[key] = 1 + max((depth[d] for d in deps), default=0)
    waves = max(depth.values())
    if topology == "ecs":
        return (
            f"{len(rolled)} ECS service(s) in {waves} wave(s), "
            f"about {waves * ECS_ROLLOUT_MINUTES} min"
        )
    replicas = {
        r.name: r.inputs.get("spec", {}).get("replicas", 1)
        for r in new.resources
        if r.typ == WORKLOADS[1]
    }
    seconds = sum(
        max(replicas.get(k[1], 1) for k in rolled if depth[k] == w) * EKS_POD_SECONDS
        for w in range(1, waves + 1)
    )
    return (
        f"{len(rolled)} Deployment(s) in {waves} wave(s), about {max(1, round(seconds / 60))} min"
    )


def _short(typ: str) -> str:
    return typ.split(":")[-1]


def summary(plan_: Plan) -> str:
    """What the plan does, per kind of change, as one table cell."""
    parts = []
    for op, title in ((CREATE, "creates"), (DELETE, "deletes")):
        types = sorted({_short(c.key[0]) for c in plan_.of(op)})
        if types:
            parts.append(f"{title} {', '.join(types)}")
    replaced = sorted(
        {
            f"{_short(c.key[0])} ({'delete-first' if c.mode == DELETE_FIRST else 'new first'})"
            for c in plan_.of(REPLACE)
        }
    )
    if replaced:
        parts.append("replaces " + ", ".join(replaced))
    updated = sorted({_short(c.key[0]) for c in plan_.of(UPDATE)})
    if updated:
        parts.append("updates in place " + ", ".join(updated))
    return "; ".join(parts) or "nothing"


def plans() -> list[tuple[Scenario, str, Plan, ProgramRun]]:
    """Every scenario on every topology it applies to: (scenario, topology, plan, new run)."""
    from tests.support.pulumi_harness import run_program

    bases = {
        "ecs": (ECS_BASE, run_program(scenario_config(ECS_BASE, lambda c: None), ECS_BASE)),
        "eks": (EKS_BASE, run_program(scenario_config(EKS_BASE, lambda c: None), EKS_BASE)),
    }
    found = []
    for scenario in SCENARIOS:
        for topology, (stack, old) in bases.items():
            change = getattr(scenario, topology)
            if change is None:
                continue
            if scenario.deployed is not None:
                old = run_program(scenario_config(stack, scenario.deployed), stack)
            if scenario.previous_version is not None:
                old = scenario.previous_version(old)
            new = run_program(scenario_config(stack, change), stack)
            found.append((scenario, topology, plan(old, new), new))
    return found


# Where the table lives (README.md points to it).
DAY2_PAGE = "docs/day-2.md"
README_BEGIN = "<!-- day2-plan:begin (generated: python -m tests.support.day2_plan --write) -->"
README_END = "<!-- day2-plan:end -->"


def readme_table(found: list[tuple[Scenario, str, Plan, ProgramRun]]) -> str:
    """docs/day-2.md's table of day-2 changes, from the plans."""
    rows = [
        "| change | topology | what `pulumi up` does | rollout | how |",
        "| --- | --- | --- | --- | --- |",
    ]
    for scenario, topology, plan_, new in found:
        rows.append(
            f"| {scenario.label} | {topology} | {summary(plan_)} | "
            f"{_rollout(plan_, new, topology)} | {scenario.advice} |"
        )
    return "\n".join([README_BEGIN, *rows, README_END])


def main(argv: list[str]) -> int:
    """Print the day-2 table, or with ``--write`` put it into docs/day-2.md."""
    from tests.support.pulumi_harness import ROOT

    table = readme_table(plans())
    if "--write" not in argv:
        print(table)
        return 0
    page = ROOT / DAY2_PAGE
    text = page.read_text()
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    page.write_text(text[:start] + table + text[end:])
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
