"""The mesh-service components on their own (issue 15): the package schema Pulumi infers, each
component built from its own arguments in a program that owns its network (no stack settings),
the hosted construct path with what a YAML program sends, the examples, and docs/components.md's
tables.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.runtime import rpc

from components.ecs.service import EcsMeshService, EcsMeshServiceArgs
from components.eks.service import EksMeshService, EksMeshServiceArgs
from components.settings.model import ServiceSpec, Settings
from components.settings.service_args import MeshArgs, ServiceArgs
from components.settings.stack_files import PROJECT_ROOT, stack_config
from meshvis.offline.programs import program_config, run_folder
from provider.__main__ import COMPONENTS, PACKAGE
from provider.construct import MeshComponentProvider
from provider.docs import PAGE, generated_section, package_schema
from tests.support.pulumi_cli_rules import load_yaml, validate_stack_config
from tests.support.pulumi_harness import (
    ExistingResources,
    ProgramRun,
    run_program,
    run_under_mocks,
)

ECS_COMPONENT = "meshvis:ecs:MeshService"
EKS_COMPONENT = "meshvis:eks:MeshService"
ECS_SERVICE = "aws:ecs/service:Service"
DISCOVERY = "aws:servicediscovery/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
EXAMPLE = PROJECT_ROOT / "examples" / "ecs-existing-cluster" / "__main__.py"
YAML_EXAMPLE = PROJECT_ROOT / "examples" / "ecs-existing-cluster-yaml" / "Pulumi.yaml"
# Settings fields that belong to a whole stack's topology, not to one service.
TOPOLOGY_FIELDS = {
    "topology",
    "services",
    "entry_service",
    "certificate_arn",
    "container_insights",
    "error_rate_alarm_percent",
    "eks_version",
    "node_instance_type",
    "node_count",
    "api_access_cidrs",
    # SLOs are mesh-level documents (rules, alarms, receivers) the topology builds.
    "slo",
    "alert_webhook_url",
    "alert_email",
}
# ServiceSpec fields a mesh-service component has no use for (its SLO is the topology's).
TOPOLOGY_SERVICE_FIELDS = {"slo"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return package_schema()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def children(run: ProgramRun, component: str, name: str) -> list[tuple[str, str]]:
    """The (type, name after the component's name) of every child of one component."""
    return sorted(
        (r.typ, r.name.removeprefix(name))
        for r in run.resources
        if run.options[(r.typ, r.name)].parent == (component, name)
    )


def test_pulumis_analyzer_infers_the_package_schema(schema):
    """What `pulumi package add` runs: the analyzer over the hosted components, the schema
    generator, and the provider the plugin starts with."""
    ecs = schema["resources"]["meshvis:index:EcsMeshService"]
    eks = schema["resources"]["meshvis:index:EksMeshService"]
    assert set(ecs["requiredInputs"]) == {
        "service",
        "mesh",
        "region",
        "clusterArn",
        "vpcId",
        "subnetIds",
        "meshSecurityGroupId",
        "namespaceId",
        "dnsNamespace",
    }
    assert set(eks["requiredInputs"]) == {"service", "mesh", "kubernetesNamespace"}
    inputs = ecs["inputProperties"]
    # Values another resource may give are inputs; what the documents are made of is plain.
    assert inputs["clusterArn"]["type"] == "string" and "plain" not in inputs["clusterArn"]
    assert (
        inputs["subnetIds"]["type"] == "array" and inputs["subnetIds"]["items"]["type"] == "string"
    )
    assert inputs["region"] == {**inputs["region"], "type": "string", "plain": True}
    assert (
        inputs["service"]["$ref"] == "#/types/meshvis:index:ServiceArgs"
        and inputs["service"]["plain"]
    )
    assert inputs["loadBalancer"]["$ref"] == "#/types/meshvis:index:LoadBalancerArgs"
    assert inputs["tags"]["additionalProperties"]["type"] == "string"
    assert set(ecs["properties"]) == {
        "serviceName",
        "serviceArn",
        "address",
        "taskDefinitionArn",
        "securityGroupId",
        "taskRoleArn",
        "executionRoleArn",
        "discoveryServiceArn",
        "logGroupNames",
        "ecsService",
        "logGroups",
    }
    assert ecs["properties"]["ecsService"]["$ref"].endswith("#/resources/aws:ecs%2Fservice:Service")
    assert set(eks["properties"]) == {"configMap", "deployment", "kubernetesService", "address"}
    service, mesh = (
        schema["types"]["meshvis:index:ServiceArgs"],
        schema["types"]["meshvis:index:MeshArgs"],
    )
    assert service["required"] == ["name"] and mesh["required"] == ["meshName"]
    assert set(service["properties"]) == {
        camel(f) for f in ServiceSpec.model_fields if f not in TOPOLOGY_SERVICE_FIELDS
    }
    assert (service["properties"]["port"]["type"], service["properties"]["rate"]["type"]) == (
        "integer",
        "number",
    )
    assert schema["name"] == PACKAGE
    described = [
        (token, name, prop)
        for token, res in schema["resources"].items()
        for name, prop in {**res["inputProperties"], **res["properties"]}.items()
    ]
    described += [
        (token, name, prop)
        for token, typ in schema["types"].items()
        for name, prop in typ["properties"].items()
    ]
    assert [(t, n) for t, n, p in described if not p.get("description", "").strip()] == []
    assert json.loads(ComponentProvider(COMPONENTS, PACKAGE).schema) == schema


def test_every_setting_is_an_argument_or_the_topologys():
    """A new Settings field must reach the components (or be declared topology-wide): one left
    out would silently take its default in every component, and differ from the stack."""
    per_service = set(MeshArgs.__annotations__) | {
        key
        for args in (EcsMeshServiceArgs, EksMeshServiceArgs)
        for key in args.__annotations__
        if key in Settings.model_fields
    }
    assert per_service | TOPOLOGY_FIELDS == set(Settings.model_fields)
    assert not per_service & TOPOLOGY_FIELDS
    assert (
        set(ServiceArgs.__annotations__) == set(ServiceSpec.model_fields) - TOPOLOGY_SERVICE_FIELDS
    )


def test_the_component_tables_are_the_schemas(schema):
    page = PAGE.read_text()
    assert generated_section(schema) in page, (
        "docs/components.md's tables differ from the schema: "
        "run `.venv/bin/python -m provider.docs`"
    )


# --- a program that owns its network, no stack settings -------------------------------------

MESH = MeshArgs(mesh_name="shop", stats_profile="essential")


def own_ecs_program() -> dict[str, Any]:
    """A VPC, a cluster, a namespace, a load balancer's target group and three mesh services:
    a leaf with two replicas, an entry service behind the target group, a load generator."""
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.1.0.0/16")
    subnets = [
        aws.ec2.Subnet(f"private-{i}", vpc_id=vpc.id, cidr_block=f"10.1.{i}.0/24") for i in range(2)
    ]
    cluster = aws.ecs.Cluster("cluster")
    namespace = aws.servicediscovery.PrivateDnsNamespace("dns", name="shop.local", vpc=vpc.id)
    mesh_group = aws.ec2.SecurityGroup("mesh", vpc_id=vpc.id)
    alb_group = aws.ec2.SecurityGroup("alb", vpc_id=vpc.id)
    target_group = aws.lb.TargetGroup(
        "tg", port=15000, protocol="HTTP", target_type="ip", vpc_id=vpc.id
    )

    def where(service: ServiceArgs) -> EcsMeshServiceArgs:
        return EcsMeshServiceArgs(
            service=service,
            mesh=MESH,
            region="us-west-2",
            cluster_arn=cluster.arn,
            vpc_id=vpc.id,
            subnet_ids=[s.id for s in subnets],
            mesh_security_group_id=mesh_group.id,
            namespace_id=namespace.id,
            dns_namespace="shop.local",
        )

    catalog = EcsMeshService("catalog", where({"name": "catalog", "replicas": 2}))
    front = EcsMeshService(
        "front",
        {
            **where({"name": "front", "upstreams": ["catalog"]}),
            "load_balancer": {
                "target_group_arn": target_group.arn,
                "security_group_id": alb_group.id,
            },
        },
    )
    EcsMeshService("load", where({"name": "load", "kind": "load", "upstreams": ["front"]}))
    return {"front": front.address, "catalog": catalog.service_name}


def test_the_ecs_component_builds_from_its_own_arguments_as_in_the_stack():
    own = run_under_mocks(own_ecs_program, {"aws:region": "us-west-2"}, project="shop")
    stack = run_program(stack_config("dev"), "dev")

    # Same children as the stack's services of the same shape (leaf, entry, load generator).
    # Cloud Map services are named after their namespace (shop.local here, internal in dev).
    def shape(found: list[tuple[str, str]], namespace: str) -> list[tuple[str, str]]:
        return [(typ, name.replace(namespace, "<namespace>")) for typ, name in found]

    for mine, theirs in (
        ("catalog", "greeting-name"),
        ("front", "greeting-greeter"),
        ("load", "greeting-load-generator"),
    ):
        assert shape(children(own, ECS_COMPONENT, mine), "shop.local") == shape(
            children(stack, ECS_COMPONENT, theirs), "internal"
        )
    service = own.one(ECS_SERVICE, "front-service").inputs
    # The program's own cluster (the mocks' ARN of the resource named "cluster").
    assert service["cluster"].endswith(":cluster/cluster")
    assert service["loadBalancers"][0]["targetGroupArn"].endswith("/tg")
    assert (
        own.one(DISCOVERY, "catalog-discovery-shop.local").inputs["dnsConfig"]["namespaceId"]
        == "dns-id"
    )
    # The front's sidecar resolves its upstream in the program's own namespace.
    assert (
        "catalog.shop.local"
        in own.one(TASK_DEFINITION, "front-task").inputs["containerDefinitions"]
    )
    assert own.outputs == {"front": "front.shop.local:15000", "catalog": "catalog"}


def own_eks_program() -> dict[str, Any]:
    """A Kubernetes provider of its own, a namespace and two mesh services, each of the
    dev-eks stack's shape: an app of its own image with two replicas and a load generator."""
    provider = k8s.Provider("cluster", kubeconfig="{}")
    namespace = k8s.core.v1.Namespace(
        "shop", metadata={"name": "shop"}, opts=pulumi.ResourceOptions(provider=provider)
    )
    on_cluster = pulumi.ResourceOptions(providers=[provider], depends_on=[namespace])
    web = EksMeshService(
        "web",
        EksMeshServiceArgs(
            service={
                "name": "web",
                "image": "public.ecr.aws/nginx/nginx-unprivileged:1.30-alpine",
                "port": 8080,
                "replicas": 2,
            },
            mesh=MESH,
            kubernetes_namespace="shop",
        ),
        opts=on_cluster,
    )
    EksMeshService(
        "load",
        EksMeshServiceArgs(
            service={
                "name": "load",
                "kind": "load",
                "rate": 2,
                "replicas": 3,
                "upstreams": ["web"],
            },
            mesh=MESH,
            kubernetes_namespace="shop",
        ),
        opts=on_cluster,
    )
    return {"address": web.address}


def test_the_eks_component_builds_from_its_own_arguments_as_in_the_stack():
    own = run_under_mocks(own_eks_program, {}, project="shop")
    stack = run_program(stack_config("dev-eks"), "dev-eks")
    for mine, theirs in (("web", "nginx-demo-nginx"), ("load", "nginx-demo-load-generator")):
        assert children(own, EKS_COMPONENT, mine) == children(stack, EKS_COMPONENT, theirs)
    # Every object goes to the program's cluster, in its namespace.
    objects = [
        r
        for r in own.resources
        if own.options[(r.typ, r.name)].parent
        and own.options[(r.typ, r.name)].parent[0] == EKS_COMPONENT
    ]
    assert objects and {r.provider.split("::")[-2] for r in objects} == {"cluster"}
    assert {r.inputs["metadata"]["namespace"] for r in objects} == {"shop"}
    assert own.outputs == {"address": "web.shop.svc.cluster.local.:15000"}


# --- bad arguments ----------------------------------------------------------------------------


def ecs_args(**service: Any) -> dict[str, Any]:
    return {
        "service": {"name": "greeter", **service},
        "mesh": {"mesh_name": "shop"},
        "region": "us-west-2",
        "cluster_arn": "arn",
        "vpc_id": "vpc",
        "subnet_ids": ["s"],
        "mesh_security_group_id": "sg",
        "namespace_id": "ns",
        "dns_namespace": "shop.local",
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (ecs_args(port=70000), "args.service.port: Input should be less than or equal to 65535"),
        (ecs_args(port=9901), "args.service.port: 9901 is reserved for the Envoy sidecar"),
        (
            {**ecs_args(), "service": {"name": "Greeter"}},
            "args.service.name: 'Greeter' is not a DNS label",
        ),
        (
            ecs_args(upstreams=["greeting", "Name!"]),
            "args.service.upstreams[1]: 'Name!' is not a DNS label",
        ),
        (
            ecs_args(upstreams=["greeter"]),
            "args.service.upstreams: 'greeter' cannot be its own upstream",
        ),
        (ecs_args(upstreams=["name", "name"]), "args.service.upstreams: lists a service twice"),
        (ecs_args(healthPath="/"), "args.service.healthPath: unknown argument"),
        (
            {**ecs_args(), "mesh": {"mesh_name": "sg-shop"}},
            "args.mesh.mesh_name: 'sg-shop' would start",
        ),
        (
            {**ecs_args(), "mesh": {"mesh_name": "shop", "topology": "eks"}},
            "args.mesh.topology: unknown argument",
        ),
        ({**ecs_args(), "log_retention_days": 8}, "args.log_retention_days: 8 is not one of"),
        ({**ecs_args(), "dns_namespace": "Shop_Local"}, "args.dns_namespace: not a DNS name"),
        (
            {**ecs_args(), "previous_dns_namespace": "old.local"},
            "args.previous_namespace_id: give it and previous_dns_namespace together",
        ),
        (
            {**ecs_args(), "previous_namespace_id": "old"},
            "args.previous_namespace_id: give it and previous_dns_namespace together",
        ),
        (
            {**ecs_args(), "previous_namespace_id": "old", "previous_dns_namespace": "shop.local"},
            "args.previous_dns_namespace: equals dnsNamespace",
        ),
        ({k: v for k, v in ecs_args().items() if k != "cluster_arn"}, "args.cluster_arn: required"),
        ({**ecs_args(), "cluster": "arn"}, "args.cluster: unknown argument"),
        (
            ecs_args(env={"BIG": "x" * 70000}),
            "args.service.env: the ECS task definition of 'greeter'",
        ),
    ],
)
def test_a_bad_argument_stops_the_ecs_component_naming_it(args, message):
    with pytest.raises(pulumi.RunError) as raised:
        EcsMeshService("greeter", args)
    assert str(raised.value).startswith(f"EcsMeshService greeter: {message}")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {
                "service": {"name": "web", "replicas": 0},
                "mesh": {"mesh_name": "shop"},
                "kubernetes_namespace": "shop",
            },
            "args.service.replicas: Input should be greater than",
        ),
        (
            {
                "service": {"name": "web"},
                "mesh": {"mesh_name": "shop"},
                "kubernetes_namespace": "Shop",
            },
            "args.kubernetes_namespace: 'Shop' is not a DNS label",
        ),
        (
            {"service": {"name": "web"}, "mesh": {"mesh_name": "shop"}},
            "args.kubernetes_namespace: required",
        ),
        (
            {
                "service": {"name": "web", "env": {"A": "x" * 140000}},
                "mesh": {"mesh_name": "shop"},
                "kubernetes_namespace": "shop",
            },
            "args.service.env: A of 'web' is",
        ),
    ],
)
def test_a_bad_argument_stops_the_eks_component_naming_it(args, message):
    with pytest.raises(pulumi.RunError) as raised:
        EksMeshService("web", args)
    assert str(raised.value).startswith(f"EksMeshService web: {message}")


# --- the examples and the hosted construct path ------------------------------------------------


EXAMPLE_CONFIG = {
    "aws:region": "us-west-2",
    "clusterName": "platform",
    "namespaceName": "shop.local",
    "vpcId": "vpc-0123",
    "subnetIds": ["subnet-a", "subnet-b"],
}


def effective_config(project_file: Path) -> dict[str, Any]:
    """``EXAMPLE_CONFIG`` as a stack file of an example, checked by the Pulumi CLI's rules, as
    the CLI hands it to the program (strings, lists as JSON)."""
    return validate_stack_config(load_yaml(str(project_file)), {"config": EXAMPLE_CONFIG}, "dev")


def run_python_example() -> ProgramRun:
    def main() -> dict[str, Any]:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
        return {}

    return run_under_mocks(
        main,
        effective_config(EXAMPLE.parent / "Pulumi.yaml"),
        project="ecs-existing-cluster",
        mocks=ExistingResources,
    )


def test_the_examples_are_valid_projects_for_their_config():
    for project_file in (EXAMPLE.parent / "Pulumi.yaml", YAML_EXAMPLE):
        assert (
            effective_config(project_file)[f"{load_yaml(str(project_file))['name']}:meshName"]
            == "shop"
        )


def test_the_python_example_adds_two_services_to_the_existing_cluster():
    run = run_python_example()
    assert sorted(r.name for r in run.of_type(ECS_COMPONENT)) == ["greeter", "greeting"]
    for service in run.of_type(ECS_SERVICE):
        assert service.inputs["cluster"] == "arn:aws:ecs:us-west-2:123456789012:cluster/platform"
        assert service.inputs["networkConfiguration"]["subnets"] == ["subnet-a", "subnet-b"]
    assert (
        run.one(DISCOVERY, "greeting-discovery-shop.local").inputs["dnsConfig"]["namespaceId"]
        == "ns-existing"
    )
    assert (ECS_SERVICE, "greeting-service") in run.options[
        (ECS_SERVICE, "greeter-service")
    ].dependencies
    assert (
        "greeting.shop.local"
        in run.one(TASK_DEFINITION, "greeter-task").inputs["containerDefinitions"]
    )


def test_the_yaml_example_constructs_through_the_package_as_the_python_one():
    """Its properties fit the schema, and the plugin's construct path (what the engine calls
    for a YAML, TypeScript, Go or .NET program) registers what the Python example does."""
    document = yaml.safe_load(YAML_EXAMPLE.read_text())
    schema = package_schema()
    assert document["packages"] == {PACKAGE: "../../provider"}
    mesh_services = {
        name: res
        for name, res in document["resources"].items()
        if res["type"].startswith(f"{PACKAGE}:")
    }
    for resource in mesh_services.values():
        spec = schema["resources"][resource["type"]]
        assert set(resource["properties"]) <= set(spec["inputProperties"])
        assert set(spec["requiredInputs"]) <= set(resource["properties"])

    # What `meshvis offline` runs: the components constructed through the package with the
    # program's ${...} resolved (config, its look-ups, the ids the mocks give).
    given = {k: v if isinstance(v, str) else json.dumps(v) for k, v in EXAMPLE_CONFIG.items()}
    hosted, declared = run_folder(YAML_EXAMPLE.parent, program_config(document, given)[0], document)
    assert set(declared) == set(document["resources"]) - set(mesh_services)
    python = run_python_example()
    for name in mesh_services:
        assert children(hosted, ECS_COMPONENT, name) == children(python, ECS_COMPONENT, name)
        mine = {r.name: r.inputs for r in hosted.resources if r.name.startswith(f"{name}-")}
        theirs = {r.name: r.inputs for r in python.resources if r.name.startswith(f"{name}-")}
        assert mine[f"{name}-task"] == theirs[f"{name}-task"]


def test_the_provider_runs_from_its_own_folder():
    """The language host runs `python provider/` (its folder first on sys.path, not the
    repository's root): the components import from there, and nothing is hosted on import."""
    probe = (
        "import runpy, sys; ns = runpy.run_path(sys.argv[1], run_name='probe'); "
        "print(ns['PACKAGE'], [c.__name__ for c in ns['COMPONENTS']])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(PROJECT_ROOT / "provider")],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "meshvis ['EcsMeshService', 'EksMeshService']"


# --- arguments that arrive as Outputs -------------------------------------------------------

# What the engine's Construct sends for an EcsMeshService, in schema names: the SDK wraps a
# top-level input in an Output when it is a secret or depends on another resource
# (pulumi/provider/server.py _select_value), as `${mesh.id}` and a load balancer built in the
# same program do.
LOAD_BALANCER = {
    "targetGroupArn": "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg/1",
    "securityGroupId": "sg-alb",
}


def _ecs_inputs(**changes: Any) -> dict[str, Any]:
    inputs = {
        "service": {"name": "greeter", "port": 3000.0},
        "mesh": {"meshName": "shop"},
        "region": "us-west-2",
        "clusterArn": pulumi.Output.from_input("arn:aws:ecs:us-west-2:123456789012:cluster/c"),
        "vpcId": "vpc-0123",
        "subnetIds": pulumi.Output.from_input(["subnet-a", "subnet-b"]),
        "meshSecurityGroupId": pulumi.Output.secret("sg-mesh"),
        "namespaceId": "ns-existing",
        "dnsNamespace": "shop.local",
        "loadBalancer": pulumi.Output.from_input(LOAD_BALANCER),
    }
    return {**inputs, **changes}


def _construct(inputs: dict[str, Any], provider_type: type = MeshComponentProvider) -> ProgramRun:
    def main() -> dict[str, Any]:
        provider_type(COMPONENTS, PACKAGE).construct(
            "greeter", f"{PACKAGE}:index:EcsMeshService", inputs, pulumi.ResourceOptions()
        )
        return {}

    return run_under_mocks(main, {"aws:region": "us-west-2"}, project="construct")


def test_inputs_that_may_be_outputs_construct_when_they_are():
    """A load balancer and the Input-typed ids given as Outputs reach the resources."""
    run = _construct(_ecs_inputs())
    [service] = run.of_type(ECS_SERVICE)
    assert service.inputs["loadBalancers"][0]["targetGroupArn"] == LOAD_BALANCER["targetGroupArn"]
    # The secret security group id keeps the block it is in secret.
    network = service.inputs["networkConfiguration"]
    assert rpc.is_rpc_secret(network)
    assert rpc.unwrap_rpc_secret(network)["subnets"] == ["subnet-a", "subnet-b"]
    assert service.inputs["cluster"] == "arn:aws:ecs:us-west-2:123456789012:cluster/c"
    # The SDK's own mapper reads the load balancer Output as {}: the error this replaces.
    with pytest.raises(Exception, match=r"Missing required input 'loadBalancer\.targetGroupArn'"):
        _construct(_ecs_inputs(), ComponentProvider)


@pytest.mark.parametrize(
    "changes, path",
    [
        (
            {"service": pulumi.Output.secret({"name": "greeter", "port": 3000.0})},
            "service",
        ),
        (
            {"service": {"name": "greeter", "env": {"TOKEN": pulumi.Output.secret("s3cret")}}},
            "service.env",
        ),
        ({"logRetentionDays": pulumi.Output.from_input(14.0)}, "log_retention_days"),
        ({"region": pulumi.Output.from_input("us-west-2")}, "region"),
    ],
)
def test_an_output_where_a_plain_value_is_needed_is_one_line_naming_it(changes, path):
    with pytest.raises(pulumi.InputPropertyError) as raised:
        _construct(_ecs_inputs(**changes))
    assert raised.value.reason == (
        f"EcsMeshService greeter: args.{path}: must be a plain value known at preview, not "
        "an Output (a secret, or another resource's output)"
    )


@pytest.mark.parametrize(
    "resource_type, reason",
    [
        (f"{PACKAGE}:index:EcsMeshServce", "unknown component 'EcsMeshServce'"),
        ("other:index:EcsMeshService", f"invalid provider: other, expected {PACKAGE}"),
        (f"{PACKAGE}:EcsMeshService", "invalid resource type"),
    ],
)
def test_a_wrong_type_token_is_a_clean_error_before_any_lookup(resource_type, reason):
    """Not a bare KeyError from the provider's component table."""
    with pytest.raises(ValueError, match=reason):
        MeshComponentProvider(COMPONENTS, PACKAGE).construct(
            "greeter", resource_type, _ecs_inputs(), pulumi.ResourceOptions()
        )
