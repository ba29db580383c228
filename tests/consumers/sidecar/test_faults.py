"""Bootstraps with a service's ``faults`` key, on either topology and stats profile, accepted by
the real Envoy (tests/unit/sidecar/test_faults.py checks what the key adds)."""

from __future__ import annotations

import json

import pytest

from components.settings.stack_files import stack_names
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from tests.support.consumers import envoy_validate
from tests.support.fault_cases import with_faults


def _variants():
    for stack in stack_names():
        settings = stack_settings(stack)
        service = settings.app_services[0].name
        for faults in (
            {},
            {"abortPercent": 100, "abortStatus": 429},
            {"abortPercent": 0.5, "delayPercent": 33.3333, "delayMs": 1},
        ):
            for profile in ("essential", "full"):
                config = with_faults(stack, service, faults)[0].model_copy(
                    update={"stats_profile": profile}
                )
                yield (
                    f"{stack}-{profile}-{json.dumps(faults)}",
                    envoy_bootstrap(config, config.service(service)),
                )


@pytest.mark.parametrize("name, bootstrap", list(_variants()), ids=[n for n, _ in _variants()])
def test_real_envoy_validates_bootstraps_with_faults(name, bootstrap, envoy_binary):
    done = envoy_validate(envoy_binary, "--config-yaml", json.dumps(bootstrap))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Deprecated" not in done.stdout + done.stderr
