"""Step 1 of a ``dnsNamespace`` change, with a real Envoy: a caller's upstream cluster lists the
upstream's new and old names, and the caller is served whichever of them answers, including
when the name it was served through empties out while it runs (step 2: the upstream's tasks
leave the old namespace).

The deployed ECS bootstrap of a caller is run as it is (cluster, both names, resolver
defaults), only its ports moved, with Envoy's c-ares resolver pointed at a real DNS server
(Debian's ``dnsmasq``, unprivileged port on 127.0.0.1) that owns both zones (a name it does not
list gets NXDOMAIN, as from the Cloud Map zone) and rereads its hosts file on SIGHUP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.command import envoy_command
from components.sidecar.names import egress_prefix
from meshvis.local.dns import DNSMASQ, dnsmasq_command
from meshvis.local.localize import dns_resolver
from meshvis.local.processes import ProcessGroup, free_port, free_ports, wait_http

STUB_APP = Path(__file__).resolve().parent.parent / "support" / "stub_app.py"
NEW, OLD = "mesh", "internal"
CALLER, UPSTREAM = "greeter", "greeting"
# Envoy re-resolves a STRICT_DNS name every 5 s (the cluster's default dns_refresh_rate).
REFRESH_WAIT = 20.0


def _step_1_bootstrap() -> dict:
    config = stack_config("dev")
    assert config["mesh-visibility:dnsNamespace"] == OLD
    config.update(
        {"mesh-visibility:dnsNamespace": NEW, "mesh-visibility:previousDnsNamespace": OLD}
    )
    settings = settings_from_config(config)
    return envoy_bootstrap(settings, settings.service(CALLER))


def _runnable(deployed: dict, ports: dict[str, int]) -> dict:
    """Admin and the egress listener to ``UPSTREAM`` on free 127.0.0.1 ports, the upstream
    cluster's endpoints (names kept) on the stub app's port, c-ares asking dnsmasq only."""
    local = json.loads(json.dumps(deployed))
    local["admin"]["address"]["socket_address"]["port_value"] = ports["admin"]
    resources = local["static_resources"]
    [listener] = [
        item for item in resources["listeners"] if item["name"] == egress_prefix(UPSTREAM)
    ]
    listener["address"]["socket_address"]["port_value"] = ports["egress"]
    resources["listeners"] = [listener]
    [cluster] = [c for c in resources["clusters"] if c["name"] == UPSTREAM]
    for endpoint in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]:
        endpoint["endpoint"]["address"]["socket_address"]["port_value"] = ports["app"]
    local.pop("stats_sinks", None)  # no CloudWatch agent here
    local["typed_dns_resolver_config"] = dns_resolver("127.0.0.1", ports["dns"])
    return local


def _hostnames(admin: int) -> list[str]:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{admin}/clusters?format=json", timeout=5
    ) as response:
        clusters = json.load(response)["cluster_statuses"]
    [status] = [c for c in clusters if c["name"] == UPSTREAM]
    return sorted(h["hostname"] for h in status.get("host_statuses", []))


def _served(egress: int, app: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{egress}/", timeout=10) as response:
        return response.status == 200 and response.read().decode() == f"stub {app}"


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + REFRESH_WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {REFRESH_WAIT} s: {what}"
        time.sleep(0.5)


@pytest.mark.integration
@pytest.mark.parametrize("answering", [NEW, OLD])
def test_the_caller_is_served_through_whichever_namespace_answers(
    tmp_path, envoy_binary, answering
):
    """One name unresolvable (NXDOMAIN) from the start: the cluster initializes, the egress
    listener serves through the other, and only that name has a host. Then the answering name
    empties out and the other one answers (the upstream re-registered): still served, through
    the other name only."""
    assert DNSMASQ.exists(), f"{DNSMASQ} missing: run `make setup` (Debian's dnsmasq)"
    deployed = _step_1_bootstrap()
    [cluster] = [c for c in deployed["static_resources"]["clusters"] if c["name"] == UPSTREAM]
    names = [
        e["endpoint"]["address"]["socket_address"]["address"]
        for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert names == [f"{UPSTREAM}.{NEW}", f"{UPSTREAM}.{OLD}"]
    other = OLD if answering == NEW else NEW
    admin, egress, app = free_ports(3)
    ports = {"admin": admin, "egress": egress, "app": app, "dns": free_port(socket.SOCK_DGRAM)}
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(_runnable(deployed, ports)))
    hosts = (tmp_path / "hosts").absolute()
    hosts.write_text(f"127.0.0.1 {UPSTREAM}.{answering}\n")
    with ProcessGroup() as group:
        dns = group.start(
            "dnsmasq",
            dnsmasq_command(("127.0.0.1", ports["dns"]), hosts, 1, [NEW, OLD]),
            tmp_path / "dnsmasq.log",
        )
        group.start("stub", [sys.executable, str(STUB_APP), str(app)], tmp_path / "stub.log")
        wait_http(f"http://127.0.0.1:{app}/", group)
        group.start(
            "envoy",
            envoy_command(binary=str(envoy_binary), config_path=str(config), log_level="warn"),
            tmp_path / "envoy.log",
        )
        wait_http(f"http://127.0.0.1:{admin}/ready", group)
        _wait_for(
            lambda: _hostnames(admin) == [f"{UPSTREAM}.{answering}"],
            f"a host for {UPSTREAM}.{answering} only",
        )
        assert all(_served(egress, app) for _ in range(5))

        # The upstream moves: its tasks answer under the other name only.
        hosts.write_text(f"127.0.0.1 {UPSTREAM}.{other}\n")
        os.kill(dns.pid, signal.SIGHUP)
        # The emptied name's host goes too (Envoy 1.40.0 takes NXDOMAIN as "no addresses"),
        # so no request is sent to a stopped task's address.
        _wait_for(
            lambda: _hostnames(admin) == [f"{UPSTREAM}.{other}"],
            f"a host for {UPSTREAM}.{other} only",
        )
        assert all(_served(egress, app) for _ in range(5))
        group.check_alive()
