"""Every ECS sidecar's exact container command line (bootstrap and flags) accepted by the real
Envoy in its validate mode (components/ecs/containers.py)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

from components.ecs.containers import ENVOY, container_definitions
from components.settings.model import ServiceSpec, Settings
from tests.support.consumers import envoy_validate
from tests.unit.ecs.test_containers import STACKS


def _validate(
    envoy_binary, settings: Settings, service: ServiceSpec
) -> subprocess.CompletedProcess:
    (envoy,) = [c for c in container_definitions(settings, service) if c["name"] == ENVOY]
    return envoy_validate(envoy_binary, *envoy["command"][1:])


def test_every_sidecar_command_passes_envoy_validate(envoy_binary):
    """The container's exact command line (bootstrap and flags), in Envoy's validate mode."""
    tasks = [(settings, service) for _, settings in STACKS for service in settings.services]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda task: _validate(envoy_binary, *task), tasks))
    for (_, service), result in zip(tasks, results, strict=True):
        assert result.returncode == 0, f"{service.name}: {result.stdout}\n{result.stderr}"
        assert "OK" in result.stdout
