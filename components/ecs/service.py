"""One service of the mesh on ECS Fargate: task, sidecars, discovery, roles and firewall.

``EcsMeshService`` takes arguments of its own (``EcsMeshServiceArgs``), so any program can add
a mesh service to its own cluster and Cloud Map namespace, and the component package
(``provider/``) hosts it for every language. No ``from __future__ import annotations``: Pulumi's
schema inference reads the annotations of the arguments and outputs as objects.
"""

from collections.abc import Sequence
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws

from components.ecs.checks import check_task_definition_sizes
from components.ecs.documents import Document, ServiceReferences
from components.ecs.registry import register, stand_ins
from components.ecs.service_documents import service_documents
from components.outputs import declared_outputs
from components.settings.model import ServiceSpec, Settings
from components.settings.naming import log_group_name
from components.settings.ports import INGRESS_PORT
from components.settings.service_args import (
    ArgumentError,
    MeshArgs,
    ServiceArgs,
    component_settings,
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
    address: str | None
    """Where the mesh reaches it: `<name>.<namespace it is registered in>:15000` (none for
    `load`)."""
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
        documents = {
            (d.kind, d.name): d
            for d in service_documents(
                settings, service, stand_ins(ServiceReferences), args.get("tags", {}), name
            )
        }

        child = pulumi.ResourceOptions(parent=self)
        invoked = pulumi.InvokeOutputOptions(parent=self)

        def of_kind(kind: str) -> list[Document]:
            return [d for (k, _), d in documents.items() if k == kind]

        def registered(kind: str, suffix: str, opts: pulumi.ResourceOptions | None = None) -> Any:
            # The references known so far: each resource's own ids are added once it exists.
            return register(documents[kind, suffix], name, references, opts or child)

        load_balancer = args.get("load_balancer")
        references: dict[str, Any] = {
            "account_id": aws.get_caller_identity_output(opts=invoked).account_id,
            "partition": aws.get_partition_output(opts=invoked).partition,
            "vpc_id": args["vpc_id"],
            "cluster_arn": args["cluster_arn"],
            "subnet_ids": args["subnet_ids"],
            "mesh_security_group_id": args["mesh_security_group_id"],
            "namespace_id": args["namespace_id"],
            "previous_namespace_id": args.get("previous_namespace_id"),
            "target_group_arn": load_balancer["target_group_arn"] if load_balancer else None,
            "load_balancer_security_group_id": (
                load_balancer["security_group_id"] if load_balancer else None
            ),
        }

        self.log_groups = self._log_groups(name, settings, service, of_kind("log-group"))
        self.log_group_names = [d.args["name"] for d in of_kind("log-group")]
        task_role = registered("role", "task")
        references["task_role_id"] = task_role.id
        policies = [registered("role-policy", "task")]
        execution_role = registered("role", "exec")
        references["execution_role_id"] = execution_role.id
        policies.append(registered("role-policy", "exec"))
        references |= {"task_role_arn": task_role.arn, "execution_role_arn": execution_role.arn}
        definition = registered("task-definition", "task")
        group = registered("security-group", "sg")
        references["security_group_id"] = group.id
        rules = [registered("ingress-rule", d.name) for d in of_kind("ingress-rule")]
        # The load balancer's egress rule to this service, under its earlier URNs too.
        aliased = pulumi.ResourceOptions(parent=self, aliases=list(alb_rule_aliases))
        rules += [registered("egress-rule", d.name, aliased) for d in of_kind("egress-rule")]
        self.discovery_service_arn = self._registry(
            name, settings, of_kind("discovery-service"), references
        )
        self.ecs_service = register(
            documents["ecs-service", "service"],
            name,
            {
                **references,
                "task_definition_arn": definition.arn,
                "registry_arn": self.discovery_service_arn,
            },
            pulumi.ResourceOptions(
                parent=self, depends_on=[*self.log_groups, *policies, *rules, *rollout_after]
            ),
        )
        self.service_name = self.ecs_service.name
        self.service_arn = self.ecs_service.arn
        self.address = (
            None
            if service.is_load
            else f"{service.name}.{settings.registered_dns_namespace}:{INGRESS_PORT}"
        )
        self.task_definition_arn = definition.arn
        self.security_group_id = group.id
        self.task_role_arn = task_role.arn
        self.execution_role_arn = execution_role.arn
        self.register_outputs(declared_outputs(self))

    def _log_groups(
        self, name: str, settings: Settings, service: ServiceSpec, documents: list[Document]
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
        keep = settings.log_groups_on_delete == "keep"
        found = aws.cloudwatch.get_log_groups(
            log_group_name_prefix=log_group_name(settings.mesh_name, service.name, ""),
            opts=pulumi.InvokeOptions(parent=self),
        )
        kept = set(found.log_group_names or ())
        return [
            register(
                document,
                name,
                {},
                pulumi.ResourceOptions(
                    parent=self,
                    retain_on_delete=keep,
                    # A log group's id is its name (terraform-provider-aws logs/group.go).
                    import_=document.args["name"] if document.args["name"] in kept else None,
                ),
            )
            for document in documents
        ]

    def _registry(
        self,
        name: str,
        settings: Settings,
        documents: list[Document],
        references: dict[str, Any],
    ) -> pulumi.Output[str] | None:
        """The service's Cloud Map services, one per namespace (none for a load generator);
        returns the ARN of the one its tasks register in.

        ECS allows one registry per service: the previous namespace while it is set (callers'
        old and new bootstraps both resolve it), else the current one. Switching it updates
        the service in place, and ECS starts tasks registered in the new one before it stops
        the old (hashicorp/terraform-provider-aws internal/service/ecs/service.go
        @8a0b630aa00be415497be382fed4294db03af6c3: service_registries is not ForceNew;
        resourceServiceUpdate sends it to UpdateService).
        """
        discovery = {
            document.name: register(
                document,
                name,
                references,
                pulumi.ResourceOptions(
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
            for document in documents
        }
        registered = discovery.get(f"discovery-{settings.registered_dns_namespace}")
        return None if registered is None else registered.arn
