"""The built-in demo app as every topology ships it: its one source file and the environment
contract it reads (documented in demoapp/app.py)."""

from __future__ import annotations

from pathlib import Path

from components.settings.model import ServiceSpec

DEMO_APP = Path(__file__).resolve().parents[2] / "demoapp" / "app.py"


def demo_app_source() -> str:
    """The demo app (one stdlib-only Python file) that services without an image run."""
    return DEMO_APP.read_text()


# The demo app's own health endpoint (demoapp/app.py): its "/" would call the upstreams, and
# one slow upstream would then take every caller out of DNS.
DEMO_APP_HEALTH_PATH = "/health"


def app_health_path(service: ServiceSpec) -> str:
    """The path on the app's own port that tells whether the app serves: the demo app's
    ``/health``, else the service's ``healthPath``."""
    return DEMO_APP_HEALTH_PATH if service.uses_demo_app else service.health_path


def demo_app_environment(service: ServiceSpec, host: str) -> dict[str, str]:
    """The demo app's environment for ``service``, listening on ``host``.

    The service's own ``env`` comes first so it cannot move the app off the port and
    upstream addresses its sidecar was configured with.
    """
    env = {"SERVICE_NAME": service.name, "KIND": service.kind, "HOST": host}
    if service.is_load:
        env["RATE"] = f"{service.request_rate:g}"
    else:
        env["PORT"] = str(service.app_port)
    if service.upstreams:
        env["UPSTREAMS"] = ",".join(
            f"{u}=http://127.0.0.1:{service.egress_port(u)}" for u in service.upstreams
        )
    return {**service.env, **env}
