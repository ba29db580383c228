"""One service of the mesh on ECS Fargate: task, sidecars, discovery, roles and firewall."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.ecs.containers import CONTAINERS, ENVOY, task_definition
from components.ecs.iam import (
    execution_role_policy,
    execution_trust_policy,
    task_role_policy,
    task_trust_policy,
)
from components.settings.model import ServiceSpec, Settings
from components.settings.naming import log_group_name
from components.settings.ports import INGRESS_PORT, METRICS_PORT

# Cloud Map answers with every healthy task's address; a short TTL lets Envoy's STRICT_DNS
# clusters follow tasks that come and go within seconds.
DNS_TTL = 10
# Time the load balancer's first health checks get before ECS counts a new task as failed:
# the app starts only after Envoy is healthy (about 10 s), then answers through it.
LB_GRACE_SECONDS = 60


@dataclass
class LoadBalancerAttachment:
    """The load balancer in front of the entry service."""

    target_group_arn: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    # The listener that forwards to the target group: ECS refuses a target group that no
    # load balancer uses yet, so the service waits for it.
    listener: pulumi.Resource


@dataclass
class EcsMeshServiceArgs:
    """Inputs of an ``EcsMeshService``."""

    settings: Settings
    service: ServiceSpec
    cluster_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    # Attached to every task of the mesh: its egress rules and the source of mesh traffic.
    mesh_security_group_id: pulumi.Input[str]
    # Cloud Map namespace; every service that accepts requests is registered in it.
    namespace_id: pulumi.Input[str]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    load_balancer: LoadBalancerAttachment | None = None
    tags: dict[str, str] = field(default_factory=dict)


class EcsMeshService(pulumi.ComponentResource):
    """A mesh service on Fargate: app + Envoy + CloudWatch agent, discoverable by DNS.

    Its security group admits only the mesh (Envoy ingress 15000, metrics 9902) and, for the
    entry service, the load balancer on 15000; the app port and Envoy's admin port are never
    opened (the app listens on loopback, admin is bound to 127.0.0.1).
    """

    service_name: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    discovery_service_arn: pulumi.Output[str] | None
    log_group_names: list[str]
    log_groups: list[aws.cloudwatch.LogGroup]

    def __init__(self, name: str, args: EcsMeshServiceArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meshvis:ecs:MeshService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings, service = args.settings, args.service
        tags = {**args.tags, "service": service.name}

        self.log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-{container}-logs",
                name=log_group_name(settings.mesh_name, service.name, container),
                retention_in_days=settings.log_retention_days, tags=tags, opts=child)
            for container in CONTAINERS
        ]
        self.log_group_names = [log_group_name(settings.mesh_name, service.name, c)
                                for c in CONTAINERS]

        identity = pulumi.Output.all(args.account_id, args.partition)
        task_role = aws.iam.Role(
            f"{name}-task",
            assume_role_policy=identity.apply(lambda v: json.dumps(
                task_trust_policy(v[0], str(settings.region), v[1]))),
            description=f"Task role of {settings.mesh_name}/{service.name}: its CloudWatch "
                        "agent publishes the mesh's metrics",
            tags=tags, opts=child)
        task_policy = aws.iam.RolePolicy(
            f"{name}-task", role=task_role.id,
            policy=identity.apply(lambda v: json.dumps(task_role_policy(settings, v[0], v[1]))),
            opts=child)
        execution_role = aws.iam.Role(
            f"{name}-exec", assume_role_policy=json.dumps(execution_trust_policy()),
            description=f"Execution role of {settings.mesh_name}/{service.name}: image pulls "
                        "and container logs",
            tags=tags, opts=child)
        execution_policy = aws.iam.RolePolicy(
            f"{name}-exec", role=execution_role.id,
            policy=identity.apply(lambda v: json.dumps(
                execution_role_policy(settings, service, v[0], v[1]))),
            opts=child)

        document = task_definition(settings, service)
        definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=document["family"],
            network_mode=document["networkMode"],
            requires_compatibilities=document["requiresCompatibilities"],
            cpu=document["cpu"],
            memory=document["memory"],
            runtime_platform={
                "operating_system_family": document["runtimePlatform"]["operatingSystemFamily"],
                "cpu_architecture": document["runtimePlatform"]["cpuArchitecture"],
            },
            container_definitions=json.dumps(document["containerDefinitions"],
                                             separators=(",", ":")),
            task_role_arn=task_role.arn,
            execution_role_arn=execution_role.arn,
            tags=tags, opts=child)

        group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id,
            description=f"{settings.mesh_name}/{service.name}: Envoy ingress and metrics only",
            tags={**tags, "Name": f"{name}-sg"}, opts=child)
        sources = [("metrics", METRICS_PORT, args.mesh_security_group_id)]
        if not service.is_load:
            sources.append(("mesh", INGRESS_PORT, args.mesh_security_group_id))
        if args.load_balancer is not None:
            sources.append(("alb", INGRESS_PORT, args.load_balancer.security_group_id))
        for label, port, source in sources:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-{label}", security_group_id=group.id,
                referenced_security_group_id=source, ip_protocol="tcp",
                from_port=port, to_port=port,
                description=f"Envoy {port} from the {label}", opts=child)

        registries = None
        self.discovery_service_arn = None
        if not service.is_load:
            # A load generator accepts no requests (no service may name it as an upstream),
            # so only services with an ingress get a DNS name.
            discovery = aws.servicediscovery.Service(
                f"{name}-discovery", name=service.name,
                dns_config={"namespace_id": args.namespace_id, "routing_policy": "MULTIVALUE",
                            "dns_records": [{"type": "A", "ttl": DNS_TTL}]},
                # ECS reports each task's health (Envoy's health check) to Cloud Map.
                health_check_custom_config={},
                # Deleting the service must not wait for ECS to deregister the last instances.
                force_destroy=True,
                tags=tags, opts=child)
            registries = {"registry_arn": discovery.arn}
            self.discovery_service_arn = discovery.arn

        depends_on: list[pulumi.Resource] = [*self.log_groups, task_policy, execution_policy]
        load_balancers = None
        grace = None
        if args.load_balancer is not None:
            load_balancers = [{"target_group_arn": args.load_balancer.target_group_arn,
                               "container_name": ENVOY, "container_port": INGRESS_PORT}]
            grace = LB_GRACE_SECONDS
            depends_on.append(args.load_balancer.listener)
        ecs_service = aws.ecs.Service(
            f"{name}-service",
            # The service's own name, so `aws ecs` commands and Container Insights read naturally;
            # the cluster belongs to this mesh alone.
            name=service.name,
            cluster=args.cluster_arn,
            task_definition=definition.arn,
            desired_count=service.replicas,
            launch_type="FARGATE",
            network_configuration={"subnets": args.subnet_ids, "assign_public_ip": False,
                                   "security_groups": [args.mesh_security_group_id, group.id]},
            service_registries=registries,
            load_balancers=load_balancers,
            health_check_grace_period_seconds=grace,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            propagate_tags="SERVICE",
            # `pulumi up` returns once ECS accepted the service; the circuit breaker watches the
            # rollout and rolls a failing one back on its own.
            wait_for_steady_state=False,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on))

        self.service_name = ecs_service.name
        self.task_definition_arn = definition.arn
        self.security_group_id = group.id
        self.task_role_arn = task_role.arn
        self.execution_role_arn = execution_role.arn
        self.register_outputs({
            "serviceName": self.service_name,
            "taskDefinitionArn": self.task_definition_arn,
            "securityGroupId": self.security_group_id,
            "logGroupNames": self.log_group_names,
        })
