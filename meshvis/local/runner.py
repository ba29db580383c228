"""``meshvis run``: the stack's mesh on 127.0.0.1 with real Envoys and a real Prometheus.

Every replica runs the demo app and its own Envoy started from the bootstrap the stack
deploys (localized: only addresses and ports differ). A DogStatsD receiver stands where the
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
from meshvis.local.cloudwatch_agent import metrics_per_service, missing_metrics, monthly_cost_usd
from meshvis.local.live import LiveView
from meshvis.local.mesh import Interrupted, LocalMesh, StartupFailed, death_report
from meshvis.local.plan import LocalPlan, PortInUse
from meshvis.local.processes import Child, ProcessGroup
from meshvis.local.prometheus import Prometheus
from meshvis.local.signals import Values, live_signals, read_signals, without_data
from meshvis.local.summary import print_summary, traffic_summary, write_summary

REFRESH_SECONDS = 2.0
SCRAPE_SECONDS = float(SCRAPE_INTERVAL.rstrip("s"))
OUT = Path("out")


def run_mesh(settings: Settings, *, stack: str, duration: float | None, summary: Path | None,
             snapshot: Path | None, entry_port: int | None = None,
             run_dir: Path | None = None) -> int:
    """Run the mesh until ``duration`` seconds of traffic, Ctrl-C/SIGTERM or a child's death.

    Returns the exit code: 0 after a complete run (duration or Ctrl-C), 1 if the mesh could not
    start or a process died, 130 if interrupted while starting. ``entry_port`` fixes the
    entry service's first ingress port (else every port is picked free); logs and generated
    configuration go to ``run_dir`` (default ``out/run-<stack>``).
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
    plan = mesh.plan

    run = {"stack": stack, "topology": settings.topology, "mesh": settings.mesh_name,
           "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "logs": str(mesh.logs), "run_dir": str(run_dir)}
    stop = threading.Event()
    signals = live_signals(settings)
    exit_code, report, series, traffic_start = 0, {}, {}, time.time()
    with _stop_on_signals(stop), mesh:
        prometheus = mesh.prometheus
        try:
            started = time.monotonic()
            _start_mesh(console, mesh, stop, run)
            run["startup_seconds"] = round(time.monotonic() - started, 1)
            run["processes"] = [{"name": c.name, "pid": c.pid, "log": str(c.log_path)}
                                for c in mesh.group.children]
            traffic_start = time.time()
            exit_code, values = _watch(console, mesh.group, plan, prometheus, signals, duration,
                                       stop, run)
            _drain(mesh.load, prometheus)
            report, series = _measure(prometheus, settings, signals, values, traffic_start, run)
        except StartupFailed as err:
            _error(str(err))
            return 1
        except Interrupted:
            _error("interrupted while starting; everything is stopped")
            return 130
    metrics = mesh.receiver.metrics()

    result = {"stack": stack, **report, "run": run}
    result["cloudwatch"] = {
        "metrics": len(metrics),
        "monthly_usd": monthly_cost_usd(len(metrics)),
        # Only an ecs stack has a CloudWatch dashboard and alarms to miss metrics.
        "missing_dashboard_metrics": missing_metrics(settings, metrics)
        if settings.topology == "ecs" else [],
        "metrics_per_service": metrics_per_service(metrics),
        "samples_received": mesh.receiver.samples_received(),
    }
    if snapshot is not None and series:
        charts.render(series, traffic_start, traffic_start + run["traffic_seconds"],
                      f"{settings.mesh_name} ({stack}): golden signals", snapshot)
        run["snapshot_file"] = str(snapshot)
    if summary is not None:
        run["summary_file"] = str(summary)
        write_summary(result, summary)
    print_summary(console, result)
    return exit_code


def _start_mesh(console: Console, mesh: LocalMesh, stop: threading.Event, run: dict) -> None:
    """The mesh, one probe of the entry service, then the load generators (last, so that no
    request meets a sidecar or app that is still starting)."""
    plan, prometheus = mesh.plan, mesh.prometheus
    mesh.start(stop)
    run["entry_urls"] = plan.entry_urls
    run["entry_url"] = plan.entry_urls[0]
    run["entry_response"] = _probe(run["entry_url"])
    mesh.start_load(stop)
    console.print(f"mesh {plan.settings.mesh_name}: {len(plan.replicas)} sidecars, "
                  f"{len(mesh.group.children)} processes, logs in {mesh.logs}", highlight=False,
                  soft_wrap=True)
    console.print(f"entry ({plan.entry_service}): {run['entry_url']}  ->  "
                  f"{run['entry_response']}", highlight=False, soft_wrap=True)
    if len(plan.entry_urls) > 1:
        console.print(f"every {plan.entry_service} replica: {', '.join(plan.entry_urls)}",
                      highlight=False, soft_wrap=True)
    console.print(f"Prometheus: {prometheus.url}", highlight=False, soft_wrap=True)


def _probe(url: str) -> str:
    """One request to the entry service, as ``curl`` would send it; its answer."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode().strip()
    except OSError as err:
        raise StartupFailed(f"the entry service did not answer {url}: {err}") from None


def _watch(console: Console, group: ProcessGroup, plan: LocalPlan, prometheus: Prometheus,
           signals: list, duration: float | None, stop: threading.Event,
           run: dict) -> tuple[int, Values]:
    """The main loop: live view until the duration ends, a stop signal or a child's death."""
    services = [s.name for s in plan.settings.services]
    started = time.monotonic()
    values: Values = {}
    exit_code = 0
    run["exit"] = "interrupted"
    with LiveView(console, services, _caption(plan), duration) as view:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if group.dead():
                run["exit"] = death_report(group, f"after {elapsed:.0f} s of traffic")
                exit_code = 1
                break
            if duration is not None and elapsed >= duration:
                run["exit"] = "duration reached"
                break
            try:
                values = read_signals(prometheus.query, signals)
            except OSError:
                # A slow answer: the next refresh catches up (a dead Prometheus is a dead child).
                pass
            _first_data(run, signals, values, elapsed)
            view.update(values, elapsed)
            stop.wait(REFRESH_SECONDS if duration is None
                      else max(0.0, min(REFRESH_SECONDS, duration - elapsed)))
        run["traffic_seconds"] = round(time.monotonic() - started, 1)
    if exit_code:
        _error(run["exit"])
    return exit_code, values


def _drain(load: list[Child], prometheus: Prometheus) -> None:
    """Stop the load, then wait for one more scrape of every sidecar, so the summary's counts
    are final (nothing in flight, nothing unscraped) and match end to end."""
    for child in load:
        child.stop()
    stopped = time.time()
    deadline = time.monotonic() + 2.5 * SCRAPE_SECONDS
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
            "requests_per_s" in row for row in values.values()):
        run["time_to_first_data_s"] = round(elapsed, 1)
    if "time_to_all_signals_s" not in run and not without_data(signals, values):
        run["time_to_all_signals_s"] = round(elapsed, 1)


def _measure(prometheus: Prometheus, settings: Settings, signals: list, values: Values,
             traffic_start: float, run: dict) -> tuple[dict, charts.Series]:
    """Everything the summary and the chart need from Prometheus, read while it still runs."""
    try:
        end = time.time()
        report = traffic_summary(prometheus, settings, end - traffic_start)
        final = read_signals(prometheus.query, signals)
        report["prometheus"] = {
            "queries": {f"{s.key} ({', '.join(s.services)})": s.expr for s in signals},
            "queries_without_data": without_data(signals, final),
            "alerts": sorted(f"{labels.get('alertname')} {labels.get('alertstate')} "
                             f"({labels.get('service', labels.get('envoy_cluster_name', ''))})"
                             for labels, _ in prometheus.query_series("ALERTS")),
            "rules_with_errors": prometheus.rule_errors(),
        }
        return report, charts.collect(prometheus, signals, traffic_start, end)
    except OSError as err:
        # Prometheus itself died: the run is reported without its numbers.
        run["prometheus_error"] = str(err)
        return {"prometheus": {"queries": {}, "queries_without_data":
                               without_data(signals, values)}}, {}


def _caption(plan: LocalPlan) -> str:
    """What runs, under the live table: replicas, load rates, the entry service."""
    parts = [f"{s.name} {s.request_rate:g} req/s" if s.is_load else
             f"{s.name} x{s.replicas}{' (stand-in app)' if s.image else ''}"
             for s in plan.settings.services]
    return (f"{', '.join(parts)}; entry {plan.entry_service}. ok % = answers other than 5xx; "
            "healthy hosts = summed over the service's sidecars")


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop`` instead of raising mid-way through starting a process
    (which could leave that process untracked)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
