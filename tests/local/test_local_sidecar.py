"""A localized sidecar is the deployed bootstrap at a replica's own address; Envoy accepts and
runs it."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from contextlib import closing

import pytest

from components.settings.ports import ADMIN_PORT, METRICS_PORT
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.localize import localize
from meshvis.local.plan import DNS_PORT, block_address, claim_block, plan_mesh
from meshvis.local.processes import ProcessGroup, wait_http


def _greeter_local(address: str, resolver: tuple[str, int]) -> dict:
    settings = stack_settings("dev")
    return localize(envoy_bootstrap(settings, settings.service("greeter")), address, resolver)


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_every_localized_bootstrap_passes_envoy_validate(tmp_path, envoy_binary, stack):
    """The resolver added to the deployed document is one Envoy accepts (tests/unit/meshvis/
    test_local_dns.py proves that addresses are all that changes otherwise)."""
    plan = plan_mesh(stack_settings(stack), block=9)
    for replica in plan.replicas:
        path = tmp_path / f"{replica.instance}.json"
        path.write_text(json.dumps(plan.bootstrap(replica)))
        checked = subprocess.run(
            [str(envoy_binary), "--mode", "validate", "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


# Reachable on the metrics listener, for GET only: everything else of the admin interface
# (which stays on loopback) is refused there.
METRICS_PATHS = ("/stats/prometheus", "/ready")
# Ways to spell an admin path that a naive prefix or string match could let through.
DISGUISED = (
    "/stats/prometheus/../quitquitquit",
    "/ready/../quitquitquit",
    "//quitquitquit",
    "/stats/prometheus%2F..%2Fquitquitquit",
    "/QUITQUITQUIT",
    "/stats/prometheus/",
    "/stats",
    "/stats?format=json",
    "/ready/",
)


def _status(url: str, method: str) -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _admin_paths(admin: str) -> list[str]:
    """Every endpoint the running Envoy's admin interface (``host:port``) lists in /help."""
    with urllib.request.urlopen(f"http://{admin}/help", timeout=5) as response:
        listed = response.read().decode()
    return re.findall(r"^  (/[^\s:]*)(?: \(POST\))?:", listed, re.MULTILINE)


@pytest.mark.integration
def test_localized_sidecar_runs_and_exposes_only_metrics(tmp_path, envoy_binary):
    block, lock = claim_block()
    address = block_address(block, 1)
    local = _greeter_local(address, (block_address(block, 0), DNS_PORT))
    admin, metrics = f"{address}:{ADMIN_PORT}", f"{address}:{METRICS_PORT}"
    with closing(lock), ProcessGroup() as group:
        group.start_envoy("greeter-envoy", local, tmp_path / "envoy.log", envoy_binary)
        wait_http(f"http://{admin}/ready", group)
        wait_http(f"http://{metrics}/ready", group)
        with urllib.request.urlopen(f"http://{metrics}/stats/prometheus", timeout=5) as r:
            body = r.read().decode()
        assert 'service="greeter"' in body and 'mesh="greeting"' in body

        paths = _admin_paths(admin)
        assert {
            "/quitquitquit",
            "/clusters",
            "/config_dump",
            "/runtime_modify",
            "/healthcheck/fail",
            "/logging",
            *METRICS_PATHS,
        } <= set(paths), paths
        refused = {}
        for path in [p for p in paths if p not in METRICS_PATHS] + list(DISGUISED):
            for method in ("GET", "POST"):
                refused[(method, path)] = _status(f"http://{metrics}{path}", method)
        for path in METRICS_PATHS:
            assert _status(f"http://{metrics}{path}", "GET") == 200
            refused[("POST", path)] = _status(f"http://{metrics}{path}", "POST")
        assert {k: v for k, v in refused.items() if v != 404} == {}
        # Nothing got through to the admin interface: Envoy still runs and still passes its
        # health check (a /healthcheck/fail that got through would fail it).
        assert _status(f"http://{admin}/ready", "GET") == 200
        assert all(c.alive() for c in group.children)
    assert not any(c.alive() for c in group.children)
