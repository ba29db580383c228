"""``meshvis gameday``: break the local mesh on purpose and check that the right alerts fire.

The stack's mesh starts once (the runner's own start-up: meshvis/local/mesh.py), warms up,
then runs the scenarios of meshvis/local/gameday_plan.py one after another, each followed by
a recovery: inject the fault, watch Prometheus' alerts and the ECS alarms (evaluated locally
by their own definitions, meshvis/local/gameday_watch.py) until what must fire has fired (or
a bound passes), remove the fault, watch until everything it raised has resolved (or a bound
passes). Every wait is bounded and scaled: ``--time-scale N`` divides every alert window,
``for`` and alarm period by N, and with them the game day's own phases; the load generators
send N times their rate, so that each shortened window holds as many requests as a real one.

Services targeted by a fault filter scenario get a zero ``faults`` key if the stack has none
(a filter that injects nothing until the game day raises it through the sidecar's admin
runtime, meshvis/local/faults.py), so any stack can have its game day.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from components.settings.model import Settings
from components.settings.ports import ADMIN_PORT
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.slo import composite_alarm_specs, slo_alarm_specs
from dashboards.prometheus.rules import rules_file
from meshvis.local import gameday_plan as plan
from meshvis.local.alarm_eval import scaled
from meshvis.local.dns import query_a
from meshvis.local.entry import PortInUse
from meshvis.local.faults import FaultError, clear_fault, set_fault
from meshvis.local.gameday_report import judge, write_report
from meshvis.local.gameday_watch import POLL_SECONDS, Watch
from meshvis.local.golden_signals import WINDOW, Signal, live_health, live_signals, read_signals
from meshvis.local.health import causes
from meshvis.local.mesh import Interrupted, LocalMesh, StartupFailed
from meshvis.local.plan import NoFreeBlock
from meshvis.local.processes import ChildExited
from meshvis.local.run_lock import RunDirBusy, hold_run_dir, run_folder
from meshvis.local.runner import (
    RunRecord,
    mesh_prometheus,
    print_error,
    run_console,
    start_mesh,
    stop_on_signals,
    stopping,
)
from meshvis.local.service_map import service_map

DEFAULT_TIME_SCALE = 6.0
# The composites' action: nothing is notified locally, the game day reads their states.
LOCAL_TOPIC = "arn:aws:sns:us-east-1:000000000000:gameday"
# Phases in alert minutes (divided by the time scale): warm-up fills the rules' 5-minute
# windows; a fault lasts until what must fire has fired, at least long enough for a quiet
# expectation to be broken (three alarm periods), at most ten minutes; a recovery until what
# fired has resolved, at least three minutes, at most ten.
WARM_UP_MINUTES = 5
MIN_FAULT_MINUTES = 3
MAX_FAULT_MINUTES = 10
MIN_RECOVERY_MINUTES = 3
MAX_RECOVERY_MINUTES = 10
# The DNS outage lasts this many of the records' TTLs, at least (Envoy re-resolves on TTL).
DNS_OUTAGE_TTLS = 3
READY_TIMEOUT = 30.0


class Stopped(Exception):
    """Ctrl-C or SIGTERM during the game day."""


@dataclass
class _Worst:
    """A fault's worst moment so far: the most alerts firing, when, and the service map then."""

    count: int
    at: float
    map: dict | None = None


def run_gameday(
    settings: Settings,
    *,
    stack: str,
    report: Path,
    time_scale: float = DEFAULT_TIME_SCALE,
    run_dir: Path | None = None,
) -> int:
    """Run every scenario on ``settings``' local mesh; 0 if each met its expectation, 1 if
    one did not or the mesh failed, 130 if interrupted. Writes ``report`` (JSON), its
    Markdown rendering and the pictures beside it."""
    stop = threading.Event()
    with stop_on_signals(stop):
        return _run(settings, stack, report, time_scale, run_dir, stop)


def _run(
    settings: Settings,
    stack: str,
    report: Path,
    time_scale: float,
    run_dir: Path | None,
    stop: threading.Event,
) -> int:
    console = run_console()
    generated_rules = rules_file(settings)
    alarms, composites = _cloudwatch(settings)
    scenarios = plan.scenarios(settings, generated_rules, [*alarms, *composites])
    targets = [s.culprit for s in scenarios if s.fault]
    settings = plan.scaled_load(plan.with_fault_filters(settings, targets), time_scale)
    minute = 60.0 / time_scale
    try:
        mesh = LocalMesh(
            settings,
            (run_dir or run_folder(f"{stack}-gameday")).absolute(),
            rules=plan.scale_rules(rules_file(settings), time_scale),
        )
    except (PortInUse, NoFreeBlock) as err:
        print_error(str(err))
        return 1
    result: dict = {
        "stack": stack,
        "topology": settings.topology,
        "time_scale": time_scale,
        "load_rates": {s.name: s.request_rate for s in settings.services if s.is_load},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cloudwatch_alarms": len(alarms),
        "cloudwatch_composites": len(composites),
        "scenarios": [],
    }
    started = time.monotonic()
    try:
        with hold_run_dir(mesh.run_dir, mesh.group.tag), stopping(console, mesh):
            run: RunRecord = {}
            start_mesh(console, mesh, stop, run)
            prometheus = mesh_prometheus(mesh)
            watch = Watch(
                prometheus,
                mesh.receiver,
                [scaled(a, time_scale) for a in alarms],
                composites,
                every=minute,
            )
            console.print(
                f"game day: {len(scenarios)} scenarios at time scale {time_scale:g} "
                f"(1 alert minute = {minute:g} s); warming up {WARM_UP_MINUTES * minute:g} s",
                highlight=False,
            )
            result["warm_up_s"] = _observe(watch, stop, WARM_UP_MINUTES * minute)
            for scenario in scenarios:
                outcome = _scenario(console, mesh, watch, scenario, minute, stop)
                result["scenarios"].append(outcome)
            result["events"] = watch.events()
            result["duration_s"] = round(time.monotonic() - started, 1)
            write_report(result, report, settings, prometheus, live_signals(settings))
    except (RunDirBusy, StartupFailed, PortInUse, FaultError, ChildExited, TimeoutError) as err:
        # Every process has stopped by now (the mesh's context manager).
        print_error(str(err))
        return 1
    except (Interrupted, Stopped):
        print_error("interrupted")
        return 130
    passed = all(s["passed"] for s in result["scenarios"])
    for s in result["scenarios"]:
        console.print(
            f"{'PASS' if s['passed'] else 'FAIL'} {s['name']} ({s['culprit']}): "
            f"detected in {s['time_to_detect_s']} s, recovered in {s['time_to_recover_s']} s"
            + "".join(f"; {problem}" for problem in s["problems"]),
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"game day {'passed' if passed else 'FAILED'} in {result['duration_s']} s: {report}",
        highlight=False,
    )
    return 0 if passed else 1


def _cloudwatch(settings: Settings) -> tuple[list[dict], list[dict]]:
    """The metric alarms and composite alarms the ECS program registers (none on eks)."""
    if settings.topology != "ecs":
        return [], []
    return (
        [*alarm_specs(settings), *slo_alarm_specs(settings)],
        composite_alarm_specs(settings, LOCAL_TOPIC),
    )


def _observe(
    watch: Watch,
    stop: threading.Event,
    seconds: float,
    until: Callable[[float], bool] | None = None,
    each: Callable[[], None] | None = None,
) -> float:
    """Poll ``watch`` (and call ``each()``) for ``seconds``, then until ``until(elapsed)``
    holds (it bounds itself); returns how long it took."""
    began = time.monotonic()
    while True:
        if stop.is_set():
            raise Stopped()
        watch.poll()
        if each is not None:
            each()
        elapsed = time.monotonic() - began
        if elapsed >= seconds and (until is None or until(elapsed)):
            return round(elapsed, 1)
        stop.wait(POLL_SECONDS)


def _scenario(
    console: Console,
    mesh: LocalMesh,
    watch: Watch,
    scenario: plan.Scenario,
    minute: float,
    stop: threading.Event,
) -> dict:
    """Inject, watch, heal, watch again; the scenario's judged outcome."""
    signals = live_signals(mesh.settings)
    console.print(f"scenario {scenario.name}: {scenario.description}", highlight=False)
    expected = scenario.expected_fire
    fault_start = time.time()
    _inject(mesh, scenario)
    worst = _Worst(count=-1, at=fault_start)

    def track_worst() -> None:
        count = watch.firing_now()
        if count > worst.count:
            worst.count, worst.at, worst.map = count, time.time(), _map(mesh, signals)

    def fired_all(elapsed: float) -> bool:
        fired = watch.fired_between(fault_start, time.time())
        done = all(any(plan.matches(e, x) for e in fired) for x in expected)
        return done or elapsed >= MAX_FAULT_MINUTES * minute

    min_fault = max(MIN_FAULT_MINUTES * minute, _dns_outage_s(mesh, scenario))
    _observe(watch, stop, min_fault, fired_all, track_worst)
    fault_end = time.time()
    _heal(mesh, scenario)

    healthy: dict[str, float | None] = {"at": None}
    # What detected the fault must clear, but for the SLO alerts: they reset after their short
    # window by design (the Workbook's reset time: up to 30 alert minutes), beyond this bound.
    clearing = [x for x in expected if "slo" not in x]

    def track_health() -> None:
        if healthy["at"] is None and _all_healthy(mesh, signals):
            healthy["at"] = time.time()

    def recovered(elapsed: float) -> bool:
        waiting = watch.unresolved(fault_start, clearing) if clearing else []
        done = healthy["at"] is not None and not waiting
        return done or elapsed >= MAX_RECOVERY_MINUTES * minute

    _observe(watch, stop, MIN_RECOVERY_MINUTES * minute, recovered, track_health)
    outcome = judge(scenario, watch, fault_start, fault_end, time.time(), healthy["at"])
    outcome["worst_moment_s"] = round(worst.at - fault_start, 1)
    outcome["service_map"] = worst.map
    outcome["health_at_worst"] = (worst.map or {}).get("health", {})
    console.print(
        f"  {'passed' if outcome['passed'] else 'FAILED'}: fired "
        + (", ".join(f"{e['alert']}({e['service']})" for e in outcome["fired"]) or "nothing"),
        highlight=False,
        soft_wrap=True,
    )
    return outcome


def _map(mesh: LocalMesh, signals: list[Signal]) -> dict | None:
    """The service map now, its nodes coloured by each service's health over the live
    window (None if Prometheus does not answer in time)."""
    prometheus = mesh_prometheus(mesh)
    query_series = prometheus.query_series
    try:
        values = read_signals(prometheus.query, signals)
        graph = service_map(
            mesh.settings,
            query_series,
            WINDOW,
            {name: row.get("requests_per_s") for name, row in values.items()},
        )
        health = live_health(mesh.settings, values, query_series)
    except OSError:
        return None
    blamed = causes(health)
    for node in graph["nodes"]:
        if node["id"] in health:
            node["health"] = health[node["id"]]["state"]
            node["cause"] = node["id"] in blamed
    graph["health"] = {name: verdict["state"] for name, verdict in health.items()}
    return graph


def _all_healthy(mesh: LocalMesh, signals: list[Signal]) -> bool:
    """Whether every app service is ``ok`` over the live window (health model)."""
    try:
        prometheus = mesh_prometheus(mesh)
        values = read_signals(prometheus.query, signals)
        health = live_health(mesh.settings, values, prometheus.query_series)
    except OSError:
        return False
    return all(verdict["state"] == "ok" for verdict in health.values())


def _dns_outage_s(mesh: LocalMesh, scenario: plan.Scenario) -> float:
    return DNS_OUTAGE_TTLS * mesh.dns.rules.ttl if scenario.kind == "stop-dns" else 0.0


def _inject(mesh: LocalMesh, scenario: plan.Scenario) -> None:
    """Do what the scenario says to its culprit."""
    replicas = [r for r in mesh.plan.replicas if r.service.name == scenario.culprit]
    if scenario.kind in ("abort", "delay"):
        for replica in replicas:
            set_fault(replica.address, ADMIN_PORT, **scenario.fault)
    elif scenario.kind in ("kill-one", "kill-all"):
        for replica in replicas[:1] if scenario.kind == "kill-one" else replicas:
            # As a crash: SIGKILL, no drain (the app first: the sidecar then has nothing).
            mesh.child(f"{replica.instance} app").kill()
            mesh.child(f"{replica.instance} envoy").kill()
    elif scenario.kind == "stop-dns":
        mesh.child("dns").stop()


def _heal(mesh: LocalMesh, scenario: plan.Scenario) -> None:
    """Undo the scenario's fault: clear the runtime overrides, restart what was stopped."""
    replicas = [r for r in mesh.plan.replicas if r.service.name == scenario.culprit]
    if scenario.kind in ("abort", "delay"):
        for replica in replicas:
            clear_fault(replica.address, ADMIN_PORT)
    elif scenario.kind in ("kill-one", "kill-all"):
        for replica in replicas[:1] if scenario.kind == "kill-one" else replicas:
            mesh.restart(f"{replica.instance} envoy")
            mesh.restart(f"{replica.instance} app")
        for replica in replicas[:1] if scenario.kind == "kill-one" else replicas:
            mesh.wait_ready(replica, READY_TIMEOUT)
    elif scenario.kind == "stop-dns":
        mesh.dns.child = mesh.restart("dns")
        name = next(iter(mesh.dns.records()))
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers(name, mesh.plan.dns_server):
            if time.monotonic() > deadline:
                raise StartupFailed(f"the DNS server did not answer {name} after its restart")
            time.sleep(0.1)


def _answers(name: str, server: tuple[str, int]) -> bool:
    try:
        return bool(query_a(name, server, timeout=0.5))
    except OSError:
        return False
