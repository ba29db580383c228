"""One service of the mesh on ECS Fargate: task, sidecars, discovery, roles and firewall.

``EcsMeshService`` takes arguments of its own (``EcsMeshServiceArgs``), so any program can add
a mesh service to its own cluster and Cloud Map namespace, and the component package
(``provider/``) hosts it for every language. No ``from __future__ import annotations``: Pulumi's
schema inference reads the annotations of the arguments and outputs as objects.
"""

import json
from collections.abc import Sequence
from typing import Required, TypedDict, TypeVar, cast

import pulumi
import pulumi_aws as aws

from components.ecs.checks import check_task_definition_sizes
from components.ecs.containers import (
    CONTAINERS,
    ENVOY,
    ecs_exec_enabled,
    service_placement,
    task_definition,
)
from components.ecs.discovery import dns_config
from components.ecs.iam import (
    execution_role_policy,
    execution_trust_policy,
    task_role_policy,
    task_trust_policy,
)
from components.settings.model import ServiceSpec, Settings
from components.settings.naming import log_group_name
from components.settings.ports import INGRESS_PORT, METRICS_PORT
from components.settings.service_args import (
    ArgumentError,
    MeshArgs,
    ServiceArgs,
    component_settings,
)

# Time the load balancer's first health checks get before ECS counts a new task as failed:
# the app starts only after Envoy is healthy (about 10 s), then answers through it.
LB_GRACE_SECONDS = 60


# Every rule of the ECS topology opens one TCP port to or from one peer.
Rule = TypeVar("Rule", aws.vpc.SecurityGroupIngressRule, aws.vpc.SecurityGroupEgressRule)


def tcp_port_rule(
    kind: type[Rule],
    name: str,
    group_id: pulumi.Input[str],
    port: int,
    description: str,
    opts: pulumi.ResourceOptions,
    *,
    peer_group_id: pulumi.Input[str] | None = None,
    cidr: str | None = None,
) -> Rule:
    """An ingress or egress rule (``kind``) of ``group_id`` for TCP ``port``, to or from one
    peer: another security group or a CIDR block (exactly one)."""
    if (peer_group_id is None) == (cidr is None):
        raise ValueError("give exactly one of peer_group_id and cidr")
    return kind(
        name,
        security_group_id=group_id,
        referenced_security_group_id=peer_group_id,
        cidr_ipv4=cidr,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
        opts=opts,
    )


class LoadBalancerArgs(TypedDict):
    """A load balancer in front of the service: an ALB target group of target type `ip`."""

    target_group_arn: pulumi.Input[str]
    """The target group's ARN; ECS registers every task in it on Envoy's ingress port 15000."""
    security_group_id: pulumi.Input[str]
    """The load balancer's security group; the service admits it on port 15000 and adds the
    group's egress rule to its tasks' port 15000 (the tasks start only once both exist)."""


class EcsMeshServiceArgs(TypedDict, total=False):
    """Arguments of an ``EcsMeshService``: the service, its mesh, and where it runs (a cluster,
    private subnets and a Cloud Map private DNS namespace that already exist)."""

    service: Required[ServiceArgs]
    """The service."""
    mesh: Required[MeshArgs]
    """The settings every service of its mesh shares."""
    region: Required[str]
    """The AWS region of the cluster (the containers' log driver and the agent write there)."""
    cluster_arn: Required[pulumi.Input[str]]
    """The ECS cluster the service runs in."""
    vpc_id: Required[pulumi.Input[str]]
    """The VPC of the subnets and of the Cloud Map namespace."""
    subnet_ids: Required[pulumi.Input[list[pulumi.Input[str]]]]
    """Private subnets for the tasks (no public IPs): they need a NAT gateway or VPC endpoints
    to pull images and reach CloudWatch."""
    mesh_security_group_id: Required[pulumi.Input[str]]
    """The security group every task of the mesh has: the service admits it on Envoy's ports
    15000 and 9902, and it must allow the tasks out to those ports and to 443."""
    namespace_id: Required[pulumi.Input[str]]
    """The Cloud Map private DNS namespace the service registers in (unless it is a `load`
    service)."""
    dns_namespace: Required[str]
    """That namespace's name: the sidecars reach an upstream at `<upstream>.<dns_namespace>`."""
    previous_namespace_id: pulumi.Input[str]
    """Step 1 of a namespace change: the namespace the service is registered in until now. It
    stays registered there, gets a Cloud Map service in `namespace_id` too, and its sidecars
    reach an upstream at both names (none by default)."""
    previous_dns_namespace: str
    """That namespace's name (with `previous_namespace_id`; default "": none)."""
    load_balancer: LoadBalancerArgs
    """A load balancer in front of the service (none by default)."""
    log_retention_days: int
    """Days CloudWatch Logs keeps the containers' logs (default 7)."""
    log_groups_on_delete: str
    """`delete` (default): removing the service deletes its log groups and their logs; `keep`:
    they stay until their retention expires the logs, and a later service of the same name
    adopts them."""
    cloudwatch_agent_image: str
    """The CloudWatch agent sidecar's image (default: the pinned agent release)."""
    cpu_architecture: str
    """`ARM64` (default, Graviton) or `X86_64`."""
    fargate_spot: bool
    """Run the tasks on Fargate Spot; the cluster must have FARGATE and FARGATE_SPOT as
    capacity providers (default false)."""
    tags: dict[str, str]
    """Tags on every resource (each also gets `service: <name>`)."""


class EcsMeshService(pulumi.ComponentResource):
    """A mesh service on Fargate: app + Envoy + CloudWatch agent, discoverable by DNS.

    Its security group admits only the mesh (Envoy ingress 15000, metrics 9902) and, for the
    entry service, the load balancer on 15000; the app port and Envoy's admin port are never
    opened (the app listens on loopback, admin is bound to 127.0.0.1).

    Registered as ``meshvis:ecs:MeshService`` wherever it is created (the type its deployed
    stacks' URNs carry), also when the package hosts it as ``meshvis:index:EcsMeshService``.
    ``rollout_after`` (Python only) names resources its ECS service waits for: the stack's
    upstream services, load balancer listener and the rules of the mesh's and the load
    balancer's security groups (a task started before a rule of its groups exists cannot pull
    its images or be health-checked). Other programs order whole components with
    `depends_on`. ``alb_rule_aliases`` (Python only) are earlier URNs of the load balancer's
    egress rule to this service (``EcsTopology`` names the one an earlier version created).
    """

    service_name: pulumi.Output[str]
    """The ECS service's name (the service's own)."""
    service_arn: pulumi.Output[str]
    """The ECS service's ARN."""
    dns_name: str | None
    """Where the mesh reaches it: `<name>.<namespace it is registered in>` on port 15000 (none
    for `load`)."""
    task_definition_arn: pulumi.Output[str]
    """The task definition's current revision."""
    security_group_id: pulumi.Output[str]
    """The service's own security group."""
    task_role_arn: pulumi.Output[str]
    """The task role (its CloudWatch agent publishes metrics and traces with it)."""
    execution_role_arn: pulumi.Output[str]
    """The execution role (image pulls and container logs)."""
    discovery_service_arn: pulumi.Output[str] | None
    """The Cloud Map service it is registered in (none for `load`)."""
    log_group_names: list[str]
    """The log groups of the app, Envoy and the CloudWatch agent containers."""
    ecs_service: aws.ecs.Service
    """The ECS service."""
    log_groups: list[aws.cloudwatch.LogGroup]
    """The log groups."""

    def __init__(
        self,
        name: str,
        args: EcsMeshServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        rollout_after: Sequence[pulumi.Resource] = (),
        alb_rule_aliases: Sequence[pulumi.Alias] = (),
    ) -> None:
        # Every argument checked before any resource (the component's own included) exists;
        # a RunError is reported as its one-line message, without a traceback.
        try:
            settings = component_settings(
                "EcsMeshService",
                name,
                args,
                EcsMeshServiceArgs,
                "ecs",
                checks=[check_task_definition_sizes],
            )
        except ArgumentError as err:
            raise pulumi.RunError(str(err)) from None
        if bool(settings.previous_dns_namespace) != ("previous_namespace_id" in args):
            raise pulumi.RunError(
                f"EcsMeshService {name}: args.previous_namespace_id: give it "
                "and previous_dns_namespace together, or neither"
            )
        service = settings.services[0]
        if "load_balancer" in args:
            # The load balancer's target: its sidecar routes the ALB's health check.
            settings = settings.model_copy(update={"entry_service": service.name})
        super().__init__("meshvis:ecs:MeshService", name, None, opts)
        tags = {**args.get("tags", {}), "service": service.name}

        self.log_groups = self._log_groups(name, settings, service, tags)
        self.log_group_names = [
            log_group_name(settings.mesh_name, service.name, c) for c in CONTAINERS
        ]

        task_role, execution_role, policies = self._roles(name, settings, service, tags)
        definition = self._task_definition(name, settings, service, task_role, execution_role, tags)
        group, rules = self._firewall(name, settings, service, args, tags, alb_rule_aliases)
        ecs_service = self._ecs_service(
            name,
            settings,
            service,
            args,
            definition,
            group,
            tags,
            depends_on=[*self.log_groups, *policies, *rules, *rollout_after],
        )
        self.ecs_service = ecs_service
        self.service_name = ecs_service.name
        self.service_arn = ecs_service.arn
        self.dns_name = (
            None if service.is_load else f"{service.name}.{settings.registered_dns_namespace}"
        )
        self.task_definition_arn = definition.arn
        self.security_group_id = group.id
        self.task_role_arn = task_role.arn
        self.execution_role_arn = execution_role.arn
        self.register_outputs(
            {
                "serviceName": self.service_name,
                "serviceArn": self.service_arn,
                "dnsName": self.dns_name,
                "taskDefinitionArn": self.task_definition_arn,
                "securityGroupId": self.security_group_id,
                "logGroupNames": self.log_group_names,
            }
        )

    def _log_groups(
        self, name: str, settings: Settings, service: ServiceSpec, tags: dict[str, str]
    ) -> list[aws.cloudwatch.LogGroup]:
        """One log group per container, deleted with the service or, with
        ``logGroupsOnDelete: keep``, left to its retention (Pulumi's retainOnDelete: "the
        resource will not be deleted from the backing cloud provider, but will be removed
        from the Pulumi state", pulumi.com/docs/iac/concepts/options/retainondelete).

        A kept group still holds its name, and CreateLogGroup refuses an existing name: a
        later ``pulumi up`` (after a destroy, or a service added back) imports the group it
        finds instead of creating it, in either mode (a group kept before a switch to
        ``delete`` is adopted too, and deleted with the service from then on). The import
        option is harmless once the group is in the stack: "If the resource exists and has the
        same ID, the resource is treated like any other resource" (pulumi/pulumi
        developer-docs/architecture/import.md @0fcd6a8b). An imported group that differs from
        the program (another ``logRetentionDays``, other tags) is imported, then updated to
        match, with Pulumi CLI 3.174.0 or later (pulumi/pulumi#19339, step_generator.go
        ``continueStepsFromImport``); an older CLI stops the update there (docs/day-2.md
        "Log groups").
        """
        names = {c: log_group_name(settings.mesh_name, service.name, c) for c in CONTAINERS}
        keep = settings.log_groups_on_delete == "keep"
        found = aws.cloudwatch.get_log_groups(
            log_group_name_prefix=log_group_name(settings.mesh_name, service.name, ""),
            opts=pulumi.InvokeOptions(parent=self),
        )
        kept = set(found.log_group_names or ())
        return [
            aws.cloudwatch.LogGroup(
                f"{name}-{container}-logs",
                name=group,
                retention_in_days=settings.log_retention_days,
                tags=tags,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    retain_on_delete=keep,
                    # A log group's id is its name (terraform-provider-aws logs/group.go).
                    import_=group if group in kept else None,
                ),
            )
            for container, group in names.items()
        ]

    def _ecs_service(
        self,
        name: str,
        settings: Settings,
        service: ServiceSpec,
        args: EcsMeshServiceArgs,
        definition: aws.ecs.TaskDefinition,
        group: aws.ec2.SecurityGroup,
        tags: dict[str, str],
        depends_on: list[pulumi.Resource],
    ) -> aws.ecs.Service:
        """The ECS service that runs ``replicas`` tasks of ``definition``, registers them in
        Cloud Map and, for the entry service, in the load balancer's target group."""
        registries = self._registry(name, settings, service, args, tags)
        load_balancer = args.get("load_balancer")
        load_balancers: list[aws.ecs.ServiceLoadBalancerArgsDict] | None = None
        grace = None
        if load_balancer is not None:
            load_balancers = [
                {
                    "target_group_arn": load_balancer["target_group_arn"],
                    "container_name": ENVOY,
                    "container_port": INGRESS_PORT,
                }
            ]
            grace = LB_GRACE_SECONDS
        placement = service_placement(settings)
        ecs_service = aws.ecs.Service(
            f"{name}-service",
            # The service's own name, so `aws ecs` commands and Container Insights read naturally;
            # the cluster belongs to this mesh alone.
            name=service.name,
            cluster=args["cluster_arn"],
            task_definition=definition.arn,
            desired_count=service.replicas,
            capacity_provider_strategies=[
                {"capacity_provider": item["capacityProvider"], "weight": item["weight"]}
                for item in placement["capacityProviderStrategy"]
            ],
            # Without it the provider turns a changed strategy (fargateSpot switched) into a
            # replacement, delete-first with this fixed name (capacityProviderStrategyCustomizeDiff
            # in terraform-provider-aws internal/service/ecs/service.go). The price: every update
            # of the service, a replicas change too, is a rolling deployment of its tasks.
            force_new_deployment=True,
            network_configuration={
                "subnets": args["subnet_ids"],
                "assign_public_ip": False,
                "security_groups": [args["mesh_security_group_id"], group.id],
            },
            service_registries=registries,
            load_balancers=load_balancers,
            health_check_grace_period_seconds=grace,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            # ECS Exec for a game-day service only (docs/faults.md "On ECS"); a change rolls
            # the tasks (force_new_deployment), as ECS Exec reaches only tasks started with it.
            enable_execute_command=ecs_exec_enabled(service),
            propagate_tags="SERVICE",
            # `pulumi up` moves on only once the rollout is done: callers roll after their
            # upstreams, and the update's deletes (a removed upstream, old discovery services)
            # run when no old task needs them any more. A rollout the circuit breaker rolls back
            # fails the update instead of leaving a state that names the new revision.
            wait_for_steady_state=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        return ecs_service

    def _roles(
        self, name: str, settings: Settings, service: ServiceSpec, tags: dict[str, str]
    ) -> tuple[aws.iam.Role, aws.iam.Role, list[aws.iam.RolePolicy]]:
        """The task role (its CloudWatch agent's calls) and the execution role (image pulls,
        container logs), and their policies, which the ECS service must wait for."""
        child = pulumi.ResourceOptions(parent=self)
        invoked = pulumi.InvokeOutputOptions(parent=self)
        identity = pulumi.Output.all(
            aws.get_caller_identity_output(opts=invoked).account_id,
            aws.get_partition_output(opts=invoked).partition,
        )
        task_role = aws.iam.Role(
            f"{name}-task",
            assume_role_policy=identity.apply(
                lambda v: json.dumps(task_trust_policy(v[0], str(settings.region), v[1]))
            ),
            description=f"Task role of {settings.mesh_name}/{service.name}: its CloudWatch "
            "agent publishes the mesh's metrics",
            tags=tags,
            opts=child,
        )
        task_policy = aws.iam.RolePolicy(
            f"{name}-task",
            role=task_role.id,
            policy=json.dumps(task_role_policy(settings, service)),
            opts=child,
        )
        execution_role = aws.iam.Role(
            f"{name}-exec",
            assume_role_policy=json.dumps(execution_trust_policy()),
            description=f"Execution role of {settings.mesh_name}/{service.name}: image pulls "
            "and container logs",
            tags=tags,
            opts=child,
        )
        execution_policy = aws.iam.RolePolicy(
            f"{name}-exec",
            role=execution_role.id,
            policy=identity.apply(
                lambda v: json.dumps(execution_role_policy(settings, service, v[0], v[1]))
            ),
            opts=child,
        )

        return task_role, execution_role, [task_policy, execution_policy]

    def _task_definition(
        self,
        name: str,
        settings: Settings,
        service: ServiceSpec,
        task_role: aws.iam.Role,
        execution_role: aws.iam.Role,
        tags: dict[str, str],
    ) -> aws.ecs.TaskDefinition:
        """The service's task definition, registered from its pure document."""
        child = pulumi.ResourceOptions(parent=self)
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
            container_definitions=json.dumps(
                document["containerDefinitions"], separators=(",", ":")
            ),
            task_role_arn=task_role.arn,
            execution_role_arn=execution_role.arn,
            # Every change registers a new revision (all its arguments are ForceNew); the old
            # one stays registered, so running tasks, a circuit-breaker rollback and a failed
            # update can always start it again. Revisions cost nothing.
            skip_destroy=True,
            tags=tags,
            opts=child,
        )

        return definition

    def _firewall(
        self,
        name: str,
        settings: Settings,
        service: ServiceSpec,
        args: EcsMeshServiceArgs,
        tags: dict[str, str],
        alb_rule_aliases: Sequence[pulumi.Alias],
    ) -> tuple[aws.ec2.SecurityGroup, list[pulumi.Resource]]:
        """The service's own security group: Envoy's metrics port from the mesh, its ingress
        port from the mesh (and the load balancer) for services that accept requests; and its
        rules, which the ECS service waits for.

        With a load balancer, also the load balancer group's egress to this group's port 15000,
        named after this service: a new entry service gets a rule of its own, created before
        its tasks start, while the old entry's rule goes only at the end of the update (one
        rule updated in place would cut the old entry off minutes before the new one serves:
        referenced_security_group_id updates in place, hashicorp/terraform-provider-aws
        internal/service/ec2/vpc_security_group_ingress_rule.go @00a32209, only
        security_group_id is RequiresReplace)."""
        child = pulumi.ResourceOptions(parent=self)
        load_balancer = args.get("load_balancer")
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args["vpc_id"],
            description=f"{settings.mesh_name}/{service.name}: Envoy ingress and metrics only",
            tags={**tags, "Name": f"{name}-sg"},
            opts=child,
        )
        sources = [("metrics", METRICS_PORT, args["mesh_security_group_id"])]
        if not service.is_load:
            sources.append(("mesh", INGRESS_PORT, args["mesh_security_group_id"]))
        if load_balancer is not None:
            sources.append(("alb", INGRESS_PORT, load_balancer["security_group_id"]))
        rules: list[pulumi.Resource] = [
            tcp_port_rule(
                aws.vpc.SecurityGroupIngressRule,
                f"{name}-from-{label}",
                group.id,
                port,
                f"Envoy {port} from the {label}",
                child,
                peer_group_id=source,
            )
            for label, port, source in sources
        ]
        if load_balancer is not None:
            rules.append(
                tcp_port_rule(
                    aws.vpc.SecurityGroupEgressRule,
                    f"{name}-alb-to-envoy",
                    load_balancer["security_group_id"],
                    INGRESS_PORT,
                    f"Envoy ingress of {service.name}",
                    pulumi.ResourceOptions(parent=self, aliases=list(alb_rule_aliases)),
                    peer_group_id=group.id,
                )
            )

        return group, rules

    def _registry(
        self,
        name: str,
        settings: Settings,
        service: ServiceSpec,
        args: EcsMeshServiceArgs,
        tags: dict[str, str],
    ) -> aws.ecs.ServiceServiceRegistriesArgsDict | None:
        """The Cloud Map registry the ECS service registers its tasks in (None for a load
        generator); sets ``discovery_service_arn``."""
        registries: aws.ecs.ServiceServiceRegistriesArgsDict | None = None
        self.discovery_service_arn = None
        if not service.is_load:
            # A load generator accepts no requests (no service may name it as an upstream),
            # so only services with an ingress get a DNS name: one Cloud Map service per
            # namespace, each named after its namespace so that both steps of a namespace
            # change keep every resource's name (docs/day-2.md).
            namespaces = {settings.dns_namespace: args["namespace_id"]}
            if settings.previous_dns_namespace:
                namespaces[settings.previous_dns_namespace] = args["previous_namespace_id"]
            discovery = {
                namespace: self._discovery(name, service.name, namespace, namespace_id, tags)
                for namespace, namespace_id in namespaces.items()
            }
            # ECS allows one registry per service: the previous namespace while it is set
            # (callers' old and new bootstraps both resolve it), else the current one.
            # Switching it updates the service in place, and ECS starts tasks registered in
            # the new one before it stops the old (hashicorp/terraform-provider-aws
            # internal/service/ecs/service.go @8a0b630aa00be415497be382fed4294db03af6c3:
            # service_registries is not ForceNew; resourceServiceUpdate sends it to
            # UpdateService).
            registered = discovery[settings.registered_dns_namespace]
            registries = {"registry_arn": registered.arn}
            self.discovery_service_arn = registered.arn

        return registries

    def _discovery(
        self,
        name: str,
        service: str,
        namespace: str,
        namespace_id: pulumi.Input[str],
        tags: dict[str, str],
    ) -> aws.servicediscovery.Service:
        """The service's Cloud Map service in ``namespace``: ``<service>.<namespace>``."""
        return aws.servicediscovery.Service(
            f"{name}-discovery-{namespace}",
            name=service,
            # The pure document has the provider's shape; discovery.py may not import pulumi_aws
            # for its TypedDict (tests/unit/test_layers.py).
            dns_config=cast(
                aws.servicediscovery.ServiceDnsConfigArgsDict, dns_config(namespace_id)
            ),
            # ECS reports each task's health (Envoy's health check) to Cloud Map, so DNS
            # answers only with healthy tasks. Written out because the provider drops an
            # empty block: Create sends it only when it is non-empty, and Read stores it
            # only when AWS returns a FailureThreshold (hashicorp/terraform-provider-aws
            # internal/service/servicediscovery/service.go
            # @e33a89d079930e92c79a986c9c041c5ed5191639, resourceServiceCreate,
            # expand/flattenHealthCheckCustomConfig), which left the
            # service without custom health checks and the block a diff on every plan. AWS
            # deprecated the field and always uses 1 (ForceNew: never change it).
            health_check_custom_config={"failure_threshold": 1},
            # Deleting the service must not wait for ECS to deregister the last instances.
            force_destroy=True,
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # Only a replaced namespace (same name, new id) replaces it: the new service
                # is created in the new namespace next to the old one, which answers until
                # the update ends, instead of the provider's delete-first (explicit name).
                # Any other ForceNew change (routing policy, record type) would create a
                # second service of the same name in the same namespace, which Cloud Map
                # refuses: such an update stops before deleting anything. The program never
                # changes those.
                delete_before_replace=False,
                # ForceNew and fixed by AWS at 1; stacks created while the block was
                # dropped keep running without it rather than being replaced.
                ignore_changes=["healthCheckCustomConfig"],
            ),
        )
