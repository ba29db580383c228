"""Where a user finds the mesh in the AWS console: the dashboard's name and the console
addresses of the dashboard and of the X-Ray trace map (stack outputs of an ``ecs`` stack)."""

from __future__ import annotations

from components.settings.model import Settings
from components.settings.naming import PROJECT


def dashboard_name(settings: Settings) -> str:
    """Name of the mesh's CloudWatch dashboard."""
    return f"{PROJECT}-{settings.mesh_name}"


def dashboard_url(region: str, name: str) -> str:
    """Console address of a CloudWatch dashboard."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={name}"
    )


def trace_map_url(region: str) -> str:
    """Console address of the X-Ray trace map (CloudWatch console, "X-Ray traces"), where the
    sidecars' spans show as a service graph; its "Traces" view lists single traces."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        "#xray:service-map/map"
    )
