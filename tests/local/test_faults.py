"""Faults the mesh survives, on the local mesh: real Envoys, demo apps, Prometheus, DogStatsD.

One run of the dev-eks stack (nginx x2 behind three load generators, whose rate is raised so
that 1% is a countable number of requests) goes through every fault in turn and records what
it observed; each test below asserts one requirement on that record. The sidecars run the
stack's own (eks) bootstrap, so Prometheus sees exactly the stats that the Grafana dashboards
and the alert rules read. Phases, in order:

1. replica: one nginx replica (its app and its sidecar) is killed under load, stays down
   until DNS no longer answers it and every caller's Envoy dropped it, then comes back;
2. statsd: the DogStatsD receiver (where the CloudWatch agent stands) stops, then restarts;
3. outage: both nginx replicas are killed, then restarted on the same ports.

Discovery is real: the callers' STRICT_DNS clusters resolve the deployed headless Service
name through the local DNS server, which takes a replica out after its readiness probes fail
(meshvis/local/dns.py), so the phases see what production sees while DNS catches up.
Requests are counted by the load generators' own sidecars (their egress listeners: what the
clients got back after the mesh's retries), read from their admin interfaces, which is exact
and immediate. Every wait is bounded; nothing asserts on how long something took.

A sidecar that dies under ``meshvis run`` is tests/local/test_local_mesh.py's
``test_a_dying_child_is_named_and_everything_stops``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from components.settings.ports import INGRESS_PORT
from components.sidecar.bootstrap import PER_TRY_TIMEOUT
from components.stack import stack_settings
from dashboards.prometheus import promql
from dashboards.prometheus.rules import NO_HEALTHY_HOSTS, rule_group
from meshvis.local.discovery import discovery_report
from meshvis.local.mesh import LocalMesh
from meshvis.local.plan import LocalReplica
from tests.local.test_local_mesh import TAG, tagged_pids

pytestmark = pytest.mark.integration

STACK = "dev-eks"
CALLER, UPSTREAM = "load-generator", "nginx"
# Requests per second of each of the three load generators.
RATE_EACH = 4.0
# Envoy's stats_flush_interval: the DogStatsD sink sends once per interval.
STATS_FLUSH_SECONDS = 10.0


def _settings():
    settings = stack_settings(STACK)
    services = tuple(
        s.model_copy(update={"rate": RATE_EACH}) if s.is_load else s for s in settings.services
    )
    return settings.model_copy(update={"services": services})


SETTINGS = _settings()
LOAD_RATE = RATE_EACH * SETTINGS.service(CALLER).replicas


def _until(condition: Callable[[], object], timeout: float, step: float = 0.5) -> object:
    """Poll ``condition`` until it returns something truthy (returned) or ``timeout`` passes
    (its last value is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def _admin_stats(replica: LocalReplica, pattern: str) -> dict[str, int]:
    with urllib.request.urlopen(
        replica.admin_url(f"/stats?filter={pattern}"), timeout=5
    ) as response:
        lines = response.read().decode().splitlines()
    return {
        name: int(value)
        for name, _, value in (line.partition(": ") for line in lines)
        if value.isdigit()
    }


class Observer:
    """Reads the running mesh: the client's outcomes, Prometheus, the receiver."""

    def __init__(self, mesh: LocalMesh) -> None:
        assert mesh.prometheus is not None, "the mesh is running"
        self.mesh = mesh
        self.prometheus = mesh.prometheus
        self.clients = mesh.plan.of(CALLER)
        mesh_name = mesh.settings.mesh_name
        self.no_healthy_expr = next(
            r["expr"] for r in rule_group(mesh.settings)["rules"] if r["alert"] == NO_HEALTHY_HOSTS
        )
        self.retries_expr = promql.upstream_cluster_rate(mesh_name, "upstream_rq_retry")
        self.ejections_expr = promql.upstream_cluster_rate(
            mesh_name, "outlier_detection_ejections_enforced_total"
        )

    def outcomes(self) -> dict[str, int]:
        """The clients' answers so far: ``ok`` (not 5xx) and ``failed`` (5xx)."""
        prefix = f"http.egress_{UPSTREAM}.downstream_rq_"
        totals = {"ok": 0, "failed": 0}
        for client in self.clients:
            stats = _admin_stats(client, f"^{re.escape(prefix)}[1-5]xx$")
            failed = stats[f"{prefix}5xx"]
            totals["ok"] += sum(stats.values()) - failed
            totals["failed"] += failed
        return totals

    def requests_since(self, base: dict[str, int]) -> int:
        now = self.outcomes()
        return now["ok"] + now["failed"] - base["ok"] - base["failed"]

    def caller_series(self, expr: str) -> float | None:
        """The value of ``expr``'s caller -> upstream series, or None if it has none."""
        for labels, value in self.prometheus.query_series(expr):
            if labels.get("service") == CALLER and labels.get("envoy_cluster_name") == UPSTREAM:
                return value
        return None

    def resolving(self, instance: str) -> list[str]:
        """The callers whose Envoy has ``instance`` among the upstream's hosts."""
        host = f"{self.mesh.replica(instance).address}:{INGRESS_PORT}"
        report = discovery_report(self.mesh.plan, self.mesh.dns.rules)
        return [
            caller
            for caller, hosts in report["upstreams"][UPSTREAM]["resolved"].items()
            if hosts is None or host in hosts
        ]

    def alert_state(self) -> str | None:
        """State of the no-healthy-upstream alert for caller -> upstream, if active."""
        for labels, _ in self.prometheus.query_series(f'ALERTS{{alertname="{NO_HEALTHY_HOSTS}"}}'):
            if labels.get("service") == CALLER and labels.get("envoy_cluster_name") == UPSTREAM:
                return labels["alertstate"]
        return None


def _kill_replica(mesh: LocalMesh, instance: str) -> None:
    for part in ("app", "envoy"):
        mesh.child(f"{instance} {part}").kill()


def _restart_replicas(mesh: LocalMesh, *instances: str) -> None:
    """Start the replicas again on their ports; return once all are ready (waiting fails
    fast on any dead child, so every one is restarted first)."""
    for instance in instances:
        for part in ("envoy", "app"):
            mesh.restart(f"{instance} {part}")
    for instance in instances:
        mesh.wait_ready(mesh.replica(instance))


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before}


def _since(start: float) -> float:
    return round(time.monotonic() - start, 1)


def _replica_phase(mesh: LocalMesh, see: Observer) -> dict:
    victim = f"{UPSTREAM}-1"
    base = see.outcomes()
    killed = time.monotonic()
    _kill_replica(mesh, victim)
    record: dict = {"resolved_before": see.resolving(victim)}
    # DNS follows the readiness probes; the callers' Envoys follow DNS at their next refresh.
    record["dns_removed_after_s"] = _until(
        lambda: (victim, "removed") in [e[1:] for e in mesh.dns.events] and _since(killed), 40
    )
    record["unresolved_after_s"] = _until(lambda: not see.resolving(victim) and _since(killed), 20)
    _until(lambda: see.requests_since(base) >= 12 * LOAD_RATE, timeout=40)
    record["outcomes"] = _delta(base, see.outcomes())
    # Scraped every 5 s: the counters show up in a rate() within a few scrapes.
    record["retries_per_s"] = _until(lambda: see.caller_series(see.retries_expr), 30)
    record["ejections_per_s"] = _until(lambda: see.caller_series(see.ejections_expr), 30)
    _restart_replicas(mesh, victim)
    restarted = time.monotonic()
    record["resolved_again_after_s"] = _until(
        lambda: len(see.resolving(victim)) == len(see.clients) and _since(restarted), 30
    )
    return record


def _statsd_phase(mesh: LocalMesh, see: Observer) -> dict:
    receiver = mesh.receiver
    addresses = receiver.addresses
    base = see.outcomes()
    receiver.stop()
    stopped_at = receiver.samples_received()
    down_since = time.monotonic()
    # At least one stats flush lands on the closed port while requests keep flowing.
    _until(
        lambda: (
            time.monotonic() - down_since > STATS_FLUSH_SECONDS + 2
            and see.requests_since(base) >= 10 * LOAD_RATE
        ),
        timeout=40,
    )
    record: dict[str, object] = {
        "alive_while_down": [c.name for c in mesh.group.dead()] == [],
        "received_while_down": receiver.samples_received() - stopped_at,
    }
    receiver.start()
    record["same_port"] = receiver.addresses == addresses
    record["resumed_samples"] = _until(
        lambda: receiver.samples_received() - stopped_at, timeout=3 * STATS_FLUSH_SECONDS
    )
    record["outcomes"] = _delta(base, see.outcomes())
    return record


def _outage_phase(mesh: LocalMesh, see: Observer) -> dict:
    record: dict = {}
    samples = mesh.receiver.samples_received()
    before = see.outcomes()
    for index in (1, 2):
        _kill_replica(mesh, f"{UPSTREAM}-{index}")
    record["rule_matches"] = _until(lambda: see.caller_series(see.no_healthy_expr) == 0, 30)
    record["alert_state"] = _until(see.alert_state, 30)
    # Telemetry keeps flowing from the sidecars that still run.
    up = {
        labels["replica"]: value
        for labels, value in see.prometheus.query_series(f'up{{service="{CALLER}"}}')
    }
    record["caller_scraped"] = up
    record["statsd_samples"] = _until(
        lambda: mesh.receiver.samples_received() - samples, timeout=2 * STATS_FLUSH_SECONDS
    )
    record["while_down"] = _delta(before, see.outcomes())

    _restart_replicas(mesh, f"{UPSTREAM}-1", f"{UPSTREAM}-2")
    base = see.outcomes()
    record["recovered_ok"] = _until(
        lambda: _delta(base, see.outcomes())["ok"] >= 3 * LOAD_RATE, timeout=30
    )
    record["healthy_again"] = _until(lambda: see.caller_series(see.no_healthy_expr) is None, 45)
    return record


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> dict:
    """Run the mesh once through every phase; return what each phase observed."""
    run_dir = tmp_path_factory.mktemp("faults")
    tag = uuid.uuid4().hex
    observed: dict = {"run_dir": run_dir, "callers": []}
    with pytest.MonkeyPatch.context() as patch:
        # Every process the mesh starts inherits the tag: how leftovers are found.
        patch.setenv(TAG, tag)
        try:
            with LocalMesh(SETTINGS, run_dir) as mesh:
                mesh.start()
                mesh.start_load()
                see = Observer(mesh)
                observed["callers"] = [r.instance for r in mesh.plan.of(CALLER)]
                _until(lambda: see.requests_since({"ok": 0, "failed": 0}) >= 2 * LOAD_RATE, 20)
                observed["replica"] = _replica_phase(mesh, see)
                observed["statsd"] = _statsd_phase(mesh, see)
                observed["outage"] = _outage_phase(mesh, see)
        finally:
            observed["left_running"] = tagged_pids(tag)
            for pid in observed["left_running"]:
                os.kill(pid, signal.SIGKILL)
    return observed


def _access_log(run_dir: Path, instance: str, listener: str) -> list[dict]:
    """The sidecar's JSON access log entries of ``listener`` (complete once Envoy stopped:
    it buffers its access log and writes it out at the latest on exit)."""
    lines = (run_dir / "logs" / f"{instance}.envoy.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in entries if e["listener"] == listener]


def test_killing_one_replica_costs_at_most_one_percent(faults):
    outcomes = faults["replica"]["outcomes"]
    total = outcomes["ok"] + outcomes["failed"]
    assert total >= 12 * LOAD_RATE, faults["replica"]
    assert outcomes["ok"] >= 0.99 * total, faults["replica"]


def test_dns_drops_a_dead_replica_after_its_probes_fail_and_takes_it_back(faults):
    """Every caller resolved the replica; DNS removed it once its readiness probes had failed
    3 times 5 s apart (not before the second failure), every caller's Envoy dropped it at its
    next DNS refresh, and the restarted replica was resolved again by all of them."""
    replica = faults["replica"]
    assert sorted(replica["resolved_before"]) == faults["callers"], replica
    assert 10 <= replica["dns_removed_after_s"] <= 25, replica
    assert replica["dns_removed_after_s"] <= replica["unresolved_after_s"], replica
    assert replica["resolved_again_after_s"], replica


def test_retries_and_ejection_show_in_prometheus(faults):
    """What the Envoy dashboard's Retries and Outlier ejections panels plot for the load
    generators -> nginx is non-zero after the replica died."""
    assert faults["replica"]["retries_per_s"], faults["replica"]
    assert faults["replica"]["ejections_per_s"], faults["replica"]


def test_a_stopped_dogstatsd_receiver_fails_no_request_and_metrics_resume(faults):
    statsd = faults["statsd"]
    assert statsd["outcomes"]["failed"] == 0 and statsd["outcomes"]["ok"] >= 10 * LOAD_RATE, statsd
    assert statsd["alive_while_down"], statsd
    assert statsd["received_while_down"] == 0, statsd
    assert statsd["same_port"] and statsd["resumed_samples"] > 0, statsd


def test_a_stopped_upstream_fires_the_no_healthy_upstream_rule(faults):
    """The alert's own expression matches load-generator -> nginx in the live Prometheus, and
    Prometheus has the loaded rule active for it. It is ``pending``: the rule's ``for: 1m``
    turns it ``firing`` after a minute of that, which
    tests/consumers/dashboards/test_prometheus_rules.py proves with ``promtool test rules`` rather
    than this run waiting a minute."""
    outage = faults["outage"]
    assert outage["rule_matches"], outage
    assert outage["alert_state"] in ("pending", "firing"), outage


def test_telemetry_keeps_flowing_during_the_outage(faults):
    outage = faults["outage"]
    assert outage["caller_scraped"] == {name: 1.0 for name in faults["callers"]}, outage
    assert outage["statsd_samples"] > 0, outage
    # The clients' sidecars go on counting what they get: the failures.
    assert outage["while_down"]["failed"] > 0, outage


def test_callers_get_fast_503s_flagged_in_the_access_log(faults):
    entries = [
        e
        for name in faults["callers"]
        for e in _access_log(faults["run_dir"], name, f"egress_{UPSTREAM}")
    ]
    failed = [e for e in entries if e["response_code"] == 503]
    assert failed, "no 503 logged while the upstream was down"
    flags = [set(e["response_flags"].split(",")) for e in failed]
    # Mostly UF (connection refused) or UH (every host ejected); a request whose last retry
    # met a 503 from a host that was itself going down carries only URX (retries exhausted).
    assert any(f & {"UH", "UF"} for f in flags), failed
    for entry, entry_flags in zip(failed, flags, strict=True):
        assert entry_flags & {"UH", "UF", "URX"}, entry
        # Refused connections, not a timeout: well under one try's timeout.
        assert entry["duration_ms"] < float(PER_TRY_TIMEOUT.rstrip("s")) * 1000, entry


def test_the_mesh_recovers_by_itself_when_the_upstream_returns(faults):
    outage = faults["outage"]
    assert outage["recovered_ok"], outage
    assert outage["healthy_again"], outage


def test_nothing_is_left_running(faults):
    assert faults["left_running"] == []
