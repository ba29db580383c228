"""The ECS health check of the Envoy sidecar, run against a real Envoy."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from contextlib import closing

import pytest

from components.ecs.containers import container_definitions, envoy_health_command
from components.settings.ports import ADMIN_PORT
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.localize import localize
from meshvis.local.plan import DNS_PORT, block_address, claim_block
from meshvis.local.processes import ProcessGroup, wait_http


def _bash_health_check(address: str) -> int:
    """The deployed health command, run for a replica at ``address`` (the task's loopback in
    the command becomes the replica's, as localizing does to the bootstrap)."""
    command = envoy_health_command()
    assert command[:2] == ["CMD", "bash"]
    script = command[-1].replace("/127.0.0.1/", f"/{address}/")
    return subprocess.run([*command[1:-1], script], capture_output=True, timeout=10).returncode


@pytest.mark.integration
def test_health_check_passes_only_while_real_envoy_is_ready(tmp_path, envoy_binary):
    settings = stack_settings("dev")
    greeter = settings.service("greeter")
    block, lock = claim_block()
    address = block_address(block, 1)
    local = localize(
        envoy_bootstrap(settings, greeter), address, (block_address(block, 0), DNS_PORT)
    )
    command = next(c for c in container_definitions(settings, greeter) if c["name"] == "envoy")[
        "command"
    ]
    command[command.index("--config-yaml") + 1] = json.dumps(local)
    admin = f"http://{address}:{ADMIN_PORT}"
    # Nothing listens yet: the check must fail rather than hang or pass.
    assert _bash_health_check(address) != 0
    with closing(lock), ProcessGroup() as group:
        group.start("greeter-envoy", [str(envoy_binary), *command[1:]], tmp_path / "envoy.log")
        wait_http(f"{admin}/ready", group)
        assert _bash_health_check(address) == 0
        # Failing health checks puts Envoy in its draining state: /ready answers 503.
        fail = urllib.request.Request(f"{admin}/healthcheck/fail", method="POST")
        urllib.request.urlopen(fail, timeout=5).close()
        assert _bash_health_check(address) != 0
