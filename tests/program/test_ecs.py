"""The whole Pulumi program for ECS stacks under mocks: the resource graph it registers.

Runs ``__main__.py`` for every ecs ``Pulumi.*.yaml`` and for a larger six-service graph
(tests/support/shop_graphs.py) and checks counts, container wiring and outputs. Firewall, IAM and
the other security properties of the same graphs are tests/program/test_security.py's.
"""

from __future__ import annotations

import json

import pulumi
import pytest

from components.ecs.containers import ENVOY, container_definitions, task_definition
from components.ecs.discovery import DNS_TTL, MAX_ANSWERS
from components.settings.model import Settings
from components.settings.naming import (
    cluster_name,
    container_insights_log_group,
    log_group_name,
)
from components.settings.stack_files import stack_config, stack_names
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import LB_HEALTH_PATH
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import slo_alarm_specs
from tests.support.pulumi_harness import ProgramRun, Registered, run_program
from tests.support.shop_graphs import shop_config

ECS_STACKS = [s for s in stack_names() if stack_config(s).get("mesh-visibility:topology") == "ecs"]
CONFIGS = {
    **{s: stack_config(s) for s in ECS_STACKS},
    "shop": shop_config(),
    "shop-no-alb": shop_config(entryService=None),
}

AZ_INVOKE = "aws:index/getAvailabilityZones:getAvailabilityZones"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
DISCOVERY = "aws:servicediscovery/service:Service"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
CLUSTER = "aws:ecs/cluster:Cluster"


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def stack(request) -> tuple[Settings, ProgramRun]:
    config = CONFIGS[request.param]
    return settings_from_config(config), run_program(config, request.param)


def _id(resource: Registered) -> str:
    """The id the mocks give a resource (tests/support/pulumi_harness.py)."""
    return f"{resource.name}-id"


def _arn(resource: Registered) -> str:
    """The ARN the mocks give a resource (tests/support/pulumi_harness.py)."""
    return (
        f"arn:aws:mock:us-west-2:123456789012:{resource.typ.split(':')[-1].lower()}/{resource.name}"
    )


def _sg(run: ProgramRun, name: str) -> str:
    return _id(run.one(SECURITY_GROUP, name))


def test_one_task_service_and_log_groups_per_service(stack):
    settings, run = stack
    mesh = settings.mesh_name
    assert len(run.of_type("meshvis:ecs:Topology")) == 1
    assert len(run.of_type("meshvis:network:Vpc")) == 1
    assert len(run.of_type("meshvis:ecs:MeshService")) == len(settings.services)
    assert len(run.of_type(TASK_DEFINITION)) == len(settings.services)
    assert len(run.of_type(ECS_SERVICE)) == len(settings.services)
    # Only services that accept requests get a DNS name (no one may call a load generator).
    assert sorted(r.inputs["name"] for r in run.of_type(DISCOVERY)) == sorted(
        s.name for s in settings.app_services
    )
    expected_groups = sorted(
        log_group_name(mesh, s.name, c)
        for s in settings.services
        for c in ("app", "envoy", "cloudwatch-agent")
    )
    groups = run.of_type(LOG_GROUP)
    assert sorted(g.inputs["name"] for g in groups) == expected_groups
    assert {g.inputs["retentionInDays"] for g in groups} == {settings.log_retention_days}
    assert len(run.of_type("aws:cloudwatch/dashboard:Dashboard")) == 1
    assert len(run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) == len(
        alarm_specs(settings)
    ) + len(slo_alarm_specs(settings))
    assert len(run.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")) == len(
        query_definitions(settings)
    )
    with_alb = 1 if settings.entry_service else 0
    for typ in (ALB, TARGET_GROUP, LISTENER):
        assert len(run.of_type(typ)) == with_alb
    assert not [r.typ for r in run.resources if "appmesh" in r.typ.lower()]


def test_network_cluster_and_namespace(stack):
    settings, run = stack
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 4 and len({s.inputs["availabilityZone"] for s in subnets}) == 2
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 1
    vpc = run.of_type("aws:ec2/vpc:Vpc")[0]
    assert vpc.inputs["enableDnsHostnames"] and vpc.inputs["enableDnsSupport"]
    cluster = run.of_type("aws:ecs/cluster:Cluster")[0]
    # Container Insights is off unless `containerInsights` asks for it (and pays for it).
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert cluster.inputs["name"] == cluster_name(settings.mesh_name)
    # Availability Zones only, never a Local Zone the region may have enabled.
    [(_, zones)] = [c for c in run.calls if c[0] == AZ_INVOKE]
    assert zones == {
        "state": "available",
        "filters": [{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
    }
    namespace = run.of_type("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace")[0]
    assert namespace.inputs["name"] == settings.dns_namespace
    assert namespace.inputs["vpc"] == _id(vpc)
    for discovery in run.of_type(DISCOVERY):
        assert discovery.inputs["dnsConfig"]["routingPolicy"] == "MULTIVALUE"
        assert [r["type"] for r in discovery.inputs["dnsConfig"]["dnsRecords"]] == ["A"]
        assert discovery.inputs["dnsConfig"]["namespaceId"] == _id(namespace)
        assert discovery.inputs["dnsConfig"]["dnsRecords"][0]["ttl"] == DNS_TTL == 10
        # Non-empty, or the provider drops the block and DNS answers with unhealthy tasks.
        assert discovery.inputs["healthCheckCustomConfig"] == {"failureThreshold": 1}


def test_task_definitions_carry_the_generated_containers(stack):
    settings, run = stack
    mesh = settings.mesh_name
    for service in settings.services:
        registered = run.one(TASK_DEFINITION, f"{mesh}-{service.name}-task")
        document = task_definition(settings, service)
        assert registered.inputs["family"] == document["family"]
        assert (registered.inputs["cpu"], registered.inputs["memory"]) == (
            document["cpu"],
            document["memory"],
        )
        assert registered.inputs["networkMode"] == "awsvpc"
        assert registered.inputs["requiresCompatibilities"] == ["FARGATE"]
        containers = json.loads(registered.inputs["containerDefinitions"])
        assert containers == container_definitions(settings, service)
        envoy = next(c for c in containers if c["name"] == ENVOY)
        bootstrap = envoy["command"][envoy["command"].index("--config-yaml") + 1]
        assert json.loads(bootstrap) == envoy_bootstrap(settings, service)
        assert registered.inputs["taskRoleArn"] == _arn(
            run.one(ROLE, f"{mesh}-{service.name}-task")
        )
        assert registered.inputs["executionRoleArn"] == _arn(
            run.one(ROLE, f"{mesh}-{service.name}-exec")
        )


def test_ecs_services(stack):
    settings, run = stack
    mesh = settings.mesh_name
    private = {_id(s) for s in run.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    for service in settings.services:
        ecs = run.one(ECS_SERVICE, f"{mesh}-{service.name}-service").inputs
        assert ecs["name"] == service.name
        assert ecs["desiredCount"] == service.replicas
        assert "launchType" not in ecs
        assert ecs["capacityProviderStrategies"] == [
            {
                "capacityProvider": "FARGATE_SPOT" if settings.fargate_spot else "FARGATE",
                "weight": 1,
            }
        ]
        # The provider refuses a changed strategy without it (fargateSpot switched).
        assert ecs["forceNewDeployment"] is True
        assert ecs["waitForSteadyState"] is True
        assert ecs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        network = ecs["networkConfiguration"]
        assert network["assignPublicIp"] is False and set(network["subnets"]) == private
        assert network["securityGroups"] == [
            _sg(run, f"{mesh}-mesh-sg"),
            _sg(run, f"{mesh}-{service.name}-sg"),
        ]
        assert ecs["taskDefinition"].endswith(f"/{mesh}-{service.name}-task")
        if service.is_load:
            assert "serviceRegistries" not in ecs
        else:
            assert ecs["serviceRegistries"]["registryArn"].endswith(
                f"/{mesh}-{service.name}-discovery-{settings.dns_namespace}"
            )
        if service.name == settings.entry_service:
            assert ecs["loadBalancers"] == [
                {
                    "targetGroupArn": _arn(run.one(TARGET_GROUP, f"{mesh}-tg")),
                    "containerName": ENVOY,
                    "containerPort": 15000,
                }
            ]
        else:
            assert "loadBalancers" not in ecs


def test_load_balancer_forwards_port_80_to_envoy_ingress(stack):
    settings, run = stack
    if settings.entry_service is None:
        assert not run.of_type(ALB) and not run.of_type(LISTENER)
        return
    mesh = settings.mesh_name
    alb = run.one(ALB, f"{mesh}-alb").inputs
    assert alb["internal"] is False and alb["loadBalancerType"] == "application"
    public = {_id(s) for s in run.of_type("aws:ec2/subnet:Subnet") if "-public-" in s.name}
    assert set(alb["subnets"]) == public
    target_group = run.one(TARGET_GROUP, f"{mesh}-tg").inputs
    assert (target_group["port"], target_group["targetType"]) == (15000, "ip")
    entry = settings.service(settings.entry_service)
    # One fixed path, which the entry's sidecar routes to its healthPath.
    assert target_group["healthCheck"]["path"] == LB_HEALTH_PATH != entry.health_path
    listener = run.one(LISTENER, f"{mesh}-http").inputs
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["defaultActions"][0]["type"] == "forward"


def test_visibility_resources(stack):
    settings, run = stack
    mesh = settings.mesh_name
    dashboard = run.of_type("aws:cloudwatch/dashboard:Dashboard")[0].inputs
    suffixes = (None, None)
    if settings.entry_service:
        suffixes = (f"app/{mesh}-alb/0123456789abcdef", f"targetgroup/{mesh}-tg/0123456789abcdef")
    assert json.loads(dashboard["dashboardBody"]) == dashboard_body(settings, *suffixes)
    assert dashboard["dashboardName"] == f"mesh-visibility-{mesh}"
    alarms = {a.name for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms == {f"{mesh}-{spec['name']}" for spec in alarm_specs(settings)} | {
        f"{mesh}-{spec['resource_name']}" for spec in slo_alarm_specs(settings)
    }
    groups = {g.inputs["name"] for g in run.of_type(LOG_GROUP)}
    queries = {
        q.inputs["name"]: q.inputs
        for q in run.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")
    }
    for expected in query_definitions(settings):
        registered = queries[expected["name"]]
        assert registered["queryString"] == expected["query_string"]
        assert registered["logGroupNames"] == expected["log_group_names"]
        # Every log group a query reads is one the stack creates.
        assert set(expected["log_group_names"]) <= groups


def test_stack_outputs(stack):
    settings, run = stack
    mesh = settings.mesh_name
    outputs = run.outputs
    assert outputs["dashboardUrl"] == (
        "https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2"
        f"#dashboards:name=mesh-visibility-{mesh}"
    )
    assert sorted(outputs["logGroups"]) == sorted(g.inputs["name"] for g in run.of_type(LOG_GROUP))
    assert outputs["clusterName"] == cluster_name(mesh) == f"mesh-visibility-{mesh}"
    assert outputs["alertTopicArn"] == _arn(run.one("aws:sns/topic:Topic", f"{mesh}-alerts"))
    if settings.entry_service:
        assert outputs["url"] == f"http://{mesh}-alb.us-west-2.elb.amazonaws.com"
    else:
        assert "url" not in outputs
    # Tracing is on by default: the sidecars' spans are on the X-Ray trace map.
    assert outputs["traceMapUrl"] == (
        "https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2"
        "#xray:service-map/map"
    )


@pytest.mark.parametrize(
    "config, message",
    [
        (
            shop_config(entryService="nowhere"),
            "mesh-visibility:entryService: unknown service 'nowhere'",
        ),
        (
            shop_config(
                services=[{"name": f"leaf-{i}", "port": 3000} for i in range(20)]
                + [{"name": "hub", "port": 3000, "upstreams": [f"leaf-{i}" for i in range(20)]}],
                entryService=None,
            ),
            "mesh-visibility:services[20].upstreams: the ECS task definition of 'hub' would be",
        ),
        (
            shop_config(alertEmail="oncall"),
            "mesh-visibility:alertEmail: not an email address: 'oncall'",
        ),
        (
            {**stack_config("dev-eks"), "mesh-visibility:alertEmail": "oncall@example.com"},
            "mesh-visibility:alertEmail: only the ecs topology mails its alarms",
        ),
    ],
    ids=["settings", "task-definition-size", "alert-email", "alert-email-on-eks"],
)
def test_bad_config_registers_nothing(config, message):
    run = ProgramRun()
    with pytest.raises(pulumi.RunError) as error:
        run_program(config, "bad", run=run)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
    assert run.resources == []


def test_container_insights_log_group_is_the_stacks_and_exists_first():
    """With `containerInsights`, the cluster's performance log group is created by the program
    (the stack's retention; `pulumi destroy` removes it) before the cluster, which depends on it;
    without it, no such group."""
    config = {
        **stack_config("dev"),
        "mesh-visibility:containerInsights": True,
        "mesh-visibility:logRetentionDays": 14,
    }
    run = run_program(config, "insights")
    group_name = container_insights_log_group(cluster_name("greeting"))
    assert group_name == "/aws/ecs/containerinsights/mesh-visibility-greeting/performance"
    [group] = [g for g in run.of_type(LOG_GROUP) if g.inputs["name"] == group_name]
    assert group.inputs["retentionInDays"] == 14
    [cluster] = run.of_type(CLUSTER)
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert run.options[CLUSTER, cluster.name].dependencies == {(LOG_GROUP, group.name)}
    # Not a stack output: it holds ECS's events, not the mesh's logs.
    assert group_name not in run.outputs["logGroups"]

    run = run_program(stack_config("dev"), "no-insights")
    assert not [g for g in run.of_type(LOG_GROUP) if "containerinsights" in g.inputs["name"]]
    [cluster] = run.of_type(CLUSTER)
    assert run.options[CLUSTER, cluster.name].dependencies == set()


def test_fargate_spot_runs_every_service_on_fargate_spot_capacity():
    """``fargateSpot``: every service placed by a FARGATE_SPOT strategy, registered only after
    FARGATE and FARGATE_SPOT are associated with the mesh's cluster (a service can name only an
    associated provider). Off: the same association and a FARGATE strategy, so switching it
    updates the services in place instead of replacing them (no launch type ever)."""
    capacity = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"
    run = run_program({**stack_config("dev"), "mesh-visibility:fargateSpot": True}, "spot")
    [providers] = run.of_type(capacity)
    assert providers.inputs["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert providers.inputs["clusterName"] == cluster_name("greeting")
    for service in run.of_type(ECS_SERVICE):
        assert "launchType" not in service.inputs
        assert service.inputs["capacityProviderStrategies"] == [
            {"capacityProvider": "FARGATE_SPOT", "weight": 1}
        ]
        assert (capacity, providers.name) in run.options[(ECS_SERVICE, service.name)].dependencies
    run = run_program({**stack_config("dev"), "mesh-visibility:fargateSpot": False}, "on-demand")
    [providers] = run.of_type(capacity)
    for service in run.of_type(ECS_SERVICE):
        assert "launchType" not in service.inputs
        assert service.inputs["capacityProviderStrategies"] == [
            {"capacityProvider": "FARGATE", "weight": 1}
        ]


def test_more_replicas_than_cloud_map_answers_is_allowed():
    """Cloud Map's MULTIVALUE answers name at most eight healthy tasks. A service may still have
    more replicas (docs/limits.md): ECS runs them all, and each caller's Envoy re-resolves
    the name (every 5 s; answers cached for the 10 s TTL), so callers spread over all tasks
    over time while each balances over at most eight at once."""
    config = shop_config()
    config["mesh-visibility:services"][0]["replicas"] = 12
    name = config["mesh-visibility:services"][0]["name"]
    run = run_program(config, "wide")
    [service] = [r for r in run.of_type(ECS_SERVICE) if r.inputs["name"] == name]
    assert service.inputs["desiredCount"] == 12 > MAX_ANSWERS == 8
    [discovery] = [r for r in run.of_type(DISCOVERY) if r.inputs["name"] == name]
    assert discovery.inputs["dnsConfig"]["routingPolicy"] == "MULTIVALUE"
    assert discovery.inputs["dnsConfig"]["dnsRecords"] == [{"type": "A", "ttl": DNS_TTL}]


def _depends_on(run: ProgramRun, key: tuple[str, str]) -> set[tuple[str, str]]:
    """Every resource ``key`` depends on, transitively (depends_on and input Outputs)."""
    found: set[tuple[str, str]] = set()
    todo = [key]
    while todo:
        for dep in run.options[todo.pop()].dependencies - found:
            found.add(dep)
            todo.append(dep)
    return found


def test_every_ecs_service_waits_for_every_rule_of_the_groups_its_traffic_uses(stack):
    """Issue 20 item 1. Every security group of the program revokes AWS's default egress at
    creation (hashicorp/terraform-provider-aws internal/service/ec2/vpc_security_group.go
    @01606926, resourceSecurityGroupCreate: "revoke the default egress rule" unless it is
    declared), so a task started before one of its rules exists cannot pull its images, reach
    CloudWatch or be health-checked, and the circuit breaker rolls the deployment back. Every
    rule of every group the tasks or their load balancer use must exist first."""
    _, run = stack
    rules = [r for r in run.resources if r.typ in (INGRESS, EGRESS)]
    groups_of_alb = {
        _arn(t): t.name for t in run.of_type(TARGET_GROUP)
    }  # target group -> its load balancer's groups, below
    alb_groups = {g for alb in run.of_type(ALB) for g in alb.inputs["securityGroups"]}
    for service in run.of_type(ECS_SERVICE):
        groups = set(service.inputs["networkConfiguration"]["securityGroups"])
        if any(
            lb["targetGroupArn"] in groups_of_alb for lb in service.inputs.get("loadBalancers", [])
        ):
            groups |= alb_groups
        needed = {(r.typ, r.name) for r in rules if r.inputs["securityGroupId"] in groups}
        assert needed, service.name
        missing = needed - _depends_on(run, (ECS_SERVICE, service.name))
        assert not missing, f"{service.name} may start before {sorted(n for _, n in missing)}"


def _lb_health_rewrite(containers: list[dict]) -> str:
    envoy = next(c for c in containers if c["name"] == ENVOY)
    bootstrap = json.loads(envoy["command"][envoy["command"].index("--config-yaml") + 1])
    (ingress,) = [l for l in bootstrap["static_resources"]["listeners"] if l["name"] == "ingress"]
    hcm = ingress["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    (probe,) = [r for r in routes if r["match"].get("path") == LB_HEALTH_PATH]
    return probe["route"]["prefix_rewrite"]


@pytest.mark.parametrize(
    "entry",
    [
        {"healthPath": "/"},  # the demo app, whose own path is /health whatever healthPath says
        {"image": "public.ecr.aws/nginx/nginx-unprivileged:1.30-alpine", "healthPath": "/ok"},
    ],
)
def test_the_load_balancer_and_ecs_check_the_same_app_path(entry):
    """The entry's sidecar sends the ALB's health check to the very path the app container's
    ECS health check asks, so a task the load balancer finds healthy is one ECS keeps."""
    config = stack_config("dev")
    greeter = next(s for s in config["mesh-visibility:services"] if s["name"] == "greeter")
    greeter.update(entry)
    settings = settings_from_config(config)
    containers = container_definitions(settings, settings.service("greeter"))
    app = next(c for c in containers if c["name"] == "app")
    checked = app["healthCheck"]["command"][-1]
    rewrite = _lb_health_rewrite(containers)
    assert f"127.0.0.1:{settings.service('greeter').app_port}{rewrite}" in checked
    assert rewrite == ("/health" if "image" not in entry else "/ok")
