"""Names that several documents must agree on (log groups, metric namespace)."""

from __future__ import annotations


def log_group_name(mesh: str, service: str, container: str) -> str:
    """CloudWatch Logs group of one container of a service (app, envoy or cloudwatch-agent).

    Fixed rather than auto-named so the Logs Insights query definitions, the stack outputs and
    the README can name them before anything is deployed.
    """
    return f"{log_group_prefix(mesh)}{service}/{container}"


def log_group_prefix(mesh: str) -> str:
    """Common prefix of every log group of the mesh (IAM policies are scoped to it)."""
    return f"/mesh-visibility/{mesh}/"


def metric_namespace(mesh: str) -> str:
    """CloudWatch namespace the agent publishes the mesh's Envoy metrics to."""
    return f"MeshVisibility/{mesh}"
