"""The ECS health check of the Envoy sidecar, run against a real Envoy."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from components.ecs.containers import container_definitions, envoy_health_command
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.localize import SidecarPorts, localize
from meshvis.local.processes import ProcessGroup, free_ports, wait_http


def _bash_health_check(admin_port: int) -> int:
    command = envoy_health_command(admin_port)
    assert command[:2] == ["CMD", "bash"]
    return subprocess.run(command[1:], capture_output=True, timeout=10).returncode


@pytest.mark.integration
def test_health_check_passes_only_while_real_envoy_is_ready(tmp_path, envoy_binary):
    settings = stack_settings("dev")
    greeter = settings.service("greeter")
    admin, metrics, ingress, greeting, name, app = free_ports(6)
    local = localize(envoy_bootstrap(settings, greeter),
                     SidecarPorts(admin=admin, metrics=metrics, ingress=ingress,
                                  egress={"greeting": greeting, "name": name}),
                     app_port=app, upstream_endpoints={"greeting": [app], "name": [app]},
                     statsd_port=None)
    command = next(c for c in container_definitions(settings, greeter)
                   if c["name"] == "envoy")["command"]
    command[command.index("--config-yaml") + 1] = json.dumps(local)
    # Nothing listens yet: the check must fail rather than hang or pass.
    assert _bash_health_check(admin) != 0
    with ProcessGroup() as group:
        group.start("greeter-envoy", [str(envoy_binary), *command[1:]], tmp_path / "envoy.log")
        wait_http(f"http://127.0.0.1:{admin}/ready", group)
        assert _bash_health_check(admin) == 0
        # Failing health checks puts Envoy in its draining state: /ready answers 503.
        fail = urllib.request.Request(f"http://127.0.0.1:{admin}/healthcheck/fail",
                                      method="POST")
        urllib.request.urlopen(fail, timeout=5).close()
        assert _bash_health_check(admin) != 0
