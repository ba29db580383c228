"""Every sidecar bootstrap of the demo stacks and their variants, accepted by the real Envoy
(tests/unit/sidecar/test_bootstrap.py checks the same documents against the contract)."""

from __future__ import annotations

import json

import pytest

from components.settings.stack_files import stack_names
from components.sidecar.bootstrap import envoy_bootstrap
from tests.support.consumers import envoy_validate
from tests.unit.sidecar.test_bootstrap import _variant


def _all_bootstraps():
    for stack in stack_names():
        for profile in ("essential", "full"):
            settings = _variant(stack, statsProfile=profile)
            for service in settings.services:
                yield f"{stack}-{profile}-{service.name}", envoy_bootstrap(settings, service)
    step_1 = _variant("dev", dnsNamespace="mesh", previousDnsNamespace="internal")
    for service in step_1.services:
        yield f"dev-namespace-step-1-{service.name}", envoy_bootstrap(step_1, service)
    for policy in ("errors", "all", "off"):
        settings = _variant("dev", accessLog=policy)
        for service in ("greeter", "load-generator"):
            yield f"dev-{policy}-{service}", envoy_bootstrap(settings, settings.service(service))
    tracing_off = _variant("dev", tracing=False)
    yield "dev-tracing-off-greeter", envoy_bootstrap(tracing_off, tracing_off.service("greeter"))
    share = _variant("dev", traceLimitPerMinute=0)
    for service in ("greeter", "load-generator"):
        yield f"dev-share-{service}", envoy_bootstrap(share, share.service(service))


@pytest.mark.parametrize(
    "name, bootstrap", list(_all_bootstraps()), ids=[n for n, _ in _all_bootstraps()]
)
def test_real_envoy_validates_bootstrap(name, bootstrap, envoy_binary):
    done = envoy_validate(
        envoy_binary, "--config-yaml", json.dumps(bootstrap), "--log-level", "warn"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Deprecated fields would break on the next Envoy upgrade; keep the document clean.
    assert "Deprecated" not in done.stdout + done.stderr
