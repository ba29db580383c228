"""The local mesh's plan, live-view queries and Prometheus configuration (no processes)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from dashboards.prometheus.rules import rules_file
from dashboards.prometheus.scrape import JOB_NAME
from meshvis.local.plan import PortInUse, entry_service, plan_mesh
from meshvis.local.prometheus import Prometheus
from meshvis.local.signals import live_signals, read_signals, without_data


def _ports(plan) -> list[int]:
    ports = []
    for r in plan.replicas:
        sidecar = r.sidecar
        ports += [sidecar.admin, sidecar.metrics, *sidecar.egress.values()]
        ports += [p for p in (sidecar.ingress, r.app_port) if p is not None]
    return ports


def test_plan_gives_every_replica_its_own_ports_and_wires_replicas_as_endpoints():
    plan = plan_mesh(stack_settings("dev"))
    assert [r.instance for r in plan.replicas] == [
        "name-1", "name-2", "greeting-1", "greeting-2", "greeter-1", "greeter-2",
        "load-generator-1"]
    ports = _ports(plan)
    assert len(ports) == len(set(ports)) == 6 * 4 + 2 * 2 + 3
    greeter = plan.of("greeter")[0]
    assert plan.upstream_endpoints(greeter.service) == {
        "greeting": [r.sidecar.ingress for r in plan.of("greeting")],
        "name": [r.sidecar.ingress for r in plan.of("name")]}
    env = plan.app_environment(greeter)
    assert env["UPSTREAMS"] == (f"greeting=http://127.0.0.1:{greeter.sidecar.egress['greeting']},"
                                f"name=http://127.0.0.1:{greeter.sidecar.egress['name']}")
    assert (env["PORT"], env["HOST"], env["INSTANCE"]) == (str(greeter.app_port), "127.0.0.1",
                                                           "greeter-1")
    load = plan.of("load-generator")[0]
    assert plan.app_environment(load)["RATE"] == "2" and load.app_port is None
    assert plan.entry_urls == [r.ingress_url for r in plan.of("greeter")]
    assert [labels for _, labels in plan.scrape_targets()][-1] == {
        "service": "load-generator", "replica": "load-generator-1"}


def test_plan_bootstrap_points_the_sink_at_the_receiver():
    plan = plan_mesh(stack_settings("dev"))
    bootstrap = plan.bootstrap(plan.of("name")[1], statsd_port=4242)
    sink = bootstrap["stats_sinks"][0]["typed_config"]["address"]["socket_address"]
    assert sink == {"address": "127.0.0.1", "port_value": 4242, "protocol": "UDP"}


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_plan_runs_the_stacks_own_bootstrap_with_a_sink_on_either_topology(stack):
    """An eks sidecar runs its eks bootstrap (stats matcher included); locally it also gets
    the DogStatsD sink to the receiver, which changes no stat."""
    settings = stack_settings(stack)
    plan = plan_mesh(settings)
    for replica in plan.replicas:
        local = plan.bootstrap(replica, statsd_port=4242)
        deployed = envoy_bootstrap(settings, replica.service)
        assert local["stats_config"] == deployed["stats_config"]
        [sink] = local["stats_sinks"]
        assert sink["typed_config"]["address"]["socket_address"]["port_value"] == 4242
        assert ("stats_sinks" in deployed) == (settings.topology == "ecs")


def test_entry_port_is_used_or_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    plan = plan_mesh(stack_settings("dev"), entry_port=port)
    assert plan.entry_urls[0] == f"http://127.0.0.1:{port}/"
    assert _ports(plan).count(port) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortInUse, match=f"port {taken.getsockname()[1]} on 127.0.0.1"):
            plan_mesh(stack_settings("dev"), entry_port=taken.getsockname()[1])


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
    assert {("requests_per_s", "load-generator"), ("success_pct", "load-generator"),
            ("healthy_upstream_hosts", "load-generator")} <= covered
    # Every query is the shared PromQL of dashboards/prometheus/promql.py, scoped to the mesh.
    assert all('mesh="greeting"' in s.expr for s in signals)

    answers = {s.expr: {svc: 0.5 for svc in s.services if svc != "greeter"} for s in signals}
    values = read_signals(answers.__getitem__, signals)
    assert values["name"]["success_pct"] == 50.0 and values["name"]["requests_per_s"] == 0.5
    missing = without_data(signals, values)
    assert missing and all("(greeter" in line for line in missing)


def test_prometheus_config_and_rules_pass_promtool(tmp_path, promtool):
    settings = stack_settings("dev")
    plan = plan_mesh(settings)
    prometheus = Prometheus(tmp_path, plan.scrape_targets(), rules_file(settings))
    checked = subprocess.run([promtool, "check", "config", str(prometheus.config_path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr
    config = prometheus.config_path.read_text()
    assert JOB_NAME in config and "replica: greeter-2" in config
