"""A localized sidecar is the deployed bootstrap with only addresses changed, and it runs."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.localize import SidecarPorts, localize
from meshvis.local.processes import ProcessGroup, free_ports, wait_http


def _without_addresses(node):
    """The document with every socket address blanked out."""
    if isinstance(node, dict):
        return {k: ("<addr>" if k in ("socket_address",) else _without_addresses(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_without_addresses(v) for v in node]
    return node


def _greeter_local(ports):
    settings = stack_settings("dev")
    greeter = settings.service("greeter")
    deployed = envoy_bootstrap(settings, greeter)
    admin, metrics, ingress, e1, e2, app, up1, up2 = ports
    local = localize(deployed, SidecarPorts(admin, metrics, ingress, {"greeting": e1, "name": e2}),
                     app_port=app, upstream_endpoints={"greeting": [up1], "name": [up2]},
                     statsd_port=None)
    return deployed, local


def test_localize_changes_only_addresses():
    deployed, local = _greeter_local(list(range(20001, 20009)))
    deployed_wo_sink = {k: v for k, v in deployed.items() if k != "stats_sinks"}
    assert _without_addresses(local) == _without_addresses(deployed_wo_sink)
    addresses = json.dumps(local)
    assert '"0.0.0.0"' not in addresses and ".internal" not in addresses


def test_localize_replicas_become_endpoints():
    settings = stack_settings("dev")
    local = localize(envoy_bootstrap(settings, settings.service("load-generator")),
                     SidecarPorts(1, 2, None, {"greeter": 3}), app_port=None,
                     upstream_endpoints={"greeter": [4, 5]}, statsd_port=6)
    cluster = next(c for c in local["static_resources"]["clusters"] if c["name"] == "greeter")
    ports = [e["endpoint"]["address"]["socket_address"]["port_value"]
             for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]
    assert ports == [4, 5]
    sink = local["stats_sinks"][0]["typed_config"]["address"]["socket_address"]
    assert sink == {"address": "127.0.0.1", "port_value": 6, "protocol": "UDP"}


# Reachable on the metrics listener, for GET only: everything else of the admin interface
# (which stays on loopback) is refused there.
METRICS_PATHS = ("/stats/prometheus", "/ready")
# Ways to spell an admin path that a naive prefix or string match could let through.
DISGUISED = ("/stats/prometheus/../quitquitquit", "/ready/../quitquitquit", "//quitquitquit",
             "/stats/prometheus%2F..%2Fquitquitquit", "/QUITQUITQUIT", "/stats/prometheus/",
             "/stats", "/stats?format=json", "/ready/")


def _status(url: str, method: str) -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _admin_paths(admin: int) -> list[str]:
    """Every endpoint the running Envoy's admin interface lists in /help."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/help", timeout=5) as response:
        listed = response.read().decode()
    return re.findall(r"^  (/[^\s:]*)(?: \(POST\))?:", listed, re.MULTILINE)


@pytest.mark.integration
def test_localized_sidecar_runs_and_exposes_only_metrics(tmp_path, envoy_binary):
    ports = free_ports(8)
    _, local = _greeter_local(ports)
    admin, metrics = ports[0], ports[1]
    with ProcessGroup() as group:
        group.start_envoy("greeter-envoy", local, tmp_path / "envoy.log", envoy_binary)
        wait_http(f"http://127.0.0.1:{admin}/ready", group)
        wait_http(f"http://127.0.0.1:{metrics}/ready", group)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/stats/prometheus", timeout=5) as r:
            body = r.read().decode()
        assert 'service="greeter"' in body and 'mesh="greeting"' in body

        paths = _admin_paths(admin)
        assert {"/quitquitquit", "/clusters", "/config_dump", "/runtime_modify",
                "/healthcheck/fail", "/logging", *METRICS_PATHS} <= set(paths), paths
        refused = {}
        for path in [p for p in paths if p not in METRICS_PATHS] + list(DISGUISED):
            for method in ("GET", "POST"):
                refused[(method, path)] = _status(f"http://127.0.0.1:{metrics}{path}", method)
        for path in METRICS_PATHS:
            assert _status(f"http://127.0.0.1:{metrics}{path}", "GET") == 200
            refused[("POST", path)] = _status(f"http://127.0.0.1:{metrics}{path}", "POST")
        assert {k: v for k, v in refused.items() if v != 404} == {}
        # Nothing got through to the admin interface: Envoy still runs and still passes its
        # health check (a /healthcheck/fail that got through would fail it).
        assert _status(f"http://127.0.0.1:{admin}/ready", "GET") == 200
        assert all(c.alive() for c in group.children)
    assert not any(c.alive() for c in group.children)
