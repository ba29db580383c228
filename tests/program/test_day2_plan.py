"""Day 2: what a second `pulumi up` would do to a deployed stack, for the base stacks and the
changes of tests/support/day2_plan.py, checked against the providers' replacement rules
(tests/support/replacement_rules.py).

No change in the list may replace a resource that carries traffic delete-first, none may
collide with the name its old resource still holds, an unchanged config plans nothing, and
the README's "Changing a deployed stack" table is the one these plans produce.
"""

from __future__ import annotations

import copy

import pytest

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
from tests.support.pulumi_harness import ROOT, ProgramRun, run_program

ECS_SERVICE = "aws:ecs/service:Service"
DISCOVERY = "aws:servicediscovery/service:Service"
NAMESPACE = "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
LISTENER = "aws:lb/listener:Listener"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


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


def test_the_list_covers_the_ten_changes_and_the_two_namespace_steps():
    labels = [s.label for s in day2_plan.SCENARIOS]
    assert len(labels) == 12 and len(set(labels)) == 12
    assert {
        "change `dnsNamespace`",
        "change `dnsNamespace`, step 1",
        "change `dnsNamespace`, step 2",
    } <= set(labels)


def test_an_unchanged_stack_between_the_namespace_steps_plans_nothing():
    config = day2_plan.scenario_config(day2_plan.ECS_BASE, day2_plan._namespace_step_1)
    first = run_program(config, day2_plan.ECS_BASE)
    assert plan(first, run_program(config, day2_plan.ECS_BASE)).changes == {}


def test_no_change_replaces_a_traffic_carrying_resource_delete_first(plans):
    offenders = [
        (s.label, t, c.key)
        for s, t, p, _ in plans
        for c in p.of(REPLACE)
        if c.mode == DELETE_FIRST and rule(c.key[0]).traffic
    ]
    assert offenders == []


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


def test_the_readme_table_is_the_generated_one(plans):
    readme = (ROOT / "README.md").read_text()
    assert readme_table(plans) in readme, (
        "README.md's day-2 table is stale: run `.venv/bin/python -m tests.support.day2_plan --write`"
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
