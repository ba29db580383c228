"""The EKS sidecar's preStop drain, run against a real Envoy started with the pod's own
arguments: the hook's request reaches the admin port, every response then tells its caller to
close the connection, and the listeners keep serving past the drain time (the kubelet runs the
hook when the pod is deleted, while the app still serves; only SIGTERM, after the app has
exited, stops the sidecar)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from contextlib import closing

import pytest

from components.eks.objects import (
    ENVOY_CONFIG_DIR,
    ENVOY_CONFIG_KEY,
    ENVOY_DRAIN_SECONDS,
    deployment,
)
from components.settings.ports import ADMIN_PORT, INGRESS_PORT
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.localize import localize
from meshvis.local.plan import DNS_PORT, block_address, claim_block
from meshvis.local.processes import ProcessGroup, wait_http


def _get(address: str, port: int) -> bytes:
    with socket.create_connection((address, port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: nginx\r\n\r\n")
        return conn.recv(4096)


@pytest.mark.integration
def test_prestop_drains_the_sidecar(tmp_path, envoy_binary):
    settings = stack_settings("dev-eks")
    nginx = settings.service("nginx")
    pod = deployment(settings, nginx, "")["spec"]["template"]["spec"]
    [sidecar] = pod["initContainers"]
    block, lock = claim_block()
    address = block_address(block, 1)
    config = tmp_path / ENVOY_CONFIG_KEY
    config.write_text(
        json.dumps(
            localize(envoy_bootstrap(settings, nginx), address, (block_address(block, 0), DNS_PORT))
        )
    )
    args = [
        a.replace(f"{ENVOY_CONFIG_DIR}/{ENVOY_CONFIG_KEY}", str(config)) for a in sidecar["args"]
    ]
    hook = sidecar["lifecycle"]["preStop"]["exec"]["command"]
    # The pod's loopback becomes the replica's, as localizing does to the bootstrap.
    script = hook[-1].replace(f"/127.0.0.1/{ADMIN_PORT}", f"/{address}/{ADMIN_PORT}")
    with closing(lock), ProcessGroup() as group:
        group.start("nginx-envoy", [str(envoy_binary), *args], tmp_path / "envoy.log")
        wait_http(f"http://{address}:{ADMIN_PORT}/ready", group)
        assert b"connection: close" not in _get(address, INGRESS_PORT).lower()
        hook_run = subprocess.run([*hook[:-1], script], timeout=10)
        assert hook_run.returncode == 0
        # Draining: callers are told to close and reconnect to another pod...
        assert b"connection: close" in _get(address, INGRESS_PORT).lower()
        # ...and past the drain time the listeners still serve: the app's egress calls and
        # callers that still resolve this pod are answered until SIGTERM.
        time.sleep(ENVOY_DRAIN_SECONDS + 1)
        answer = _get(address, INGRESS_PORT).lower()
        assert answer.startswith(b"http/1.1 ") and b"connection: close" in answer
