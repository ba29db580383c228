"""``meshvis run``: the stack's mesh on loopback with real Envoys, real DNS and a real Prometheus.

Every replica is a host at its own loopback address, running the demo app and its own Envoy
on the deployed ports, started from the bootstrap the stack deploys (localized: only
addresses differ); a real DNS server answers the deployed names (meshvis/local/dns.py). A
DogStatsD receiver stands where the CloudWatch agent stands; Prometheus scrapes every sidecar
as it would on EKS. While the load generators run, a live view shows the golden signals; at
the end everything is stopped and the run is summarised (JSON) and charted (PNG).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal, TypedDict

from rich.console import Console

from components.settings.model import Settings
from dashboards.cloudwatch.prices import stack_monthly_usd
from dashboards.prometheus.scrape import SCRAPE_INTERVAL
from meshvis.local import dashboard_outputs
from meshvis.local import snapshot as charts
from meshvis.local.cloudwatch_agent import (
    DogStatsdReceiver,
    metrics_per_service,
    missing_metrics,
)
from meshvis.local.discovery import discovery_lines, discovery_report
from meshvis.local.entry import PortInUse
from meshvis.local.faults import publish_sidecars
from meshvis.local.golden_signals import (
    WINDOW,
    Signal,
    Values,
    live_health,
    live_signals,
    read_signals,
    without_data,
)
from meshvis.local.live import LiveView
from meshvis.local.mesh import Interrupted, LocalMesh, StartupFailed, death_report
from meshvis.local.outputs import Tolerant, problem, write_atomically, write_text_atomically
from meshvis.local.plan import LocalPlan, NoFreeBlock
from meshvis.local.processes import STOP_GRACE, Child, ProcessGroup
from meshvis.local.prometheus import Prometheus
from meshvis.local.run_lock import RunDirBusy, hold_run_dir, run_folder
from meshvis.local.service_map import edge_lines, mermaid, render_png, service_map
from meshvis.local.summary import (
    access_log_summary,
    add_health,
    mark_partial,
    print_summary,
    summary_json,
    traffic_summary,
)
from meshvis.local.telemetry_cost import telemetry_lines, telemetry_summary
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
# Liveness of what the run reads: Prometheus not answering for this long (each query times
# out after 5 s), or the DogStatsD receiver hearing nothing for three of the sidecars' 10 s
# stats flushes, fails the run with the reason instead of ending it with an empty table.
# Prometheus' patience grows with its targets and with the machine's load (a 150-service
# stack's first queries took 16 s on 2 busy cores); past it, a Prometheus that still uses
# CPU is slow and is given up to SLOW_FACTOR times as long, one that uses none is hung.
PROMETHEUS_DEADLINE = 15.0
PATIENCE_PER_TARGET = 0.1
SLOW_FACTOR = 4.0
BUSY_SHARE = 0.01
RECEIVER_DEADLINE = 30.0
# Exit codes (docs/reliability.md): the run failed; the summary file, or a picture, could not
# be written (everything else was); interrupted while starting.
EXIT_FAILED = 1
EXIT_SUMMARY_FILE = 3
EXIT_PICTURE = 4
EXIT_INTERRUPTED = 130
# Signals that stop the run as Ctrl-C does: `kill`, a closed terminal, Ctrl-\.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class RunRecord(TypedDict, total=False):
    """The summary's ``run`` section, filled in as the run goes: a key is there once known.
    Each dashboard picture written adds ``dashboard_<name>_file`` too."""

    stack: str
    topology: str
    mesh: str
    access_log: Literal["errors", "sampled", "all", "off"]
    started_at: str
    logs: str
    run_dir: str
    entry_urls: list[str]
    entry_url: str
    entry_response: str
    startup_seconds: float
    processes: list[dict[str, object]]
    exit: str
    time_to_first_data_s: float
    time_to_all_signals_s: float
    prometheus_slow_s: int
    traffic_seconds: float
    prometheus_error: str
    summary_file: str
    output_errors: list[str]
    snapshot_file: str
    service_map_file: str


@dataclass(frozen=True)
class RunOptions:
    """What ``run_mesh`` was asked to do (its arguments, the run folder resolved)."""

    settings: Settings
    stack: str
    duration: float | None
    summary: Path | None
    snapshot: Path | None
    entry_port: int | None
    run_dir: Path
    stack_file: Path | None


@dataclass(frozen=True)
class Measured:
    """What a run read before stopping, for the summary and the pictures drawn after it."""

    report: dict
    series: charts.Series
    traffic_start: float
    discovery: dict | None
    dashboards: list[dashboard_outputs.Picture]


def run_mesh(
    settings: Settings,
    *,
    stack: str,
    duration: float | None,
    summary: Path | None,
    snapshot: Path | None,
    entry_port: int | None = None,
    run_dir: Path | None = None,
    stack_file: Path | None = None,
) -> int:
    """Run the mesh until ``duration`` seconds of traffic, Ctrl-C/SIGTERM or a child's death.

    Returns the exit code: 0 after a complete run (duration or Ctrl-C), 1 if the mesh could not
    start, a process died or stopped answering, or another run holds ``run_dir`` or
    ``stack_file``; 3 if the summary file, 4 if a picture could not be written; 130 if
    interrupted while starting. ``entry_port`` fixes the entry service's first ingress port
    (else every port is picked free); logs and generated configuration go to ``run_dir``
    (default ``run_lock.run_folder``), which one run holds at a time, as it holds
    ``stack_file``. Stop signals only set a flag until every output is written.
    """
    stop = threading.Event()
    with stop_on_signals(stop):
        options = RunOptions(
            settings=settings,
            stack=stack,
            duration=duration,
            summary=summary,
            snapshot=snapshot,
            entry_port=entry_port,
            run_dir=(run_dir or run_folder(stack, stack_file)).absolute(),
            stack_file=stack_file,
        )
        return _run_mesh(options, stop)


def _run_mesh(options: RunOptions, stop: threading.Event) -> int:
    settings, stack, duration = options.settings, options.stack, options.duration
    summary, snapshot, run_dir = options.summary, options.snapshot, options.run_dir
    console = run_console()
    # Every sidecar runs the bootstrap of the stack's own topology, stats matcher included
    # (LocalPlan.bootstrap); both telemetry paths run either way (Prometheus scraping as on
    # EKS, DogStatsD as into the ECS CloudWatch agent).
    try:
        mesh = LocalMesh(settings, run_dir, options.entry_port)
    except PortInUse as err:
        print_error(f"{err}: pick another --port or stop what uses it")
        return EXIT_FAILED
    except NoFreeBlock as err:
        print_error(f"{err}: stop one of them")
        return EXIT_FAILED

    run: RunRecord = {
        "stack": stack,
        "topology": settings.topology,
        "mesh": settings.mesh_name,
        "access_log": settings.access_log,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "logs": str(mesh.logs),
        "run_dir": str(run_dir),
    }
    signals = live_signals(settings)
    exit_code, traffic_start = 0, time.time()
    report: dict = {}
    series: charts.Series = {}
    discovery: dict | None = None
    dashboards: list[dashboard_outputs.Picture] = []
    _say_outputs(console, summary, snapshot)
    try:
        with (
            hold_run_dir(run_dir, mesh.group.tag, options.stack_file) as stale,
            stopping(console, mesh),
        ):
            if stale:
                console.print(stale, highlight=False, soft_wrap=True)
            prometheus = mesh_prometheus(mesh)
            try:
                start_mesh(console, mesh, stop, run)
                traffic_start = time.time()
                exit_code, values = _watch(console, mesh, signals, duration, stop, run)
                # After Ctrl-C or a failure, two scrape intervals: a user waits for the stop,
                # and one scrape since the load stopped is what makes the counts final.
                load_stopped = _drain(
                    mesh.load,
                    prometheus,
                    2.5 * SCRAPE_SECONDS
                    if run["exit"] == "duration reached"
                    else 2 * SCRAPE_SECONDS,
                    len(mesh.plan.replicas),
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
                mesh.dns.answering()
                discovery = _with_dns_outages(
                    discovery_report(mesh.plan, mesh.dns.rules), mesh.dns.unanswered
                )
                report, series = _measure(prometheus, settings, signals, values, traffic_start, run)
                # Read now, drawn with the other pictures once everything has stopped.
                dashboards = (
                    []
                    if snapshot is None
                    else dashboard_outputs.collect(
                        settings,
                        stack,
                        None if "prometheus_error" in run else prometheus,
                        mesh.receiver.timed_samples(),
                        (traffic_start, traffic_start + run["traffic_seconds"]),
                    )
                )
                if "prometheus_error" not in run:
                    mark_partial(report, _partial(prometheus, mesh.plan, load_stopped))
            except StartupFailed as err:
                print_error(str(err))
                return EXIT_FAILED
            except Interrupted:
                print_error("interrupted while starting")
                return EXIT_INTERRUPTED
    except (RunDirBusy, PortInUse) as err:
        print_error(str(err))
        return EXIT_FAILED
    if "prometheus_error" in run and not exit_code:
        exit_code = EXIT_FAILED
        print_error(
            f"Prometheus did not answer the summary's queries ({run['prometheus_error']}): "
            "the run has no numbers"
        )
    measured = Measured(report, series, traffic_start, discovery, dashboards)
    outputs = _publish(console, options, mesh, run, measured)  # written after a failure too
    return exit_code or outputs


def _say_outputs(console: Console, summary: Path | None, snapshot: Path | None) -> None:
    """Where the run's files will be, said before it starts (a user knows where to look)."""
    files = [str(p) for p in (summary, snapshot) if p is not None]
    if snapshot is not None:
        files.append(str(_map_path(snapshot)))
        files.append(f"{snapshot.parent / dashboard_outputs.FOLDER}/ (the dashboards' pictures)")
    console.print(
        f"at the end: {', '.join(files)}" if files else "at the end: no files (--no-files)",
        highlight=False,
        soft_wrap=True,
    )


def mesh_prometheus(mesh: LocalMesh) -> Prometheus:
    """The mesh's Prometheus: there once the mesh is entered (``with mesh``)."""
    assert mesh.prometheus is not None, "use LocalMesh as a context manager"
    return mesh.prometheus


def _map_path(snapshot: Path) -> Path:
    """The service map's picture: ``service-map.png`` beside the golden-signals chart."""
    return snapshot.with_name(SERVICE_MAP_FILE)


def _publish(
    console: Console, options: RunOptions, mesh: LocalMesh, run: RunRecord, measured: Measured
) -> int:
    """The run's summary once every process has stopped: metrics the local CloudWatch agent
    received, access-log volume, discovery, traces, the service map and the charts; written
    where asked and printed. The summary first (file, then table), then each picture; a
    failure is one line and loses nothing else. Returns 0, or the exit code of what failed."""
    result = _result(options.settings, options.stack, mesh, run, measured)
    summary = options.summary
    failed = 0
    if summary is not None:
        run["summary_file"] = str(summary)
        if not _write_output(
            "the summary", summary, lambda p: write_text_atomically(p, summary_json(result)), run
        ):
            del run["summary_file"]
            failed = EXIT_SUMMARY_FILE
    print_summary(console, result)
    for line in [
        *edge_lines(result.get("service_map", {"edges": []})),
        *trace_lines(result["traces"]),
        *telemetry_lines(result["telemetry"]),
    ]:
        console.print(line, highlight=False, soft_wrap=True)
    drawn = False
    for label, key, path, draw in _pictures(options, run, measured, result):
        if _write_output(f"the {label}", path, partial(write_atomically, write=draw), run):
            console.print(f"{label}: {path}", highlight=False, soft_wrap=True)
            # A dashboard's key is named by its file (dashboard_<name>_file): a TypedDict
            # cannot declare a pattern of keys.
            run[key] = str(path)  # type: ignore[literal-required]
            drawn = True
        else:
            failed = failed or EXIT_PICTURE
    if (drawn or "output_errors" in run) and summary is not None and "summary_file" in run:
        # The summary (written first) now names the pictures too; if this second write
        # fails, the first one stays.
        _write_output(
            "the summary", summary, lambda p: write_text_atomically(p, summary_json(result)), run
        )
    return failed


def _result(
    settings: Settings, stack: str, mesh: LocalMesh, run: RunRecord, measured: Measured
) -> dict:
    """The summary of a stopped run: what Prometheus said (``measured.report``), with the
    access logs, discovery, traces, the metrics the local CloudWatch agent received and what
    the telemetry costs."""
    metrics = mesh.receiver.metrics()
    report = measured.report
    result = {"stack": stack, **report, "run": run}
    # Every sidecar has stopped, so its access log is complete (Envoy flushes it on exit).
    result["logs"] = access_log_summary(
        mesh.logs, sum(row["requests"] for row in report.get("end_to_end", {}).values())
    )
    if measured.discovery is not None:
        result["discovery"] = measured.discovery
        result["discovery"]["dns_events"] = mesh.dns.events
    result["traces"] = (
        trace_report(settings, mesh.traces.spans())
        if settings.tracing and mesh.traces is not None
        else {"enabled": False}
    )
    result["cloudwatch"] = {
        "metrics": len(metrics),
        # Metrics and, on ecs, every alarm the stack creates (SLO composites included).
        **stack_monthly_usd(settings, len(metrics)),
        # Only an ecs stack has a CloudWatch dashboard and alarms to miss metrics.
        "missing_dashboard_metrics": missing_metrics(settings, metrics)
        if settings.topology == "ecs"
        else [],
        "metrics_per_service": metrics_per_service(metrics),
        "samples_received": mesh.receiver.samples_received(),
    }
    result["telemetry"] = telemetry_summary(
        settings, result["logs"]["bytes_per_request"], result["cloudwatch"]["monthly_usd"]
    )
    return result


_Drawing = tuple[str, str, Path, Callable[[Path], None]]


def _pictures(
    options: RunOptions, run: RunRecord, measured: Measured, result: dict
) -> list[_Drawing]:
    """The pictures to write (what, its ``run`` key, where, how to draw it): the chart, the
    service map and the dashboards, or none without ``--snapshot``."""
    snapshot, settings, stack = options.snapshot, options.settings, options.stack
    if snapshot is None:
        return []
    start = measured.traffic_start
    # Drawn without data too (empty panels): a file asked for is there after every run, and
    # the summary's queries_without_data says why it is empty.
    pictures: list[_Drawing] = [
        (
            "chart",
            "snapshot_file",
            snapshot,
            lambda p: charts.render(
                measured.series,
                start,
                start + run["traffic_seconds"],
                f"{settings.mesh_name} ({stack}): golden signals",
                p,
            ),
        )
    ]
    if result.get("service_map"):
        pictures.append(
            (
                "service map",
                "service_map_file",
                _map_path(snapshot),
                lambda p: render_png(
                    result["service_map"], f"{settings.mesh_name} ({stack}): service map", p
                ),
            )
        )
    # Pictures of the dashboards the stack deploys, beside the chart (docs/dashboards.md).
    pictures += [
        (
            f"dashboard {d.filename}",
            f"dashboard_{Path(d.filename).stem}_file",
            snapshot.parent / dashboard_outputs.FOLDER / d.filename,
            d.draw,
        )
        for d in measured.dashboards
    ]
    return pictures


def _write_output(what: str, path: Path, write: Callable[[Path], object], run: RunRecord) -> bool:
    """``write(path)``; on an OSError one line naming ``what`` and ``path``, recorded in the
    summary's ``run.output_errors``; True if written."""
    try:
        write(path)
    except OSError as err:
        line = problem(f"cannot write {what} {path}", err)
        print_error(line)
        run.setdefault("output_errors", []).append(line)
        return False
    return True


def start_mesh(console: Console, mesh: LocalMesh, stop: threading.Event, run: RunRecord) -> None:
    """The mesh, one probe of the entry service, then the load generators (last, so that no
    request meets a sidecar or app that is still starting); how long it took and what runs
    go into ``run``."""
    plan, prometheus = mesh.plan, mesh_prometheus(mesh)
    started = time.monotonic()
    mesh.start(stop)
    # Where `meshvis fault` finds the sidecars' admin interfaces (meshvis/local/faults.py).
    publish_sidecars(mesh.run_dir, plan)
    run["entry_urls"] = mesh.entry_urls
    run["entry_url"] = mesh.entry_urls[0]
    run["entry_response"] = _probe(run["entry_url"])
    mesh.start_load(stop)
    run["startup_seconds"] = round(time.monotonic() - started, 1)
    run["processes"] = [
        {"name": c.name, "pid": c.pid, "log": str(c.log_path)} for c in mesh.group.children
    ]
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
    signals: list[Signal],
    duration: float | None,
    stop: threading.Event,
    run: RunRecord,
) -> tuple[int, Values]:
    """The main loop: live view until the duration ends, a stop signal, a child's death or
    Prometheus or the DogStatsD receiver no longer answering."""
    group, plan, prometheus = mesh.group, mesh.plan, mesh_prometheus(mesh)
    services = [s.name for s in plan.settings.services]
    started = answered = time.monotonic()
    discovered = started - DISCOVERY_SECONDS
    patience = prometheus_patience(len(plan.replicas))
    busy_at_answer = _cpu_seconds(group, "prometheus")
    values: Values = {}
    health: dict | None = None
    exit_code = 0
    run["exit"] = "interrupted"
    with LiveView(console, services, _caption(plan), duration, prometheus) as view:
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
                health = live_health(plan.settings, values, prometheus.query_series)
                answered = time.monotonic()
                busy_at_answer = _cpu_seconds(group, "prometheus")
            except OSError as err:
                # A slow answer: the next refresh catches up, unless it never comes.
                silent = time.monotonic() - answered
                busy = _cpu_seconds(group, "prometheus") - busy_at_answer
                verdict = prometheus_verdict(silent, busy, patience)
                if verdict == "slow":
                    run["prometheus_slow_s"] = round(silent)
                elif verdict == "hung":
                    run["exit"] = (
                        f"Prometheus ({prometheus.url}) has not answered for {silent:.0f} s "
                        f"({err}) and "
                        + (
                            f"used {busy:.1f} s of CPU meanwhile: too slow for this stack"
                            if busy > BUSY_SHARE * silent
                            else "used no CPU meanwhile: it is hung (stopped?)"
                        )
                    )
                    exit_code = 1
                    break
            _first_data(run, signals, values, elapsed)
            notes = None
            if time.monotonic() - discovered >= DISCOVERY_SECONDS:
                discovered = time.monotonic()
                mesh.dns.answering()
                notes = discovery_lines(
                    _with_dns_outages(discovery_report(plan, mesh.dns.rules), mesh.dns.unanswered)
                )
                notes += _edge_notes(plan.settings, prometheus)
            view.update(values, elapsed, notes, health)
            stop.wait(
                REFRESH_SECONDS
                if duration is None
                else max(0.0, min(REFRESH_SECONDS, duration - elapsed))
            )
        run["traffic_seconds"] = round(time.monotonic() - started, 1)
    if exit_code:
        print_error(run["exit"])
    return exit_code, values


def prometheus_patience(targets: int) -> float:
    """Seconds without an answer from Prometheus before it is looked at as slow or hung:
    more for more targets, and more on a machine loaded beyond its CPUs."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return (PROMETHEUS_DEADLINE + PATIENCE_PER_TARGET * targets) * max(1.0, load)


def prometheus_verdict(silent: float, busy: float, patience: float) -> str:
    """``ok`` within ``patience``; past it ``slow`` while Prometheus used at least
    ``BUSY_SHARE`` of the silence as CPU (``busy`` seconds; it is working, only slowly), for
    at most ``SLOW_FACTOR`` times the patience; else ``hung``."""
    if silent <= patience:
        return "ok"
    if busy > BUSY_SHARE * silent and silent <= SLOW_FACTOR * patience:
        return "slow"
    return "hung"


def _cpu_seconds(group: ProcessGroup, name: str) -> float:
    """CPU seconds the child ``name`` has used (user and system; 0 if it is gone)."""
    try:
        fields = Path(f"/proc/{group.child(name).pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
    except (KeyError, OSError, IndexError, ValueError):
        return 0.0
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def _with_dns_outages(report: dict, unanswered: list[float]) -> dict:
    """The discovery report, with the times the DNS server did not answer as mismatches:
    callers keep what they resolved before, so "resolved exactly" would not be the truth."""
    if unanswered:
        times = ", ".join(f"{t:.0f} s" for t in unanswered[:5])
        report["mismatches"].append(
            f"the DNS server did not answer at {times}"
            + (f" and {len(unanswered) - 5} more times" if len(unanswered) > 5 else "")
            + ": callers kept what they resolved before"
        )
    return report


def _partial(prometheus: Prometheus, plan: LocalPlan, load_stopped: float) -> dict[str, str]:
    """service -> why its figures are partial: a sidecar not scraped (successfully) since
    the load stopped, whose last requests Prometheus therefore never saw."""
    fresh = {
        labels.get("replica")
        for labels, at in prometheus.query_series("timestamp(up == 1)")
        if at > load_stopped
    }
    partial: dict[str, list[str]] = {}
    for replica in plan.replicas:
        if replica.instance not in fresh:
            partial.setdefault(replica.service.name, []).append(replica.instance)
    return {
        service: f"{', '.join(missed)} not scraped after the load stopped (stopped or died)"
        for service, missed in partial.items()
    }


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


def _drain(load: list[Child], prometheus: Prometheus, patience: float, targets: int) -> float:
    """Stop the load, then wait (at most ``patience`` seconds) for one more scrape of every
    sidecar (all ``targets``: one not scraped yet has no ``up`` at all), so the summary's
    counts are final (nothing in flight, nothing unscraped) and match end to end. Returns
    when the load stopped (unix time)."""
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
            scraped = prometheus.query(f"count(timestamp(up) > {stopped:.3f})")
            if scraped.get("", 0) >= targets:
                return stopped
        except OSError:
            return stopped  # Prometheus is gone; _measure reports that
        time.sleep(0.5)
    return stopped


def _first_data(run: RunRecord, signals: list[Signal], values: Values, elapsed: float) -> None:
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
    signals: list[Signal],
    values: Values,
    traffic_start: float,
    run: RunRecord,
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
            {
                name: None if row["requests"] is None else round(row["requests"] / window, 3)
                for name, row in served.items()
            },
        )
        add_health(settings, report)
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
            "rules_loaded": prometheus.rules_loaded,
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
        "healthy hosts = summed over the service's sidecars (each sidecar's count in brackets)"
    )


def run_console() -> Console:
    """The run's console, on a stdout that outlives its reader (a closed terminal, a pipe
    into ``head``): the run goes on and writes its files."""
    stdout = Tolerant(sys.stdout)
    # Piped or captured: a fixed width so tables are not squeezed to 80 columns.
    width = None if stdout.isatty() else 130
    # rich types `file` as typing.IO[str], a nominal class no io.TextIOBase subclass is.
    return Console(file=stdout, width=width)  # type: ignore[arg-type]


def print_error(message: str) -> None:
    """``message`` on stderr as one ``error:`` line, even once stderr's reader is gone."""
    print(f"error: {message}", file=Tolerant(sys.stderr), flush=True)


@contextmanager
def stopping(console: Console, mesh: LocalMesh) -> Iterator[LocalMesh]:
    """``mesh`` as a context manager that says when it stops, and only after, that it has."""
    with mesh:
        try:
            yield mesh
        finally:
            console.print("stopping…", highlight=False)
    console.print("everything is stopped", highlight=False)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
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
