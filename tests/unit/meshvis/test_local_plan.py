"""The local mesh's plan, live-view queries and Prometheus configuration (no processes)."""

from __future__ import annotations

import socket

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.entry import EntryBalancer, PortInUse
from meshvis.local.golden_signals import live_signals, read_signals, without_data
from meshvis.local.plan import DNS_PORT, block_address, claim_block, entry_service, plan_mesh


def test_plan_makes_every_replica_a_host_with_the_deployed_ports():
    plan = plan_mesh(stack_settings("dev"), block=7)
    assert [r.instance for r in plan.replicas] == [
        "name-1",
        "name-2",
        "greeting-1",
        "greeting-2",
        "greeter-1",
        "greeter-2",
        "load-generator-1",
    ]
    addresses = [r.address for r in plan.replicas]
    assert addresses == [f"127.7.1.{n}" for n in range(1, 8)]
    assert plan.dns_server == ("127.7.0.1", DNS_PORT)
    greeter = plan.of("greeter")[0]
    env = plan.app_environment(greeter)
    assert env["UPSTREAMS"] == "greeting=http://127.7.1.5:9001,name=http://127.7.1.5:9002"
    assert (env["PORT"], env["HOST"], env["INSTANCE"]) == ("3000", "127.7.1.5", "greeter-1")
    load = plan.of("load-generator")[0]
    assert plan.app_environment(load)["RATE"] == "2" and load.app_port is None
    assert plan.entry_urls == ["http://127.7.1.5:15000/", "http://127.7.1.6:15000/"]
    assert plan.scrape_targets()[-1] == (
        "127.7.1.7:9902",
        {"mesh": "greeting", "service": "load-generator", "replica": "load-generator-1"},
    )
    assert plan.statsd_addresses()[0] == ("127.7.1.1", 8125)


def test_addresses_of_a_block_never_repeat_and_skip_the_runs_own():
    addresses = [block_address(3, n) for n in range(0, 600)]
    assert len(set(addresses)) == 600
    assert addresses[:2] == ["127.3.0.1", "127.3.1.1"]
    assert addresses[254:256] == ["127.3.1.254", "127.3.2.1"]


def test_two_runs_claim_different_blocks():
    first, first_lock = claim_block()
    try:
        second, second_lock = claim_block()
        second_lock.close()
    finally:
        first_lock.close()
    assert first != second
    # Given back when its lock closes.
    again, lock = claim_block()
    lock.close()
    assert again == first


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_plan_runs_the_stacks_own_bootstrap_with_a_sink_on_either_topology(stack):
    """An eks sidecar runs its eks bootstrap (stats matcher included); locally it also gets
    the ECS DogStatsD sink (to the task's own 8125), which changes no stat."""
    settings = stack_settings(stack)
    plan = plan_mesh(settings)
    for replica in plan.replicas:
        local = plan.bootstrap(replica)
        deployed = envoy_bootstrap(settings, replica.service)
        assert local["stats_config"] == deployed["stats_config"]
        [sink] = local["stats_sinks"]
        address = sink["typed_config"]["address"]["socket_address"]
        assert (address["address"], address["port_value"]) == (replica.address, 8125)
        assert ("stats_sinks" in deployed) == (settings.topology == "ecs")


def test_entry_port_is_used_or_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    balancer = EntryBalancer(port, [("127.7.1.5", 15000)])
    try:
        assert balancer.url == f"http://127.0.0.1:{port}/"
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1"):
            EntryBalancer(port, [])
    finally:
        balancer.close()


def test_entry_service_defaults_to_the_first_app_nobody_calls():
    config = stack_config("dev")
    del config["mesh-visibility:entryService"]
    assert entry_service(settings_from_config(config)) == "greeter"
    assert entry_service(stack_settings("dev-eks")) == "nginx"


def test_live_signals_cover_every_service_and_report_the_empty_ones():
    settings = stack_settings("dev")
    signals = live_signals(settings)
    covered = {(s.key, svc) for s in signals for svc in s.services}
    for app in ("name", "greeting", "greeter"):
        for key in ("requests_per_s", "success_pct", "p50_ms", "p99_ms", "active_connections"):
            assert (key, app) in covered
    assert ("healthy_upstream_hosts", "greeter") in covered
    assert ("healthy_upstream_hosts", "name") not in covered
    assert {
        ("requests_per_s", "load-generator"),
        ("success_pct", "load-generator"),
        ("healthy_upstream_hosts", "load-generator"),
    } <= covered
    # Every query is the shared PromQL of dashboards/prometheus/promql.py, scoped to the mesh.
    assert all('mesh="greeting"' in s.expr for s in signals)

    answers = {s.expr: {svc: 0.5 for svc in s.services if svc != "greeter"} for s in signals}
    values = read_signals(answers.__getitem__, signals)
    assert values["name"]["success_pct"] == 50.0 and values["name"]["requests_per_s"] == 0.5
    missing = without_data(signals, values)
    assert missing and all("(greeter" in line for line in missing)
