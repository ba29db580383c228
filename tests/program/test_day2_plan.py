"""Day 2: what a second `pulumi up` would do to a deployed stack, for the base stacks and the
changes of tests/support/day2_plan.py, checked against the providers' replacement rules
(tests/support/replacement_rules.py).

No change in the list may replace a resource that carries traffic delete-first, none may
collide with the name its old resource still holds, an unchanged config plans nothing, and
docs/day-2.md's "What each change does" table is the one these plans produce.
"""

from __future__ import annotations

import copy
import dataclasses
import runpy

import pytest
import yaml

from components.settings.model import ServiceSpec, Settings
from components.settings.stack_files import stack_config
from tests.support import day2_plan
from tests.support.day2_plan import (
    CREATE,
    CREATE_FIRST,
    DELETE,
    DELETE_FIRST,
    REPLACE,
    UPDATE,
    Plan,
    plan,
    readme_table,
    rule,
)
from tests.support.pulumi_harness import (
    ROOT,
    ProgramRun,
    RecordingMocks,
    run_program,
    run_under_mocks,
)

ECS_SERVICE = "aws:ecs/service:Service"
DISCOVERY = "aws:servicediscovery/service:Service"
NAMESPACE = "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
LISTENER = "aws:lb/listener:Listener"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


@pytest.fixture(scope="module")
def plans() -> list:
    return day2_plan.plans()


@pytest.fixture(scope="module", params=[day2_plan.ECS_BASE, day2_plan.EKS_BASE])
def base(request) -> tuple[str, ProgramRun]:
    return request.param, run_program(stack_config(request.param), request.param)


def _found(plans, label: str, topology: str) -> Plan:
    return next(p for s, t, p, _ in plans if s.label == label and t == topology)


def test_every_registered_type_has_a_replacement_rule(plans, base):
    registered = {r.typ for r in base[1].resources}
    registered |= {r.typ for *_, new in plans for r in new.resources}
    for typ in sorted(registered):
        rule(typ)  # raises with the type's name if the table lacks it


def test_an_unchanged_config_replaces_nothing(base):
    stack, first = base
    again = run_program(stack_config(stack), stack)
    assert plan(first, again).changes == {}


def _config_keys() -> set[str]:
    """Every key a stack can set: the project's declared keys, every setting (also those
    Pulumi.yaml cannot declare), the region, and every field of a service."""
    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    settings = {f.alias or n for n, f in Settings.model_fields.items() if n != "region"}
    services = {f"services[].{f.alias or n}" for n, f in ServiceSpec.model_fields.items()}
    return declared | settings | services | {"aws:region"}


def test_every_config_key_has_a_scenario():
    """Issue 20, classes to close: the day-2 check tries every key of Pulumi.yaml and every
    per-service field; a key added without a scenario fails here with what to add."""
    labels = [s.label for s in day2_plan.SCENARIOS]
    assert len(labels) == len(set(labels))
    covered = {k for s in day2_plan.SCENARIOS for k in s.keys}
    missing = sorted(_config_keys() - covered)
    assert not missing, (
        f"no day-2 scenario changes {', '.join(missing)}: add, for each, a Scenario(label, "
        "ecs=<change of the dev config or None>, eks=<change of the dev-eks config or None>, "
        "advice=..., keys=(<the key>,)) to MORE_SCENARIOS in tests/support/day2_plan.py, then "
        "run `.venv/bin/python -m tests.support.day2_plan --write` (docs/day-2.md)"
    )
    assert not covered - _config_keys(), "a scenario names a key that does not exist"
    assert all(s.ecs is not None or s.eks is not None for s in day2_plan.SCENARIOS)


def test_an_unchanged_stack_between_the_namespace_steps_plans_nothing():
    config = day2_plan.scenario_config(day2_plan.ECS_BASE, day2_plan._namespace_step_1)
    first = run_program(config, day2_plan.ECS_BASE)
    assert plan(first, run_program(config, day2_plan.ECS_BASE)).changes == {}


def test_no_change_replaces_a_traffic_carrying_resource_delete_first(plans):
    offenders = [
        (s.label, t, c.key)
        for s, t, p, _ in plans
        for c in p.of(REPLACE)
        if c.mode == DELETE_FIRST and rule(c.key[0]).traffic and not s.new_stack
    ]
    assert offenders == []


def test_a_region_move_replaces_everything_delete_first_so_it_is_a_new_stack(plans):
    """Issue 20 item 11: the provider's region is an input of every regional resource, and a
    new one replaces it; the fixed names make those replacements delete-first. The advice is
    a new stack, and the plan shows why."""
    found = _found(plans, "change `aws:region`", "ecs")
    first = {c.key[0] for c in found.of(REPLACE) if c.mode == DELETE_FIRST}
    assert {ECS_SERVICE, "aws:cloudwatch/logGroup:LogGroup", "aws:ecs/cluster:Cluster"} <= first
    assert DISCOVERY in {c.key[0] for c in found.of(REPLACE)}
    assert all("region" in c.why for c in found.of(REPLACE))
    # IAM is global: its roles stay (a trust policy that names the region is updated).
    assert not [c for c in found.of(REPLACE) if c.key[0].startswith("aws:iam/")]


def test_rule_rows_are_read_from_the_providers_sources():
    """Issue 20, classes to close: no resource type is left with an unread (None) row."""
    unread = sorted(t for t, r in day2_plan.RULES.items() if r.replace_on is None)
    assert not unread, (
        f"read the replacement rules of {', '.join(unread)} from the provider's source and "
        "fill their rows in tests/support/replacement_rules.py"
    )


def test_a_new_entry_service_gets_its_rule_before_its_tasks_and_the_old_goes_last(plans):
    """Issue 20 item 9: the load balancer's egress rule is per target service, so changing
    ``entryService`` creates the new entry's rule (before its ECS service rolls) and deletes
    the old entry's only at the end of the update; nothing is updated in place."""
    found = _found(plans, "change `entryService`", "ecs")
    rules = {k: c for k, c in found.changes.items() if k[0] == EGRESS}
    assert {(c.op, k[1]) for k, c in rules.items()} == {
        (CREATE, "greeting-greeting-alb-to-envoy"),
        (DELETE, "greeting-greeter-alb-to-envoy"),
    }
    steps = [(s.action, s.key) for s in found.steps]
    created = steps.index((CREATE, (EGRESS, "greeting-greeting-alb-to-envoy")))
    rolled = steps.index((UPDATE, (ECS_SERVICE, "greeting-greeting-service")))
    deleted = steps.index((DELETE, (EGRESS, "greeting-greeter-alb-to-envoy")))
    assert created < rolled < deleted
    assert deleted > max(i for i, (a, k) in enumerate(steps) if k[0] == ECS_SERVICE)


UPGRADE_ALB_RULE = (
    "upgrade from a version with the load balancer's rule under the topology (c0559b3)"
)


def test_no_update_creates_a_security_group_rule_another_urn_still_holds(plans):
    """A rule created (or replaced new-first) while an identical one (same direction, group,
    peer, protocol and ports) still exists under the URN it had before, to be deleted only at
    the end of the update: EC2 answers InvalidPermission.Duplicate and the update stops.
    Covers the upgrade from the previous version, whose ALB rule had another URN."""
    assert [(s.label, t, p.duplicate_rules) for s, t, p, _ in plans if p.duplicate_rules] == []


def test_the_upgraded_alb_rule_is_moved_by_its_alias_not_created_again(plans):
    found = _found(plans, UPGRADE_ALB_RULE, "ecs")
    rules = {k: c for k, c in found.changes.items() if k[0] in (INGRESS, EGRESS)}
    assert {(c.op, k[1], c.why) for k, c in rules.items()} == {
        (UPDATE, "greeting-greeter-alb-to-envoy", ("description",))
    }


def test_the_duplicate_rule_check_fails_without_the_alias():
    """The check itself: the same upgrade, the alias dropped from the new run (the code
    before the fix), creates the entry's rule while the old URN's identical rule exists."""
    base = run_program(stack_config("dev"), "dev")
    old = day2_plan._alb_rule_under_the_topology(base)
    new = dataclasses.replace(
        base, options={k: dataclasses.replace(v, aliases=()) for k, v in base.options.items()}
    )
    assert plan(old, new).duplicate_rules == [
        ((EGRESS, "greeting-alb-to-entry"), (EGRESS, "greeting-greeter-alb-to-envoy"))
    ]


def test_only_the_current_entry_rule_carries_the_previous_urn():
    run = run_program(stack_config("dev"), "dev")
    aliased = {
        k: o.aliases for k, o in run.options.items() if o.aliases and k[0] in (INGRESS, EGRESS)
    }
    assert aliased == {
        (EGRESS, "greeting-greeter-alb-to-envoy"): (
            ((EGRESS, "greeting-alb-to-entry"), ("meshvis:ecs:Topology", "greeting")),
        )
    }


def test_a_new_health_path_never_touches_the_target_group(plans):
    """Issue 20 item 10: the target group asks one fixed path; the entry's new healthPath
    travels in its sidecar's bootstrap, so it reaches only tasks that roll with it."""
    found = _found(plans, "change a service's `healthPath`", "ecs")
    assert not [k for k in found.changes if k[0] == "aws:lb/targetGroup:TargetGroup"]
    assert ("aws:ecs/taskDefinition:TaskDefinition", "greeting-greeter-task") in found.changes


def test_no_create_before_delete_replacement_collides_with_its_old_name(plans):
    assert [
        (s.label, c.key) for s, _, p, _ in plans for c in p.of(REPLACE) if c.name_conflict
    ] == []


def test_resources_whose_rules_were_not_read_never_change(plans):
    # The table marks them `None` (not read from their provider): the check relies on no
    # change in the list altering their inputs (creating or deleting them needs no rule).
    assert [
        (s.label, c.key)
        for s, _, p, _ in plans
        for c in p.changes.values()
        if rule(c.key[0]).replace_on is None and c.op in (UPDATE, REPLACE)
    ] == []


def _last_update_of_a_service(found: Plan) -> int:
    return max(i for i, s in enumerate(found.steps) if s.key[0] == ECS_SERVICE)


def test_a_new_dns_namespace_is_created_next_to_the_old_one(plans):
    """The one-step change: the new namespace and Cloud Map services are new resources (named
    after their namespace), the old ones go once every ECS service is steady."""
    found = _found(plans, "change `dnsNamespace`", "ecs")
    dns = {k: c for k, c in found.changes.items() if k[0] in (NAMESPACE, DISCOVERY)}
    assert {c.op for c in dns.values()} == {CREATE, DELETE}
    assert all(k[1].endswith(("-mesh", "-internal")) for k in dns)
    last = _last_update_of_a_service(found)
    assert all(i > last for i, s in enumerate(found.steps) if s.action == DELETE)


def test_every_caller_keeps_a_name_that_answers_except_in_the_one_step_namespace_change(plans):
    """The pure check over registered inputs: at every change, each caller's old and new
    bootstrap resolves a name its upstream's tasks are registered under. The one-step
    ``dnsNamespace`` change is the documented gap: callers still on the old bootstrap resolve
    only the old names, which empty once their upstream re-registered in the new namespace."""
    gaps = {(s.label, t): p.dns_gaps for s, t, p, _ in plans if p.dns_gaps}
    assert list(gaps) == [("change `dnsNamespace`", "ecs")]
    assert {(label, when) for *_, label, when in gaps["change `dnsNamespace`", "ecs"]} == {
        ("old", "after")
    }


def test_namespace_step_1_keeps_the_old_registration_and_adds_the_new_names(plans):
    found = _found(plans, "change `dnsNamespace`, step 1", "ecs")
    dns = {k: c for k, c in found.changes.items() if k[0] in (NAMESPACE, DISCOVERY)}
    # The old namespace and Cloud Map services: not in the plan at all (unchanged).
    assert dns and all(c.op == CREATE and k[1].endswith("-mesh") for k, c in dns.items())
    assert [
        c
        for c in found.of(UPDATE)
        if c.key[0] == ECS_SERVICE and any(p.startswith("serviceRegistries") for p in c.why)
    ] == []
    assert found.of(DELETE) == []


def test_namespace_step_2_moves_every_registration_then_deletes_the_old_namespace(plans):
    found = _found(plans, "change `dnsNamespace`, step 2", "ecs")
    moved = {c.key for c in found.of(UPDATE) if "serviceRegistries.registryArn" in c.why}
    assert moved == {
        (ECS_SERVICE, f"greeting-{n}-service") for n in ("greeter", "greeting", "name")
    }
    deleted = {c.key for c in found.of(DELETE)}
    assert deleted and all(
        k[0] in (NAMESPACE, DISCOVERY) and k[1].endswith("-internal") for k in deleted
    )
    last = _last_update_of_a_service(found)
    assert all(i > last for i, s in enumerate(found.steps) if s.action == DELETE)
    assert found.of(CREATE) == []


def test_the_gap_check_reads_the_registration_and_the_bootstraps():
    """Step 2 with the registrations left in the old namespace: callers that rolled to the
    new bootstrap (new names only) would find no answer."""
    step_1 = run_program(
        day2_plan.scenario_config(day2_plan.ECS_BASE, day2_plan._namespace_step_1), "dev"
    )
    step_2 = run_program(
        day2_plan.scenario_config(day2_plan.ECS_BASE, day2_plan._namespace_step_2), "dev"
    )
    assert plan(step_1, step_2).dns_gaps == []
    stuck = copy.deepcopy(step_2)
    old_registry = {r.name: r.inputs.get("serviceRegistries") for r in step_1.of_type(ECS_SERVICE)}
    for resource in stuck.of_type(ECS_SERVICE):
        if old_registry[resource.name]:
            resource.inputs["serviceRegistries"] = old_registry[resource.name]
    stuck.resources += [r for r in step_1.resources if r.name.endswith("-internal")]
    assert ("greeter", "greeting", "new", "after") in plan(step_1, stuck).dns_gaps


def test_a_removed_upstream_goes_only_after_its_callers_rolled(plans):
    found = _found(plans, "remove a service", "ecs")
    steps = [(s.action, s.key) for s in found.steps]
    removed = steps.index(("delete", (ECS_SERVICE, "greeting-name-service")))
    caller = steps.index(("update", (ECS_SERVICE, "greeting-greeter-service")))
    assert caller < removed


def test_the_checker_sees_a_block_the_provider_drops():
    """Defect 1: ``health_check_custom_config={}`` was dropped at create, so every later plan
    saw a ForceNew change; the checker reproduces that on such a registration."""
    run = run_program(stack_config("dev"), "dev")
    old = copy.deepcopy(run)
    for resource in old.resources:
        if resource.typ == DISCOVERY:
            resource.inputs["healthCheckCustomConfig"] = {}
    new = copy.deepcopy(old)
    new.options = {
        k: v.__class__(v.parent, v.dependencies, v.property_dependencies, v.delete_before_replace)
        for k, v in old.options.items()
    }
    replaced = [c for c in plan(old, new).of(REPLACE) if c.key[0] == DISCOVERY]
    assert replaced and all("healthCheckCustomConfig" in c.why for c in replaced)


def test_discovery_services_keep_their_health_block_and_ignore_later_changes_to_it():
    run = run_program(stack_config("dev"), "dev")
    for resource in run.of_type(DISCOVERY):
        assert resource.inputs["healthCheckCustomConfig"], resource.name
        assert "healthCheckCustomConfig" in run.options[(DISCOVERY, resource.name)].ignore_changes


def test_ecs_services_wait_for_their_rollout_and_for_their_upstreams():
    config = stack_config("dev")
    run = run_program(config, "dev")
    for resource in run.of_type(ECS_SERVICE):
        assert resource.inputs["waitForSteadyState"] is True
    for service in config["mesh-visibility:services"]:
        deps = run.options[(ECS_SERVICE, f"greeting-{service['name']}-service")].dependencies
        for upstream in service.get("upstreams", []):
            assert (ECS_SERVICE, f"greeting-{upstream}-service") in deps
    for resource in run.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert resource.inputs["skipDestroy"] is True


def test_eks_deployments_wait_for_their_upstreams():
    config = stack_config("dev-eks")
    run = run_program(config, "dev-eks")
    for service in config["mesh-visibility:services"]:
        deps = run.options[(DEPLOYMENT, f"nginx-demo-{service['name']}-deployment")].dependencies
        for upstream in service.get("upstreams", []):
            assert (DEPLOYMENT, f"nginx-demo-{upstream}-deployment") in deps


def test_port_80_redirects_only_once_https_is_reachable():
    config = {**stack_config("dev"), "mesh-visibility:certificateArn": day2_plan.CERTIFICATE}
    run = run_program(config, "dev")
    deps = run.options[(LISTENER, "greeting-http")].dependencies
    assert {(LISTENER, "greeting-https"), (INGRESS, "greeting-alb-from-internet-https")} <= deps


def test_a_changed_bootstrap_is_a_new_config_map_before_the_pods_roll(plans):
    found = _found(plans, "change `statsProfile`", "eks")
    maps = [c for c in found.changes.values() if c.key[0] == "kubernetes:core/v1:ConfigMap"]
    assert maps and all(c.op == REPLACE and c.mode == CREATE_FIRST for c in maps)
    steps = [(s.action, s.key[0]) for s in found.steps]
    first_roll = steps.index(("update", DEPLOYMENT))
    assert steps.index(("create-replacement", "kubernetes:core/v1:ConfigMap")) < first_roll
    assert (
        max(
            i
            for i, s in enumerate(steps)
            if s == ("delete-replaced", "kubernetes:core/v1:ConfigMap")
        )
        > first_roll
    )


def test_the_docs_table_is_the_generated_one(plans):
    page = (ROOT / day2_plan.DAY2_PAGE).read_text()
    assert readme_table(plans) in page, (
        f"{day2_plan.DAY2_PAGE}'s day-2 table is stale: run "
        "`.venv/bin/python -m tests.support.day2_plan --write`"
    )


def test_plan_deletes_come_last():
    run = run_program(stack_config("dev"), "dev")
    fewer = copy.deepcopy(stack_config("dev"))
    fewer["mesh-visibility:services"] = [
        s for s in fewer["mesh-visibility:services"] if s["name"] != "load-generator"
    ]
    found = plan(run, run_program(fewer, "dev"))
    actions = [s.action for s in found.steps]
    assert actions and actions[-1] == DELETE
    assert all(a == DELETE for a in actions[actions.index(DELETE) :])


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GET_LOG_GROUPS = "aws:cloudwatch/getLogGroups:getLogGroups"


def _up_after(config: dict, left_in_aws: set[str]) -> ProgramRun:
    """``pulumi up`` of ``config`` on an empty stack while ``left_in_aws`` log groups exist in
    the account (what a previous life of the stack left behind)."""

    class Account(RecordingMocks):
        def call(self, args):
            if args.token == GET_LOG_GROUPS:
                prefix = args.args["logGroupNamePrefix"]
                self.run.calls.append((args.token, dict(args.args)))
                return {"logGroupNames": sorted(g for g in left_in_aws if g.startswith(prefix))}
            return super().call(args)

    return run_under_mocks(
        lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")[
            "topology"
        ].stack_outputs(),
        config,
        stack="dev",
        mocks=Account,
    )


def _created_and_imported(run: ProgramRun) -> tuple[set[str], set[str]]:
    created: set[str] = set()
    imported: set[str] = set()
    for group in run.of_type(LOG_GROUP):
        options = run.options[(LOG_GROUP, group.name)]
        (imported if options.import_id else created).add(group.inputs["name"])
        if options.import_id:
            assert options.import_id == group.inputs["name"]
    return created, imported


@pytest.mark.parametrize("choice", ["delete", "keep"])
def test_destroy_then_up_works_with_either_log_group_choice(choice):
    """Issue 20 item 15. `pulumi destroy` deletes every log group that is not retained; with
    ``logGroupsOnDelete: keep`` the containers' groups stay in the account (retainOnDelete) and
    the next `pulumi up` imports each one instead of creating it, so no CreateLogGroup meets a
    name that exists. Both ways, every group the new stack needs is created or adopted."""
    config = {**stack_config("dev"), "mesh-visibility:logGroupsOnDelete": choice}
    first = _up_after(config, set())
    created, imported = _created_and_imported(first)
    assert imported == set() and created
    left = {
        g.inputs["name"]
        for g in first.of_type(LOG_GROUP)
        if first.options[(LOG_GROUP, g.name)].retain_on_delete
    }
    containers = {g for g in created if not g.startswith("/aws/ecs/containerinsights/")}
    assert left == (containers if choice == "keep" else set())
    second = _up_after(config, left)
    created_again, imported_again = _created_and_imported(second)
    assert not created_again & left  # no create meets a kept name
    assert imported_again == left and created_again | imported_again == created
    # The same groups again: the task definitions, queries and outputs name them.
    assert sorted(second.outputs["logGroups"]) == sorted(first.outputs["logGroups"])


def test_groups_kept_before_a_switch_to_delete_are_adopted_not_created():
    """`logGroupsOnDelete: keep`, a destroy (the groups stay in AWS), then `delete` and up
    again (or a service re-added): the look-up runs in both modes, so each kept group is
    imported, never created against its existing name (ResourceAlreadyExistsException), and
    from then on is deleted with the service."""
    kept_config = {**stack_config("dev"), "mesh-visibility:logGroupsOnDelete": "keep"}
    first = _up_after(kept_config, set())
    left = {
        g.inputs["name"]
        for g in first.of_type(LOG_GROUP)
        if first.options[(LOG_GROUP, g.name)].retain_on_delete
    }
    assert left
    switched = {**stack_config("dev"), "mesh-visibility:logGroupsOnDelete": "delete"}
    second = _up_after(switched, left)
    created, imported = _created_and_imported(second)
    assert imported == left and not created & left
    assert not any(
        second.options[(LOG_GROUP, g.name)].retain_on_delete for g in second.of_type(LOG_GROUP)
    )


def test_the_cluster_and_its_nodes_change_as_their_providers_say(plans):
    """eksVersion upgrades the control plane and then rolls the nodes, both in place;
    nodeInstanceType replaces the node group new-first (instance_types is ForceNew);
    nodeCount and apiAccessCidrs update in place; nothing else changes with them."""
    cluster, nodes = "eks:index:Cluster", "eks:index:ManagedNodeGroup"

    def changes(label: str) -> dict:
        return {
            (c.key[0], c.op, c.mode): c.why for c in _found(plans, label, "eks").changes.values()
        }

    assert changes("upgrade `eksVersion`") == {
        (cluster, UPDATE, ""): ("version",),
        (nodes, UPDATE, ""): ("version",),
    }
    upgrade = _found(plans, "upgrade `eksVersion`", "eks")
    order = [s.key[0] for s in upgrade.steps]
    assert order.index(cluster) < order.index(nodes)
    assert changes("change `nodeInstanceType`") == {
        (nodes, REPLACE, CREATE_FIRST): ("instanceTypes.0",)
    }
    assert changes("change `nodeCount`") == {
        (nodes, UPDATE, ""): (
            "scalingConfig.desiredSize",
            "scalingConfig.maxSize",
            "scalingConfig.minSize",
        )
    }
    assert changes("change `apiAccessCidrs`") == {(cluster, UPDATE, ""): ("publicAccessCidrs.0",)}


TEMPO_UPGRADE = "upgrade from a version with Tempo on an emptyDir"


def test_upgrading_from_tempo_on_an_empty_dir_replaces_the_tempo_release_delete_first(plans):
    """The previous version's Tempo had no volumeClaimTemplates; adding them to the StatefulSet
    is forbidden on update, so a Helm upgrade would fail. ``replaceOnChanges`` on
    ``values.persistence`` turns it into a replacement, delete-first (same release name);
    nothing else changes."""
    from components.eks import tempo

    found = _found(plans, TEMPO_UPGRADE, "eks")
    [change] = found.changes.values()
    assert change.key[0] == day2_plan.HELM_RELEASE and change.key[1].endswith("-tempo")
    assert (change.op, change.mode) == (REPLACE, DELETE_FIRST)
    assert any(p.startswith("values.persistence.") for p in change.why)
    assert tempo.REPLACE_ON_CHANGES == ("values.persistence",)


def test_replace_on_changes_matches_what_the_provider_reports():
    """A block added whole is reported at its own path (pulumi-kubernetes addPatchValueToDiff),
    and the engine replaces only when a replaceOnChanges path contains the reported one: a
    deeper path than the block misses the upgrade, the block's path catches it."""
    old = {"values": {"tempo": {"retention": "72h"}}}
    new = {"values": {"tempo": {"retention": "72h"}, "persistence": {"enabled": True}}}
    leaf = "values.persistence.enabled"
    assert day2_plan._reported_path(old, new, leaf) == "values.persistence"
    assert not day2_plan._replaced_on_change(("values.persistence.enabled",), old, new, leaf)
    assert day2_plan._replaced_on_change(("values.persistence",), old, new, leaf)
    # Once both sides have the block, a change inside it is reported at its leaf.
    bigger = {"values": {**new["values"], "persistence": {"enabled": True, "size": "10Gi"}}}
    assert day2_plan._reported_path(new, bigger, "values.persistence.size") == (
        "values.persistence.size"
    )
    assert day2_plan._replaced_on_change(
        ("values.persistence",), new, bigger, "values.persistence.size"
    )
    assert day2_plan._contains("spec.containers[*].image", "spec.containers.0.image")


def test_a_new_webhook_updates_the_alertmanager_secret_in_place(plans):
    """The cluster's provider has enableSecretMutable, so a changed Secret's data is an
    update, not a delete-then-create (pulumi-kubernetes diff.go forceNewProperties)."""
    found = _found(plans, "set `alertWebhookUrl`", "eks")
    [secret] = [c for c in found.changes.values() if c.key[0] == "kubernetes:core/v1:Secret"]
    assert secret.op == UPDATE and any(p.startswith("stringData.") for p in secret.why)
