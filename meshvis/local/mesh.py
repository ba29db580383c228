"""The local mesh as an object: start it, reach into its processes, stop all of it.

``meshvis run`` and the fault tests use the same start-up, so a fault injected by a test
meets exactly the mesh a user runs::

    with LocalMesh(settings, run_dir) as mesh:
        mesh.start()                 # apps, sidecars, Prometheus; waits until all are ready
        mesh.start_load()            # the load generators, last
        mesh.child("greeting-1 envoy").kill()
        mesh.restart("greeting-1 envoy")

Leaving the ``with`` block stops every process (also on an exception), removes Prometheus's
data and stops the DogStatsD receiver; what the receiver recorded stays readable.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from pathlib import Path

from components.settings.model import Settings
from components.sidecar.demo_app import DEMO_APP
from dashboards.prometheus.rules import rules_file
from meshvis.local.cloudwatch_agent import DogStatsdReceiver
from meshvis.local.plan import LocalReplica, plan_mesh
from meshvis.local.processes import Child, ChildExited, ProcessGroup, wait_http
from meshvis.local.prometheus import Prometheus

STARTUP_TIMEOUT = 30.0


class StartupFailed(RuntimeError):
    """The mesh could not be brought up; the message is one line for the user."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the mesh was starting."""


class LocalMesh:
    """Every process of one local run of ``settings``' mesh, on 127.0.0.1.

    Children are named ``<service>-<n> envoy`` and ``<service>-<n> app`` (and
    ``prometheus``). Planning happens in the constructor, so a taken ``entry_port`` raises
    ``topology.PortInUse`` before anything is written or started.
    """

    def __init__(self, settings: Settings, run_dir: Path, entry_port: int | None = None) -> None:
        self.settings = settings
        self.plan = plan_mesh(settings, entry_port)
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.group = ProcessGroup()
        self.receiver = DogStatsdReceiver(settings)
        self.prometheus: Prometheus | None = None
        self.load: list[Child] = []

    def __enter__(self) -> "LocalMesh":
        _clear(self.logs)
        self.prometheus = Prometheus(self.run_dir, self.plan.scrape_targets(),
                                     rules_file(self.settings))
        self.receiver.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.group.stop_all()
        finally:
            if self.prometheus is not None:
                self.prometheus.close()
            self.receiver.stop()

    def start(self, stop: threading.Event | None = None) -> None:
        """Apps and sidecars, then Prometheus; returns once every one of them is ready.

        Raises ``StartupFailed`` (one line naming the process and its log) if a child exits
        or does not get ready in time, ``Interrupted`` as soon as ``stop`` is set.
        """
        def checkpoint() -> None:
            if stop is not None and stop.is_set():
                raise Interrupted()

        assert self.prometheus is not None, "use LocalMesh as a context manager"
        try:
            for replica in self.plan.replicas:
                checkpoint()
                self._start_envoy(replica)
                if not replica.service.is_load:
                    self._start_app(replica)
            checkpoint()
            # Prometheus first: its first scrapes then fall before the load starts, and the
            # sidecars come up while it does.
            self.prometheus.start(self.group, self.logs / "prometheus.log", STARTUP_TIMEOUT)
            for replica in self.plan.replicas:
                checkpoint()
                self.wait_ready(replica)
        except ChildExited:
            raise StartupFailed(death_report(self.group, "while starting", tail=False)) from None
        except TimeoutError as err:
            raise StartupFailed(f"{err}; logs in {self.logs}") from None

    def start_load(self, stop: threading.Event | None = None) -> list[Child]:
        """Start the load generators (last, so no request meets a process still starting)."""
        for replica in self.plan.replicas:
            if replica.service.is_load:
                if stop is not None and stop.is_set():
                    raise Interrupted()
                self.load.append(self._start_app(replica))
        return self.load

    def wait_ready(self, replica: LocalReplica, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until the replica's sidecar (and app, if it has an ingress) answer."""
        wait_http(f"http://127.0.0.1:{replica.sidecar.admin}/ready", self.group, timeout)
        if replica.app_port is not None:
            wait_http(f"http://127.0.0.1:{replica.app_port}/health", self.group, timeout)

    def replica(self, instance: str) -> LocalReplica:
        """The planned replica named ``instance`` (``greeting-1``)."""
        return next(r for r in self.plan.replicas if r.instance == instance)

    def child(self, name: str) -> Child:
        """The running child named ``name`` (``greeting-1 envoy``, ``prometheus``)."""
        return self.group.child(name)

    def restart(self, name: str) -> Child:
        """Start ``name`` again exactly as before (same ports and configuration)."""
        return self.group.restart(name)

    def _start_envoy(self, replica: LocalReplica) -> Child:
        return self.group.start_envoy(f"{replica.instance} envoy",
                                      self.plan.bootstrap(replica, self.receiver.port),
                                      self.logs / f"{replica.instance}.envoy.log")

    def _start_app(self, replica: LocalReplica) -> Child:
        return self.group.start(f"{replica.instance} app", [sys.executable, str(DEMO_APP)],
                                self.logs / f"{replica.instance}.app.log",
                                self.plan.app_environment(replica))


def death_report(group: ProcessGroup, when: str, tail: bool = True) -> str:
    """Which child died, how and why: one line, then (``tail``) the end of its log."""
    child: Child = group.dead()[0]
    lines = child.log_tail(12)
    reason = _key_line(lines)
    code = child.process.returncode
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"code {code}"
    message = f"{child.name} exited {when} ({how})" + (f": {reason}" if reason else "")
    if not tail:
        return f"{message}; log: {child.log_path}"
    return f"{message}\n  last lines of {child.log_path}:\n{_indent(lines)}"


def _key_line(tail: str) -> str:
    """The line of a log tail that most likely says why the process stopped."""
    lines = [line for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"critical|error|Error|cannot bind|Traceback", line):
            # Envoy repeats its whole --config-yaml in some errors; keep the end that matters.
            return line if len(line) <= 300 else "..." + line[-300:]
    return ""


def _indent(text: str) -> str:
    return "\n".join(f"    {line[:300]}" for line in text.splitlines())


def _clear(logs: Path) -> None:
    """An empty log folder: a run's logs are its own, not appended to the last run's."""
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
