"""Names that several documents must agree on (the project, log groups, metric namespace,
cluster)."""

from __future__ import annotations

# The Pulumi project's `name` (Pulumi.yaml): the namespace of its config keys, and the prefix
# of the names, tags and labels its resources and documents carry.
PROJECT = "mesh-visibility"


def log_group_name(mesh: str, service: str, container: str) -> str:
    """CloudWatch Logs group of one container of a service (app, envoy or cloudwatch-agent).

    Fixed rather than auto-named so the Logs Insights query definitions, the stack outputs and
    the README can name them before anything is deployed.
    """
    return f"{log_group_prefix(mesh)}{service}/{container}"


def log_group_prefix(mesh: str) -> str:
    """Common prefix of every log group of the mesh."""
    return f"/{PROJECT}/{mesh}/"


def metric_namespace(mesh: str) -> str:
    """CloudWatch namespace the agent publishes the mesh's Envoy metrics to."""
    return f"MeshVisibility/{mesh}"


def cluster_name(mesh: str) -> str:
    """Name of the mesh's ECS cluster.

    Fixed, like the log groups, so the Container Insights log group can be created (and
    destroyed) by the program under the name ECS writes to, before the cluster exists.
    """
    return f"{PROJECT}-{mesh}"


def container_insights_log_group(cluster: str) -> str:
    """The log group ECS Container Insights sends a cluster's performance events to
    ("Container Insights performance log events for Amazon ECS", Amazon CloudWatch User
    Guide: ``/aws/ecs/containerinsights/{CLUSTER_NAME}/performance``)."""
    return f"/aws/ecs/containerinsights/{cluster}/performance"
