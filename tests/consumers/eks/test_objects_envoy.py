"""Every EKS sidecar bootstrap accepted by the real Envoy with the very command line the pod
runs (components/eks/objects.py)."""

from __future__ import annotations

import json

import pytest

from components.eks.objects import ENVOY_CONFIG_DIR, ENVOY_CONFIG_KEY, deployment, envoy_config_map
from components.sidecar.bootstrap import envoy_bootstrap
from tests.support.consumers import envoy_validate
from tests.unit.eks.test_objects import SETTINGS, SOURCE


@pytest.mark.parametrize("stack", sorted(SETTINGS))
def test_every_bootstrap_passes_envoy_validate_with_the_pods_command_line(
    stack, envoy_binary, tmp_path
):
    settings = SETTINGS[stack]
    for service in settings.services:
        config_map = envoy_config_map(settings, service)
        document = config_map["data"][ENVOY_CONFIG_KEY]
        assert json.loads(document) == envoy_bootstrap(settings, service)
        path = tmp_path / service.name / ENVOY_CONFIG_KEY
        path.parent.mkdir()
        path.write_text(document)
        sidecar = deployment(settings, service, SOURCE)["spec"]["template"]["spec"][
            "initContainers"
        ][0]
        args = [
            str(path) if a == f"{ENVOY_CONFIG_DIR}/{ENVOY_CONFIG_KEY}" else a
            for a in sidecar["args"]
        ]
        assert str(path) in args
        done = envoy_validate(envoy_binary, *args)
        assert done.returncode == 0, f"{service.name}: {done.stderr[-2000:]}"
        assert "Deprecated" not in done.stdout + done.stderr
