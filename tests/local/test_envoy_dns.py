"""A real Envoy resolves the EKS upstream names, fully qualified with the trailing dot, straight
away: under a pod's resolver options it never asks the search domains first, and it serves
through the host it found.

The deployed STRICT_DNS cluster of an EKS caller is run as it is (name, resolver options,
everything but its port), with Envoy's c-ares resolver pointed at a real DNS server (Debian's
``dnsmasq``, unprivileged port on 127.0.0.1) that knows the upstream's name, and with the pod's
``resolv.conf`` options given the way c-ares also reads them (``RES_OPTIONS``, ``LOCALDOMAIN``):
``ndots:5`` and the pod's first search domain. dnsmasq logs every query it gets.

(A name in ``/etc/hosts`` cannot stand in for the DNS server: c-ares looks ``localhost.`` up
there without the dot and answers "Domain name not found", measured with Envoy 1.40.0.)
"""

from __future__ import annotations

import copy
import json
import re
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.command import envoy_command
from components.sidecar.names import egress_prefix
from components.stack import stack_settings
from meshvis.local.dns import DNSMASQ
from meshvis.local.processes import ProcessGroup, free_port, free_ports, wait_http

STUB_APP = Path(__file__).resolve().parent.parent / "support" / "stub_app.py"
CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"


def _upstream_socket(bootstrap: dict, upstream: str) -> dict:
    cluster = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == upstream)
    assert cluster["type"] == "STRICT_DNS"
    [endpoint] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    return endpoint["endpoint"]["address"]["socket_address"]


def _runnable(deployed: dict, upstream: str, name: str, ports: dict[str, int]) -> dict:
    """The deployed bootstrap with admin and the egress listener to ``upstream`` on free
    127.0.0.1 ports (the metrics listener, not needed here, left out), the upstream cluster on
    ``name`` and the stub app's port, and c-ares asking the local DNS server only. Search
    domains and ``ndots`` stay c-ares' own (from the environment, as in a pod)."""
    local = copy.deepcopy(deployed)
    local["admin"]["address"]["socket_address"]["port_value"] = ports["admin"]
    resources = local["static_resources"]
    [listener] = [
        item for item in resources["listeners"] if item["name"] == egress_prefix(upstream)
    ]
    assert listener["address"]["socket_address"]["address"] == "127.0.0.1"
    listener["address"]["socket_address"]["port_value"] = ports["egress"]
    resources["listeners"] = [listener]
    _upstream_socket(local, upstream).update(address=name, port_value=ports["app"])
    local["typed_dns_resolver_config"] = {
        "name": "envoy.network.dns_resolver.cares",
        "typed_config": {
            "@type": CARES,
            "resolvers": [{"socket_address": {"address": "127.0.0.1", "port_value": ports["dns"]}}],
            "use_resolvers_as_fallback": False,
        },
    }
    return local


def _queries(log: Path, service: str) -> list[str]:
    """The A queries dnsmasq logged for names starting with ``service.``."""
    found = re.findall(r"query\[A\] (\S+) from 127\.0\.0\.1", log.read_text(errors="replace"))
    return [q for q in found if q.startswith(f"{service}.")]


@pytest.mark.integration
@pytest.mark.parametrize("trailing_dot", [True, False], ids=["as-deployed", "without-the-dot"])
def test_envoy_resolves_the_fully_qualified_upstream_without_the_search_list(
    tmp_path, envoy_binary, trailing_dot
):
    assert DNSMASQ.exists(), f"{DNSMASQ} missing: run `make setup` (Debian's dnsmasq)"
    settings = stack_settings("dev-eks")
    caller = settings.service("load-generator")
    [upstream] = caller.upstreams
    deployed = envoy_bootstrap(settings, caller)
    name = _upstream_socket(deployed, upstream)["address"]
    assert name == settings.upstream_host(upstream) and name.endswith(".svc.cluster.local.")
    absolute = name.rstrip(".")
    asked = name if trailing_dot else absolute
    admin, egress, app = free_ports(3)
    ports = {"admin": admin, "egress": egress, "app": app, "dns": free_port(socket.SOCK_DGRAM)}
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(_runnable(deployed, upstream, asked, ports)))
    dns_log = tmp_path / "dnsmasq.log"
    # A pod's resolv.conf: `search <namespace>.svc.cluster.local svc.cluster.local ...`,
    # `options ndots:5`.
    pod_resolver = {
        "RES_OPTIONS": "ndots:5",
        "LOCALDOMAIN": f"{settings.kubernetes_namespace}.svc.cluster.local",
    }
    with ProcessGroup() as group:
        group.start(
            "dnsmasq",
            [
                str(DNSMASQ),
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                f"--port={ports['dns']}",
                f"--host-record={absolute},127.0.0.1",
                # Every other cluster.local name does not exist (NXDOMAIN), as in a cluster.
                "--local=/cluster.local/",
                "--log-queries",
                "--log-facility=-",
            ],
            dns_log,
        )
        group.start("stub", [sys.executable, str(STUB_APP), str(app)], tmp_path / "stub.log")
        wait_http(f"http://127.0.0.1:{app}/", group)
        group.start(
            "envoy",
            envoy_command(binary=str(envoy_binary), config_path=str(config), log_level="warn"),
            tmp_path / "envoy.log",
            env=pod_resolver,
        )
        wait_http(f"http://127.0.0.1:{admin}/ready", group)
        with urllib.request.urlopen(f"http://127.0.0.1:{egress}/", timeout=10) as response:
            assert response.status == 200
            assert response.read().decode() == f"stub {app}"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{admin}/clusters?format=json", timeout=5
        ) as response:
            clusters = json.load(response)["cluster_statuses"]
        [status] = [c for c in clusters if c["name"] == upstream]
        [host] = status["host_statuses"]
        assert host["hostname"] == asked
        assert host["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": app}
        time.sleep(0.2)  # dnsmasq's log line may trail its answer
    queries = _queries(dns_log, upstream)
    if trailing_dot:
        # Only the name itself, however often Envoy refreshed it.
        assert set(queries) == {absolute}, queries
    else:
        # The control: the same resolver options make the name without the dot go through
        # the search list first (the wasted lookups the trailing dot saves).
        assert queries[0] == f"{absolute}.{settings.kubernetes_namespace}.svc.cluster.local", (
            queries
        )
        assert absolute in queries
