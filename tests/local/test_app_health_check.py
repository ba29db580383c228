"""The ECS health check of the app container (issue 20 item 2), run for real: the demo app's
Python one-liner and the curl-or-wget check of an image of one's own, against the real demo
app on 127.0.0.1. It passes while the app answers its health path, and fails when the app is
hung (SIGSTOP: the process is alive but answers nothing) or gone, so ECS marks the task
UNHEALTHY, takes it out of Cloud Map and replaces it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from components.ecs.containers import HEALTH_CHECK_TIMING, app_health_command
from components.settings.model import ServiceSpec
from components.sidecar.demo_app import DEMO_APP, demo_app_environment
from meshvis.local.processes import ProcessGroup, free_port, wait_http

pytestmark = pytest.mark.integration


def _run(command: list[str]) -> int:
    """The check as the container runs it: ``CMD`` execs its arguments, ``CMD-SHELL`` hands
    its one string to /bin/sh; killed at the check's timeout, as ECS counts it failed."""
    argv = ["sh", "-c", command[1]] if command[0] == "CMD-SHELL" else command[1:]
    if argv[0] == "python":
        argv[0] = sys.executable
    try:
        return subprocess.run(
            argv, capture_output=True, timeout=HEALTH_CHECK_TIMING["timeout"]
        ).returncode
    except subprocess.TimeoutExpired:
        return -1


@pytest.mark.parametrize(
    "image, path", [(None, "/health"), ("own/image:1", "/health")], ids=["demo-app", "own-image"]
)
def test_app_health_check_follows_the_app(tmp_path, image, path):
    port = free_port()
    service = ServiceSpec(name="greeting", port=port, image=image, healthPath=path)
    command = app_health_command(service)
    assert _run(command) != 0  # nothing listens yet
    env = {"PATH": os.environ["PATH"], **demo_app_environment(service, "127.0.0.1")}
    with ProcessGroup() as group:
        app = group.start("app", [sys.executable, str(DEMO_APP)], tmp_path / "app.log", env=env)
        wait_http(f"http://127.0.0.1:{port}/health", group)
        assert _run(command) == 0
        os.kill(app.pid, signal.SIGSTOP)  # hung: alive, answering nothing
        try:
            assert _run(command) != 0
        finally:
            os.kill(app.pid, signal.SIGCONT)
        assert _run(command) == 0
