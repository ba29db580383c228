"""``meshvis run``: the stack's mesh on loopback with real Envoys, real DNS and a real Prometheus.

Every replica is a host at its own loopback address, running the demo app and its own Envoy
on the deployed ports, started from the bootstrap the stack deploys (localized: only
addresses differ); a real DNS server answers the deployed names (meshvis/local/dns.py). A DogStatsD receiver stands where the
CloudWatch agent stands; Prometheus scrapes every sidecar as it would on EKS. While the load
generators run, a live view shows the golden signals; at the end everything is stopped and the
run is summarised (JSON) and charted (PNG).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from components.settings.model import Settings
from dashboards.prometheus.scrape import SCRAPE_INTERVAL
from meshvis.local import snapshot as charts
from meshvis.local.cloudwatch_agent import (
    DogStatsdReceiver,
    metrics_per_service,
    missing_metrics,
    monthly_cost_usd,
)
from meshvis.local.discovery import discovery_lines, discovery_report
from meshvis.local.entry import PortInUse
from meshvis.local.live import LiveView
from meshvis.local.mesh import Interrupted, LocalMesh, StartupFailed, death_report
from meshvis.local.plan import LocalPlan, NoFreeBlock
from meshvis.local.processes import STOP_GRACE, Child
from meshvis.local.prometheus import Prometheus
from meshvis.local.run_lock import RunDirBusy, hold_run_dir
from meshvis.local.service_map import edge_lines, mermaid, render_png, service_map
from meshvis.local.signals import WINDOW, Values, live_signals, read_signals, without_data
from meshvis.local.summary import (
    access_log_summary,
    print_summary,
    traffic_summary,
    write_summary,
)
from meshvis.local.traces import trace_lines, trace_report

REFRESH_SECONDS = 2.0
# Envoy's OpenTelemetry tracer exports every 5 s: a run waits until the receiver has heard
# nothing for a little longer than that, at most the second figure.
TRACE_QUIET_SECONDS = 6.0
TRACE_WAIT_SECONDS = 15.0
SERVICE_MAP_FILE = "service-map.png"
# How often the live view asks every caller's Envoy which hosts it resolved.
DISCOVERY_SECONDS = 5.0
SCRAPE_SECONDS = float(SCRAPE_INTERVAL.rstrip("s"))
OUT = Path("out")
# Liveness of what the run reads: Prometheus not answering for this long (each query times
# out after 5 s), or the DogStatsD receiver hearing nothing for three of the sidecars' 10 s
# stats flushes, fails the run with the reason instead of ending it with an empty table.
PROMETHEUS_DEADLINE = 15.0
RECEIVER_DEADLINE = 30.0
# Signals that stop the run as Ctrl-C does: `kill`, a closed terminal, Ctrl-\.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def run_mesh(
    settings: Settings,
    *,
    stack: str,
    duration: float | None,
    summary: Path | None,
    snapshot: Path | None,
    entry_port: int | None = None,
    run_dir: Path | None = None,
) -> int:
    """Run the mesh until ``duration`` seconds of traffic, Ctrl-C/SIGTERM or a child's death.

    Returns the exit code: 0 after a complete run (duration or Ctrl-C), 1 if the mesh could not
    start, a process died or stopped answering, or another run holds ``run_dir``; 130 if
    interrupted while starting. ``entry_port`` fixes the entry service's first ingress port
    (else every port is picked free); logs and generated configuration go to ``run_dir``
    (default ``out/run-<stack>``), which one run holds at a time.
    """
    console = Console()
    if not console.is_terminal:
        # Piped or captured: a fixed width so tables are not squeezed to 80 columns.
        console = Console(width=130)
    run_dir = run_dir or OUT / f"run-{stack}"
    # Every sidecar runs the bootstrap of the stack's own topology, stats matcher included
    # (LocalPlan.bootstrap); both telemetry paths run either way (Prometheus scraping as on
    # EKS, DogStatsD as into the ECS CloudWatch agent).
    try:
        mesh = LocalMesh(settings, run_dir, entry_port)
    except PortInUse as err:
        _error(f"{err}: pick another --port or stop what uses it")
        return 1
    except NoFreeBlock as err:
        _error(f"{err}: stop one of them")
        return 1

    run = {
        "stack": stack,
        "topology": settings.topology,
        "mesh": settings.mesh_name,
        "access_log": settings.access_log,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "logs": str(mesh.logs),
        "run_dir": str(run_dir),
    }
    stop = threading.Event()
    signals = live_signals(settings)
    exit_code, report, series, traffic_start = 0, {}, {}, time.time()
    discovery: dict | None = None
    try:
        with (
            _stop_on_signals(stop),
            hold_run_dir(run_dir, mesh.group.tag) as stale,
            _stopping(console, mesh),
        ):
            if stale:
                console.print(stale, highlight=False, soft_wrap=True)
            prometheus = mesh.prometheus
            try:
                started = time.monotonic()
                _start_mesh(console, mesh, stop, run)
                run["startup_seconds"] = round(time.monotonic() - started, 1)
                run["processes"] = [
                    {"name": c.name, "pid": c.pid, "log": str(c.log_path)}
                    for c in mesh.group.children
                ]
                traffic_start = time.time()
                exit_code, values = _watch(console, mesh, signals, duration, stop, run)
                # After Ctrl-C or a failure, one scrape interval: a user waits for the stop.
                _drain(
                    mesh.load,
                    prometheus,
                    2.5 * SCRAPE_SECONDS if run["exit"] == "duration reached" else SCRAPE_SECONDS,
                )
                if (
                    settings.tracing
                    and mesh.traces is not None
                    and run["exit"] == "duration reached"
                ):
                    # The sidecars export their spans every few seconds: take the last ones.
                    # Not after Ctrl-C: the user waits for the stop, and the scrape interval
                    # just drained already spans Envoy's 5 s span flush.
                    mesh.traces.wait_quiet(TRACE_QUIET_SECONDS, TRACE_WAIT_SECONDS)
                discovery = discovery_report(mesh.plan, mesh.dns.rules)
                report, series = _measure(prometheus, settings, signals, values, traffic_start, run)
            except StartupFailed as err:
                _error(str(err))
                return 1
            except Interrupted:
                _error("interrupted while starting")
                return 130
    except RunDirBusy as err:
        _error(str(err))
        return 1
    if "prometheus_error" in run and not exit_code:
        exit_code = 1
        _error(
            f"Prometheus did not answer the summary's queries ({run['prometheus_error']}): "
            "the run has no numbers"
        )
    _publish(
        console,
        settings,
        stack,
        mesh,
        run,
        report,
        series,
        traffic_start,
        discovery,
        summary,
        snapshot,
    )
    return exit_code


def _publish(
    console: Console,
    settings: Settings,
    stack: str,
    mesh: LocalMesh,
    run: dict,
    report: dict,
    series: dict,
    traffic_start: float,
    discovery: dict | None,
    summary: Path | None,
    snapshot: Path | None,
) -> None:
    """The run's summary once every process has stopped: metrics the local CloudWatch agent
    received, access-log volume, discovery, traces, the service map and the charts; written
    where asked and printed."""
    metrics = mesh.receiver.metrics()

    result = {"stack": stack, **report, "run": run}
    # Every sidecar has stopped, so its access log is complete (Envoy flushes it on exit).
    result["logs"] = access_log_summary(
        mesh.logs, sum(row["requests"] for row in report.get("end_to_end", {}).values())
    )
    if discovery is not None:
        result["discovery"] = discovery
        result["discovery"]["dns_events"] = mesh.dns.events
    result["traces"] = (
        trace_report(settings, mesh.traces.spans())
        if settings.tracing and mesh.traces is not None
        else {"enabled": False}
    )
    if snapshot is not None and result.get("service_map"):
        picture = snapshot.with_name(SERVICE_MAP_FILE)
        render_png(result["service_map"], f"{settings.mesh_name} ({stack}): service map", picture)
        run["service_map_file"] = str(picture)
    result["cloudwatch"] = {
        "metrics": len(metrics),
        "monthly_usd": monthly_cost_usd(len(metrics)),
        # Only an ecs stack has a CloudWatch dashboard and alarms to miss metrics.
        "missing_dashboard_metrics": missing_metrics(settings, metrics)
        if settings.topology == "ecs"
        else [],
        "metrics_per_service": metrics_per_service(metrics),
        "samples_received": mesh.receiver.samples_received(),
    }
    if snapshot is not None and series:
        charts.render(
            series,
            traffic_start,
            traffic_start + run["traffic_seconds"],
            f"{settings.mesh_name} ({stack}): golden signals",
            snapshot,
        )
        run["snapshot_file"] = str(snapshot)
    if summary is not None:
        run["summary_file"] = str(summary)
        write_summary(result, summary)
    print_summary(console, result)
    for line in [
        *edge_lines(result.get("service_map", {"edges": []})),
        *trace_lines(result["traces"]),
    ]:
        console.print(line, highlight=False, soft_wrap=True)


def _start_mesh(console: Console, mesh: LocalMesh, stop: threading.Event, run: dict) -> None:
    """The mesh, one probe of the entry service, then the load generators (last, so that no
    request meets a sidecar or app that is still starting)."""
    plan, prometheus = mesh.plan, mesh.prometheus
    mesh.start(stop)
    run["entry_urls"] = mesh.entry_urls
    run["entry_url"] = mesh.entry_urls[0]
    run["entry_response"] = _probe(run["entry_url"])
    mesh.start_load(stop)
    console.print(
        f"mesh {plan.settings.mesh_name}: {len(plan.replicas)} sidecars, "
        f"{len(mesh.group.children)} processes, logs in {mesh.logs}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"entry ({plan.entry_service}): {run['entry_url']}  ->  {run['entry_response']}",
        highlight=False,
        soft_wrap=True,
    )
    if len(mesh.entry_urls) > 1:
        console.print(
            f"every {plan.entry_service} replica: {', '.join(plan.entry_urls)}",
            highlight=False,
            soft_wrap=True,
        )
    names = list(mesh.dns.records())
    console.print(
        f"DNS: {plan.dns_server[0]}:{plan.dns_server[1]} answers {len(names)} names "
        f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"Prometheus: {prometheus.url}", highlight=False, soft_wrap=True)


def _probe(url: str) -> str:
    """One request to the entry service, as ``curl`` would send it; its answer."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode().strip()
    except OSError as err:
        raise StartupFailed(f"the entry service did not answer {url}: {err}") from None


def _watch(
    console: Console,
    mesh: LocalMesh,
    signals: list,
    duration: float | None,
    stop: threading.Event,
    run: dict,
) -> tuple[int, Values]:
    """The main loop: live view until the duration ends, a stop signal, a child's death or
    Prometheus or the DogStatsD receiver no longer answering."""
    group, plan, prometheus = mesh.group, mesh.plan, mesh.prometheus
    services = [s.name for s in plan.settings.services]
    started = answered = time.monotonic()
    discovered = started - DISCOVERY_SECONDS
    values: Values = {}
    exit_code = 0
    run["exit"] = "interrupted"
    with LiveView(console, services, _caption(plan), duration) as view:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            hung = _receiver_problem(mesh.receiver)
            if group.dead() or hung:
                run["exit"] = hung or death_report(group, f"after {elapsed:.0f} s of traffic")
                exit_code = 1
                break
            if duration is not None and elapsed >= duration:
                run["exit"] = "duration reached"
                break
            try:
                values = read_signals(prometheus.query, signals)
                answered = time.monotonic()
            except OSError as err:
                # A slow answer: the next refresh catches up, unless it never comes.
                silent = time.monotonic() - answered
                if silent > PROMETHEUS_DEADLINE:
                    run["exit"] = (
                        f"Prometheus ({prometheus.url}) has not answered for {silent:.0f} s ({err})"
                    )
                    exit_code = 1
                    break
            _first_data(run, signals, values, elapsed)
            notes = None
            if time.monotonic() - discovered >= DISCOVERY_SECONDS:
                discovered = time.monotonic()
                notes = discovery_lines(discovery_report(plan, mesh.dns.rules))
                notes += _edge_notes(plan.settings, prometheus)
            view.update(values, elapsed, notes)
            stop.wait(
                REFRESH_SECONDS
                if duration is None
                else max(0.0, min(REFRESH_SECONDS, duration - elapsed))
            )
        run["traffic_seconds"] = round(time.monotonic() - started, 1)
    if exit_code:
        _error(run["exit"])
    return exit_code, values


def _edge_notes(settings: Settings, prometheus: Prometheus) -> list[str]:
    """The service map's edges over the live view's window, one line each (none while
    Prometheus does not answer: the next refresh tries again)."""
    try:
        graph = service_map(settings, prometheus.query_series, WINDOW, {})
    except OSError:
        return []
    return edge_lines(graph)


def _receiver_problem(receiver: DogStatsdReceiver) -> str | None:
    """Why the DogStatsD receiver (the CloudWatch agent's stand-in) is not doing its job, if
    it is not: its thread ended, or nothing arrived for ``RECEIVER_DEADLINE`` seconds."""
    if not receiver.running:
        return f"the DogStatsD receiver stopped ({receiver.failure!r})"
    silent = receiver.silent_for()
    if silent > RECEIVER_DEADLINE:
        return f"the DogStatsD receiver has received nothing for {silent:.0f} s"
    return None


def _drain(load: list[Child], prometheus: Prometheus, patience: float) -> None:
    """Stop the load, then wait (at most ``patience`` seconds) for one more scrape of every
    sidecar, so the summary's counts are final (nothing in flight, nothing unscraped) and
    match end to end."""
    for child in load:
        child.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for child in load:
        child.finish(deadline)
    stopped = time.time()
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            # Absent until every target has been scraped since the load stopped.
            if prometheus.query(f"min(timestamp(up)) > {stopped:.3f}"):
                return
        except OSError:
            return  # Prometheus is gone; _measure reports that
        time.sleep(0.5)


def _first_data(run: dict, signals: list, values: Values, elapsed: float) -> None:
    """Record when traffic first showed up, and when every live-view query first had data."""
    if "time_to_first_data_s" not in run and any(
        "requests_per_s" in row for row in values.values()
    ):
        run["time_to_first_data_s"] = round(elapsed, 1)
    if "time_to_all_signals_s" not in run and not without_data(signals, values):
        run["time_to_all_signals_s"] = round(elapsed, 1)


def _measure(
    prometheus: Prometheus,
    settings: Settings,
    signals: list,
    values: Values,
    traffic_start: float,
    run: dict,
) -> tuple[dict, charts.Series]:
    """Everything the summary and the chart need from Prometheus, read while it still runs."""
    try:
        end = time.time()
        report = traffic_summary(prometheus, settings, end - traffic_start)
        # The whole run as the window (as traffic_summary's), for nodes and edges alike.
        window = max(10, int(end - traffic_start) + 5)
        served = {**report["services"], **report["end_to_end"]}
        report["service_map"] = service_map(
            settings,
            prometheus.query_series,
            f"{window}s",
            {name: round(row["requests"] / window, 3) for name, row in served.items()},
        )
        report["service_map"]["mermaid"] = mermaid(report["service_map"])
        final = read_signals(prometheus.query, signals)
        report["prometheus"] = {
            "queries": {f"{s.key} ({', '.join(s.services)})": s.expr for s in signals},
            "queries_without_data": without_data(signals, final),
            "alerts": sorted(
                f"{labels.get('alertname')} {labels.get('alertstate')} "
                f"({labels.get('service', labels.get('envoy_cluster_name', ''))})"
                for labels, _ in prometheus.query_series("ALERTS")
            ),
            "rules_with_errors": prometheus.rule_errors(),
        }
        return report, charts.collect(prometheus, signals, traffic_start, end)
    except OSError as err:
        # Prometheus itself died: the run is reported without its numbers.
        run["prometheus_error"] = str(err)
        return {
            "prometheus": {"queries": {}, "queries_without_data": without_data(signals, values)}
        }, {}


def _caption(plan: LocalPlan) -> str:
    """What runs, under the live table: replicas, load rates, the entry service."""
    parts = [
        f"{s.name} {s.request_rate:g} req/s"
        if s.is_load
        else f"{s.name} x{s.replicas}{' (stand-in app)' if s.image else ''}"
        for s in plan.settings.services
    ]
    return (
        f"{', '.join(parts)}; entry {plan.entry_service}. ok % = answers other than 5xx; "
        "healthy hosts = summed over the service's sidecars"
    )


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


@contextmanager
def _stopping(console: Console, mesh: LocalMesh) -> Iterator[LocalMesh]:
    """``mesh`` as a context manager that says when it stops, and only after, that it has."""
    with mesh:
        try:
            yield mesh
        finally:
            console.print("stopping…", highlight=False)
    console.print("everything is stopped", highlight=False)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM, SIGHUP (the terminal closed) and SIGQUIT (Ctrl-\\) set ``stop``
    instead of raising mid-way through starting a process (which could leave that process
    untracked) or, for the last two, ending the runner with its children still running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
