"""The local DNS server for real: dnsmasq answers the deployed names with the healthy replicas
and follows ``publish`` (a SIGHUP rereads its file)."""

from __future__ import annotations

import time
from contextlib import closing

import pytest

from components.stack import stack_settings
from meshvis.local.dns import LocalDns, query_a
from meshvis.local.plan import claim_block, plan_mesh
from meshvis.local.processes import ProcessGroup

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "stack, name, unknown",
    [
        ("dev", "greeting.internal", "gretting.internal"),
        ("dev-eks", "nginx.mesh.svc.cluster.local.", "ngnix.mesh.svc.cluster.local."),
    ],
)
def test_dnsmasq_answers_the_deployed_names_and_follows_health(tmp_path, stack, name, unknown):
    block, lock = claim_block()
    settings = stack_settings(stack)
    plan = plan_mesh(settings, block)
    service = name.split(".")[0]
    replicas = [r.address for r in plan.of(service)]
    with closing(lock), ProcessGroup() as group:
        dns = LocalDns(plan, tmp_path)
        dns.start(group, tmp_path / "dns.log", 15)
        assert sorted(query_a(name, plan.dns_server)) == sorted(replicas)
        # A name in the zone that nothing registered: NXDOMAIN, as from the real zone.
        assert query_a(unknown, plan.dns_server) == []
        dns.publish(plan.of(service)[0].instance, False)
        deadline = time.monotonic() + 5
        while query_a(name, plan.dns_server) != replicas[1:] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert query_a(name, plan.dns_server) == replicas[1:]
        dnsmasq = dns.child
    assert dnsmasq is not None and not dnsmasq.alive()
