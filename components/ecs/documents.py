"""What an ``ecs`` stack deploys, written once: every document, per service and shared, as
plain data that the components register and ``meshvis render`` writes.

A ``Document`` is one resource's input arguments (the Python SDK's keyword names, as the
components pass them) under a ``kind`` (which resource class registers it) and a logical
``name`` (the suffix of its resource name). Values that exist only once something is deployed
(ARNs, IDs, ARN suffixes) come in through one references object: the components pass stand-ins
they swap for the real Outputs (components/ecs/registry.py), ``meshvis render`` passes
documented placeholders (``example_*`` below). Wiring that is no document content (parent,
dependencies, aliases, imports) stays in the components.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from components.settings.model import ServiceSpec, Settings
from components.settings.naming import (
    PROJECT,
    cluster_name,
)

EXAMPLE_ACCOUNT = "111122223333"


@dataclass(frozen=True)
class Document:
    """One resource of the stack: its kind, the suffix of its resource name, its arguments."""

    kind: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ServiceReferences:
    """What one service's documents name that exists only once deployed."""

    account_id: Any
    partition: Any
    vpc_id: Any
    cluster_arn: Any
    subnet_ids: Any
    mesh_security_group_id: Any
    security_group_id: Any
    task_role_id: Any
    task_role_arn: Any
    execution_role_id: Any
    execution_role_arn: Any
    task_definition_arn: Any
    namespace_id: Any
    # Set only with ``previousDnsNamespace``.
    previous_namespace_id: Any
    # The Cloud Map service the tasks register in (unused by a `load` service).
    registry_arn: Any
    # The load balancer's target group and security group (used by the entry service only).
    target_group_arn: Any
    load_balancer_security_group_id: Any


@dataclass(frozen=True)
class MeshReferences:
    """What the shared documents name that exists only once deployed."""

    vpc_id: Any
    public_subnet_ids: Any
    cluster_name: Any
    mesh_security_group_id: Any
    load_balancer_security_group_id: Any
    load_balancer_arn: Any
    load_balancer_arn_suffix: Any
    target_group_arn: Any
    target_group_arn_suffix: Any
    topic_arn: Any


def mesh_tags(settings: Settings) -> dict[str, str]:
    """The tags every resource of the mesh carries."""
    return {f"{PROJECT}:mesh": settings.mesh_name}


def port_rule(
    kind: str,
    name: str,
    group_id: Any,
    port: int,
    description: str,
    *,
    peer_group_id: Any = None,
    cidr: str | None = None,
) -> Document:
    """An ``ingress-rule`` or ``egress-rule`` (``kind``) of ``group_id`` for TCP ``port``, to or
    from one peer: another security group or a CIDR block (exactly one)."""
    if (peer_group_id is None) == (cidr is None):
        raise ValueError("give exactly one of peer_group_id and cidr")
    peer = {"referenced_security_group_id": peer_group_id} if cidr is None else {"cidr_ipv4": cidr}
    return Document(
        kind,
        name,
        {
            "security_group_id": group_id,
            **peer,
            "ip_protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "description": description,
        },
    )


def security_group(
    name: str, description: str, vpc_id: Any, tags: dict[str, str], prefix: str
) -> Document:
    """A security group, its ``Name`` tag its resource's name."""
    args = {
        "vpc_id": vpc_id,
        "description": description,
        "tags": {**tags, "Name": f"{prefix}-{name}"},
    }
    return Document("security-group", name, args)


def log_group(name: str, group: str, settings: Settings, tags: dict[str, str]) -> Document:
    """A log group named ``group`` that keeps its logs ``logRetentionDays``."""
    args = {"name": group, "retention_in_days": settings.log_retention_days, "tags": tags}
    return Document("log-group", name, args)


def service_component_name(topology: str, service: str) -> str:
    """The name of ``service``'s component in a topology named ``topology`` (the prefix of
    its resources' names)."""
    return f"{topology}-{service}"


def example_service_references(settings: Settings, service: ServiceSpec) -> ServiceReferences:
    """The placeholders ``meshvis render`` writes for one service's references: the real ones
    exist once deployed."""
    shared = example_mesh_references(settings)
    region, name = settings.region or "us-east-1", f"{settings.mesh_name}-{service.name}"
    ecs = f"arn:aws:ecs:{region}:{EXAMPLE_ACCOUNT}"
    return ServiceReferences(
        account_id=EXAMPLE_ACCOUNT,
        partition="aws",
        vpc_id=shared.vpc_id,
        cluster_arn=f"{ecs}:cluster/{shared.cluster_name}",
        subnet_ids=["subnet-EXAMPLEPRIVATE1", "subnet-EXAMPLEPRIVATE2"],
        mesh_security_group_id=shared.mesh_security_group_id,
        security_group_id=f"sg-EXAMPLE-{service.name}",
        task_role_id=f"{name}-task",
        task_role_arn=f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{name}-task",
        execution_role_id=f"{name}-exec",
        execution_role_arn=f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{name}-exec",
        task_definition_arn=f"{ecs}:task-definition/{name}:1",
        namespace_id="ns-EXAMPLE",
        previous_namespace_id="ns-EXAMPLEPREVIOUS",
        registry_arn=(
            f"arn:aws:servicediscovery:{region}:{EXAMPLE_ACCOUNT}:service/srv-EXAMPLE-{service.name}"
        ),
        target_group_arn=shared.target_group_arn,
        load_balancer_security_group_id=shared.load_balancer_security_group_id,
    )


def example_mesh_references(settings: Settings) -> MeshReferences:
    """The placeholders ``meshvis render`` writes for the shared documents' references
    (111122223333 is the account AWS's documentation uses in examples)."""
    region, mesh = settings.region or "us-east-1", settings.mesh_name
    elb = f"arn:aws:elasticloadbalancing:{region}:{EXAMPLE_ACCOUNT}"
    return MeshReferences(
        vpc_id="vpc-EXAMPLE",
        public_subnet_ids=["subnet-EXAMPLEPUBLIC1", "subnet-EXAMPLEPUBLIC2"],
        cluster_name=cluster_name(mesh),
        mesh_security_group_id="sg-EXAMPLEMESH",
        load_balancer_security_group_id="sg-EXAMPLEALB",
        load_balancer_arn=f"{elb}:loadbalancer/app/{mesh}-alb/EXAMPLE",
        load_balancer_arn_suffix=f"app/{mesh}-alb/EXAMPLE",
        target_group_arn=f"{elb}:targetgroup/{mesh}-tg/EXAMPLE",
        target_group_arn_suffix=f"targetgroup/{mesh}-tg/EXAMPLE",
        topic_arn=f"arn:aws:sns:{region}:{EXAMPLE_ACCOUNT}:{mesh}-alerts",
    )


def reference_names(references: type[ServiceReferences] | type[MeshReferences]) -> list[str]:
    """The field names of a references type (what a component must supply)."""
    return [field.name for field in fields(references)]
