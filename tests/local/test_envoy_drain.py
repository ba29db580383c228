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
from contextlib import closing, contextmanager

import pytest

from components.eks.objects import (
    DRAIN_PATH,
    ENVOY_CONFIG_DIR,
    ENVOY_CONFIG_KEY,
    ENVOY_DRAIN_SECONDS,
    deployment,
)
from components.settings.ports import ADMIN_PORT, INGRESS_PORT
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.command import admin_command_script
from components.stack import stack_settings
from meshvis.local.localize import localize
from meshvis.local.plan import DNS_PORT, block_address, claim_block
from meshvis.local.processes import ProcessGroup, wait_http


def _get(address: str, port: int) -> bytes:
    with socket.create_connection((address, port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: nginx\r\n\r\n")
        return conn.recv(4096)


@contextmanager
def _pod_sidecar(tmp_path, envoy_binary, runtime: dict | None = None):
    """A real Envoy started with the dev-eks nginx pod's own sidecar arguments (and ``runtime``
    as a last static runtime layer); yields its address and the preStop hook's command with
    the pod's loopback made the replica's."""
    settings = stack_settings("dev-eks")
    nginx = settings.service("nginx")
    pod = deployment(settings, nginx, "")["spec"]["template"]["spec"]
    [sidecar] = pod["initContainers"]
    block, lock = claim_block()
    address = block_address(block, 1)
    bootstrap = localize(
        envoy_bootstrap(settings, nginx), address, (block_address(block, 0), DNS_PORT)
    )
    if runtime:
        layers = bootstrap.setdefault("layered_runtime", {}).setdefault("layers", [])
        layers.append({"name": "test", "static_layer": runtime})
    config = tmp_path / ENVOY_CONFIG_KEY
    config.write_text(json.dumps(bootstrap))
    args = [
        a.replace(f"{ENVOY_CONFIG_DIR}/{ENVOY_CONFIG_KEY}", str(config)) for a in sidecar["args"]
    ]
    hook = sidecar["lifecycle"]["preStop"]["exec"]["command"]
    # The pod's loopback becomes the replica's, as localizing does to the bootstrap.
    local_hook = [*hook[:-1], _on(hook[-1], address)]
    with closing(lock), ProcessGroup() as group:
        group.start("nginx-envoy", [str(envoy_binary), *args], tmp_path / "envoy.log")
        wait_http(f"http://{address}:{ADMIN_PORT}/ready", group)
        yield address, local_hook


def _on(script: str, address: str) -> str:
    return script.replace(f"/127.0.0.1/{ADMIN_PORT}", f"/{address}/{ADMIN_PORT}")


@pytest.mark.integration
def test_prestop_drains_the_sidecar(tmp_path, envoy_binary):
    with _pod_sidecar(tmp_path, envoy_binary) as (address, hook):
        assert b"connection: close" not in _get(address, INGRESS_PORT).lower()
        hook_run = subprocess.run(hook, timeout=10)
        assert hook_run.returncode == 0
        # Draining: callers are told to close and reconnect to another pod...
        assert b"connection: close" in _get(address, INGRESS_PORT).lower()
        # ...and past the drain time the listeners still serve: the app's egress calls and
        # callers that still resolve this pod are answered until SIGTERM.
        time.sleep(ENVOY_DRAIN_SECONDS + 1)
        answer = _get(address, INGRESS_PORT).lower()
        assert answer.startswith(b"http/1.1 ") and b"connection: close" in answer


# Envoy accepts `skip_exit` without `graceful` only while this reloadable runtime guard is on
# (source/server/admin/listeners_handler.cc); with it off, as in Envoy releases before it and
# in any that flips or removes it, the query is a 400.
GUARD = "envoy.reloadable_features.non_graceful_drain_notifies_connections"
OLD_DRAIN_PATH = "/drain_listeners?skip_exit"


@pytest.mark.integration
def test_the_hook_needs_no_runtime_guard_and_fails_visibly_when_refused(tmp_path, envoy_binary):
    """The exact hook succeeds with the guard off; the previous query is refused by the real
    admin, and the hook's script then exits non-zero and says why (the kubelet's
    FailedPreStopHook event shows it) instead of passing for a drain."""
    with _pod_sidecar(tmp_path, envoy_binary, {GUARD: False}) as (address, hook):
        old = subprocess.run(
            ["bash", "-c", _on(admin_command_script("POST", OLD_DRAIN_PATH, ADMIN_PORT), address)],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert old.returncode == 1
        assert old.stderr == f"envoy admin POST {OLD_DRAIN_PATH}: HTTP/1.1 400 Bad Request\n"
        assert b"connection: close" not in _get(address, INGRESS_PORT).lower()
        assert DRAIN_PATH in hook[-1]
        assert subprocess.run(hook, timeout=10).returncode == 0
        assert b"connection: close" in _get(address, INGRESS_PORT).lower()
