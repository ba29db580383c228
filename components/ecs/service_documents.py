"""One ``ecs`` service's documents (components/ecs/documents.py says what a document is): its
log groups, roles, firewall, Cloud Map registration, task definition and ECS service."""

from __future__ import annotations

import json
from typing import Any

from components.ecs.containers import (
    CONTAINERS,
    ENVOY,
    ecs_exec_enabled,
    service_placement,
    task_definition,
)
from components.ecs.discovery import dns_config
from components.ecs.documents import (
    Document,
    ServiceReferences,
    log_group,
    port_rule,
    security_group,
)
from components.ecs.iam import (
    execution_role_policy,
    execution_trust_policy,
    task_role_policy,
    task_trust_policy,
)
from components.settings.model import ServiceSpec, Settings
from components.settings.naming import (
    log_group_name,
)
from components.settings.ports import INGRESS_PORT, METRICS_PORT

# Time the load balancer's first health checks get before ECS counts a new task as failed:
# the app starts only after Envoy is healthy (about 10 s), then answers through it.
LB_GRACE_SECONDS = 60


def service_documents(
    settings: Settings,
    service: ServiceSpec,
    refs: ServiceReferences,
    tags: dict[str, str],
    prefix: str,
) -> list[Document]:
    """Every document of ``service``, in the order they are registered: its log groups, roles,
    task definition, firewall, Cloud Map services and ECS service. ``tags`` are the caller's;
    each resource also gets ``service: <name>``. ``prefix`` is the component's name, which its
    resources' names and ``Name`` tags start with."""
    tags = {**tags, "service": service.name}
    documents = [
        log_group(f"{container}-logs", group, settings, tags)
        for container, group in log_groups(settings, service).items()
    ]
    documents += _roles(settings, service, refs, tags)
    documents.append(_task_definition(settings, service, refs, tags))
    documents += _firewall(settings, service, refs, tags, prefix)
    documents += [
        Document(
            "discovery-service",
            f"discovery-{namespace}",
            {
                "name": service.name,
                "dns_config": dns_config(namespace_id),
                # ECS reports each task's health (Envoy's health check) to Cloud Map, so DNS
                # answers only with healthy tasks. Written out because the provider drops an
                # empty block: Create sends it only when it is non-empty, and Read stores it
                # only when AWS returns a FailureThreshold (hashicorp/terraform-provider-aws
                # internal/service/servicediscovery/service.go
                # @e33a89d079930e92c79a986c9c041c5ed5191639, resourceServiceCreate,
                # expand/flattenHealthCheckCustomConfig), which left the service without
                # custom health checks and the block a diff on every plan. AWS deprecated the
                # field and always uses 1 (ForceNew: never change it).
                "health_check_custom_config": {"failure_threshold": 1},
                # Deleting the service must not wait for ECS to deregister the last instances.
                "force_destroy": True,
                "tags": tags,
            },
        )
        for namespace, namespace_id in _namespaces(settings, service, refs).items()
    ]
    documents.append(_ecs_service(settings, service, refs, tags))
    return documents


def _roles(
    settings: Settings, service: ServiceSpec, refs: ServiceReferences, tags: dict[str, str]
) -> list[Document]:
    """The task role (its CloudWatch agent's calls) and the execution role (image pulls,
    container logs), each with its policy."""
    where = f"{settings.mesh_name}/{service.name}"
    trust = task_trust_policy(refs.account_id, str(settings.region), refs.partition)
    execution = execution_role_policy(settings, service, refs.account_id, refs.partition)
    return [
        Document(
            "role",
            "task",
            {
                "assume_role_policy": json.dumps(trust),
                "description": f"Task role of {where}: its CloudWatch agent publishes the "
                "mesh's metrics",
                "tags": tags,
            },
        ),
        Document(
            "role-policy",
            "task",
            {"role": refs.task_role_id, "policy": json.dumps(task_role_policy(settings, service))},
        ),
        Document(
            "role",
            "exec",
            {
                "assume_role_policy": json.dumps(execution_trust_policy()),
                "description": f"Execution role of {where}: image pulls and container logs",
                "tags": tags,
            },
        ),
        Document(
            "role-policy", "exec", {"role": refs.execution_role_id, "policy": json.dumps(execution)}
        ),
    ]


def _firewall(
    settings: Settings,
    service: ServiceSpec,
    refs: ServiceReferences,
    tags: dict[str, str],
    prefix: str,
) -> list[Document]:
    """The service's own security group: Envoy's metrics port from the mesh, its ingress port
    from the mesh (and the load balancer) for services that accept requests; for the entry
    service also the load balancer group's egress to this group's port 15000, named after this
    service: a new entry service gets a rule of its own, created before its tasks start, while
    the old entry's rule goes only at the end of the update (one rule updated in place would
    cut the old entry off minutes before the new one serves: referenced_security_group_id
    updates in place, hashicorp/terraform-provider-aws
    internal/service/ec2/vpc_security_group_ingress_rule.go @00a32209, only security_group_id
    is RequiresReplace)."""
    group = security_group(
        "sg",
        f"{settings.mesh_name}/{service.name}: Envoy ingress and metrics only",
        refs.vpc_id,
        tags,
        prefix,
    )
    sources = [("metrics", METRICS_PORT, refs.mesh_security_group_id)]
    if not service.is_load:
        sources.append(("mesh", INGRESS_PORT, refs.mesh_security_group_id))
    entry = service.name == settings.entry_service
    if entry:
        sources.append(("alb", INGRESS_PORT, refs.load_balancer_security_group_id))
    rules = [
        port_rule(
            "ingress-rule",
            f"from-{label}",
            refs.security_group_id,
            port,
            f"Envoy {port} from the {label}",
            peer_group_id=source,
        )
        for label, port, source in sources
    ]
    if entry:
        rules.append(
            port_rule(
                "egress-rule",
                "alb-to-envoy",
                refs.load_balancer_security_group_id,
                INGRESS_PORT,
                f"Envoy ingress of {service.name}",
                peer_group_id=refs.security_group_id,
            )
        )
    return [group, *rules]


def log_groups(settings: Settings, service: ServiceSpec) -> dict[str, str]:
    """The log group of each container of ``service``: container -> group name."""
    return {c: log_group_name(settings.mesh_name, service.name, c) for c in CONTAINERS}


def _namespaces(settings: Settings, service: ServiceSpec, refs: ServiceReferences) -> dict:
    """The namespaces ``service`` gets a Cloud Map service in: namespace -> its id.

    A load generator accepts no requests (no service may name it as an upstream), so only
    services with an ingress get a DNS name: one Cloud Map service per namespace, each named
    after its namespace so that both steps of a namespace change keep every resource's name
    (docs/day-2.md)."""
    if service.is_load:
        return {}
    namespaces = {settings.dns_namespace: refs.namespace_id}
    if settings.previous_dns_namespace:
        namespaces[settings.previous_dns_namespace] = refs.previous_namespace_id
    return namespaces


def _task_definition(
    settings: Settings, service: ServiceSpec, refs: ServiceReferences, tags: dict[str, str]
) -> Document:
    """The service's task definition, from its ``RegisterTaskDefinition`` request."""
    request = task_definition(settings, service)
    return Document(
        "task-definition",
        "task",
        {
            "family": request["family"],
            "network_mode": request["networkMode"],
            "requires_compatibilities": request["requiresCompatibilities"],
            "cpu": request["cpu"],
            "memory": request["memory"],
            "runtime_platform": {
                "operating_system_family": request["runtimePlatform"]["operatingSystemFamily"],
                "cpu_architecture": request["runtimePlatform"]["cpuArchitecture"],
            },
            "container_definitions": json.dumps(
                request["containerDefinitions"], separators=(",", ":")
            ),
            "task_role_arn": refs.task_role_arn,
            "execution_role_arn": refs.execution_role_arn,
            # Every change registers a new revision (all its arguments are ForceNew); the old
            # one stays registered, so running tasks, a circuit-breaker rollback and a failed
            # update can always start it again. Revisions cost nothing.
            "skip_destroy": True,
            "tags": tags,
        },
    )


def _ecs_service(
    settings: Settings, service: ServiceSpec, refs: ServiceReferences, tags: dict[str, str]
) -> Document:
    """The ECS service that runs ``replicas`` tasks of the task definition, registers them in
    Cloud Map and, for the entry service, in the load balancer's target group."""
    args: dict[str, Any] = {
        # The service's own name, so `aws ecs` commands and Container Insights read naturally;
        # the cluster belongs to this mesh alone.
        "name": service.name,
        "cluster": refs.cluster_arn,
        "task_definition": refs.task_definition_arn,
        "desired_count": service.replicas,
        "capacity_provider_strategies": [
            {"capacity_provider": item["capacityProvider"], "weight": item["weight"]}
            for item in service_placement(settings)["capacityProviderStrategy"]
        ],
        # Without it the provider turns a changed strategy (fargateSpot switched) into a
        # replacement, delete-first with this fixed name (capacityProviderStrategyCustomizeDiff
        # in terraform-provider-aws internal/service/ecs/service.go). The price: every update
        # of the service, a replicas change too, is a rolling deployment of its tasks.
        "force_new_deployment": True,
        "network_configuration": {
            "subnets": refs.subnet_ids,
            "assign_public_ip": False,
            "security_groups": [refs.mesh_security_group_id, refs.security_group_id],
        },
    }
    if not service.is_load:
        args["service_registries"] = {"registry_arn": refs.registry_arn}
    if service.name == settings.entry_service:
        args["load_balancers"] = [
            {
                "target_group_arn": refs.target_group_arn,
                "container_name": ENVOY,
                "container_port": INGRESS_PORT,
            }
        ]
        args["health_check_grace_period_seconds"] = LB_GRACE_SECONDS
    args |= {
        "deployment_circuit_breaker": {"enable": True, "rollback": True},
        # ECS Exec for a game-day service only (docs/faults.md "On ECS"); a change rolls the
        # tasks (force_new_deployment), as ECS Exec reaches only tasks started with it.
        "enable_execute_command": ecs_exec_enabled(service),
        "propagate_tags": "SERVICE",
        # `pulumi up` moves on only once the rollout is done: callers roll after their
        # upstreams, and the update's deletes (a removed upstream, old discovery services) run
        # when no old task needs them any more. A rollout the circuit breaker rolls back fails
        # the update instead of leaving a state that names the new revision.
        "wait_for_steady_state": True,
        "tags": tags,
    }
    return Document("ecs-service", "service", args)
