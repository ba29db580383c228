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
  reverse dependency order.

Under mocks a replaced resource keeps its mocked id, so the plan marks the inputs that refer
to it as changed itself: per input property, from the dependencies the SDK sent with the
registration, down to the leaves that hold one of the dependency's mocked outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi

from tests.support.pulumi_harness import ProgramRun, _mock_outputs
from tests.support.replacement_rules import RULES, Rule

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


def plan(old: ProgramRun, new: ProgramRun) -> Plan:
    """What ``pulumi up`` would do to the stack ``old`` deployed when the program now
    registers ``new``."""
    before = {(r.typ, r.name): r for r in old.resources}
    after = {(r.typ, r.name): r for r in new.resources}
    changes: dict[Key, Change] = {}
    replaced_first: dict[Key, bool] = {}  # replaced key -> replaced delete-first

    for key in new.options:  # registration order: dependencies come first
        if key not in after or rule(key[0]).provider == "component":
            continue
        res = after[key]
        if key not in before:
            changes[key] = Change(CREATE, key)
            continue
        old_inputs = state_after_create(key[0], before[key].inputs)
        changed = _differences(old_inputs, res.inputs)
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
        forcing = tuple(
            sorted(p for p in changed if r.replace_on is None or _matches(p, r.replace_on))
        )
        if not forcing:
            changes[key] = Change(UPDATE, key, why=tuple(sorted(changed)))
            continue
        first = cascade_first or _delete_first(
            key[0], old_inputs, res.inputs, options.delete_before_replace
        )
        conflict = (
            not first
            and not any(_matches(p, r.name_scope) for p in changed)
            and any(
                p in res.inputs and res.inputs.get(p) == old_inputs.get(p) for p in r.unique_names
            )
        )
        replaced_first[key] = first
        changes[key] = Change(
            REPLACE, key, DELETE_FIRST if first else CREATE_FIRST, forcing, conflict
        )
    for key in old.options:
        if key in before and key not in after and rule(key[0]).provider != "component":
            changes[key] = Change(DELETE, key)
    return Plan(changes, _order(changes, list(old.options), list(new.options)), dns_gaps(old, new))


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


# --- the day-2 changes the check covers, and the README section made from them ------------

ECS_BASE, EKS_BASE = "dev", "dev-eks"
WORKLOADS = ("aws:ecs/service:Service", "kubernetes:apps/v1:Deployment")
# Estimates for the README, not measurements: an ECS rollout with wait_for_steady_state
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


def _set(key: str, value: Any):
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


def _port(name: str, port: int):
    def change(config: dict) -> None:
        _service(config, name)["port"] = port

    return change


def _replicas(name: str, replicas: int):
    def change(config: dict) -> None:
        _service(config, name)["replicas"] = replicas

    return change


def _upstreams(name: str, upstreams: list[str], add_leaf: bool = False):
    def change(config: dict) -> None:
        if add_leaf:
            _add_leaf(config)
        _service(config, name)["upstreams"] = upstreams

    return change


@dataclass(frozen=True)
class Scenario:
    """One day-2 change: what it is, how it is applied to each base stack (None: the key does
    not apply to that topology) and what to do in two steps, if anything. ``deployed``: the
    change that made the stack as deployed before this one (a second step), if any."""

    label: str
    ecs: Any
    eks: Any
    advice: str
    deployed: Any = None


NEW_NAMESPACE = "mesh"


def _namespace_step_1(config: dict) -> None:
    config["mesh-visibility:previousDnsNamespace"] = config["mesh-visibility:dnsNamespace"]
    config["mesh-visibility:dnsNamespace"] = NEW_NAMESPACE


def _namespace_step_2(config: dict) -> None:
    config["mesh-visibility:dnsNamespace"] = NEW_NAMESPACE
    config.pop("mesh-visibility:previousDnsNamespace", None)


SCENARIOS = (
    Scenario(
        "add a service",
        _add_leaf,
        _add_leaf,
        "One step. Callers pick it up when it is named in their `upstreams` (below).",
    ),
    Scenario(
        "remove a service",
        _remove_name,
        _remove_load_generator,
        "One step: callers roll first, the service is deleted at the end of the update.",
    ),
    Scenario(
        "change a service's `port`",
        _port("greeting", 3001),
        _port("nginx", 8081),
        "One step: only that service's tasks or pods roll (callers reach port 15000).",
    ),
    Scenario(
        "change `replicas`",
        _replicas("greeting", 3),
        _replicas("nginx", 3),
        "One step, nothing is replaced. EKS scales in place; on ECS every update of a "
        "service is a rolling deployment of its tasks (`force_new_deployment`, which a "
        "`fargateSpot` switch needs).",
    ),
    Scenario(
        "change `upstreams`",
        _upstreams("load-generator", ["greeter", "greeting"]),
        _upstreams("load-generator", ["nginx", "echo"], add_leaf=True),
        "One step: a new upstream is up before its callers roll.",
    ),
    Scenario(
        "change `dnsNamespace`",
        _set("dnsNamespace", NEW_NAMESPACE),
        None,
        "Has a gap, see below: old callers lose an upstream for up to one wave; use the "
        "two steps instead.",
    ),
    Scenario(
        "change `dnsNamespace`, step 1",
        _namespace_step_1,
        None,
        "Set `dnsNamespace` to the new name and `previousDnsNamespace` to the old one: "
        "services stay registered in the old namespace, every sidecar resolves both.",
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
    ),
    Scenario(
        "change `envoyImage`",
        _set("envoyImage", "docker.io/envoyproxy/envoy:v1.39.3"),
        _set("envoyImage", "docker.io/envoyproxy/envoy:v1.39.3"),
        "One step: every service rolls, upstreams first.",
    ),
    Scenario(
        "change `entryService`",
        _set("entryService", "greeting"),
        None,
        "Two steps, see below: targets switch while both entries roll.",
    ),
    Scenario(
        "add `certificateArn`",
        _set("certificateArn", CERTIFICATE),
        None,
        "One step: port 80 redirects only once the HTTPS listener and its firewall rule exist.",
    ),
)


def scenario_config(stack: str, change) -> dict:
    """The base stack's config with ``change`` applied."""
    import copy

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
            new = run_program(scenario_config(stack, change), stack)
            found.append((scenario, topology, plan(old, new), new))
    return found


README_BEGIN = "<!-- day2-plan:begin (generated: python -m tests.support.day2_plan --write) -->"
README_END = "<!-- day2-plan:end -->"


def readme_table(found: list[tuple[Scenario, str, Plan, ProgramRun]]) -> str:
    """The README's table of day-2 changes, from the plans."""
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
    """Print the README table, or with ``--write`` put it into README.md."""
    from pathlib import Path

    from tests.support.pulumi_harness import ROOT

    table = readme_table(plans())
    if "--write" not in argv:
        print(table)
        return 0
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    Path(readme).write_text(text[:start] + table + text[end:])
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
