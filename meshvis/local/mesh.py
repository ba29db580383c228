"""The local mesh as an object: start it, reach into its processes, stop all of it.

``meshvis run`` and the fault tests use the same start-up, so a fault injected by a test
meets exactly the mesh a user runs::

    with LocalMesh(settings, run_dir) as mesh:
        mesh.start()                 # apps, sidecars, Prometheus; waits until all are ready
        mesh.start_load()            # the load generators, last
        mesh.child("greeting-1 envoy").kill()
        mesh.restart("greeting-1 envoy")

Every replica is a host at its own loopback address of a block the run claims; a real DNS
server answers the deployed names with the healthy replicas (meshvis/local/dns.py). Leaving
the ``with`` block stops every process (also on an exception), removes Prometheus's data,
stops the DogStatsD receiver and gives the block back; what the receiver recorded stays
readable.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from components.settings.model import Settings
from components.settings.ports import ADMIN_PORT, INGRESS_PORT
from components.sidecar.demo_app import DEMO_APP
from dashboards.prometheus.rules import at_global_interval, rules_file
from meshvis.local.cloudwatch_agent import DogStatsdReceiver
from meshvis.local.dns import HealthWatch, LocalDns
from meshvis.local.entry import EntryBalancer, PortInUse
from meshvis.local.plan import LocalReplica, claim_block, plan_mesh
from meshvis.local.processes import Child, ChildExited, ProcessGroup, wait_http
from meshvis.local.prometheus import Prometheus, RulesNotLoaded
from meshvis.local.traces import OtlpReceiver

STARTUP_TIMEOUT = 30.0
_Bound = TypeVar("_Bound")


class StartupFailed(RuntimeError):
    """The mesh could not be brought up; the message is one line for the user."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the mesh was starting."""


class LocalMesh:
    """Every process of one local run of ``settings``' mesh, on loopback.

    Children are named ``<service>-<n> envoy`` and ``<service>-<n> app`` (and ``dns``,
    ``prometheus``). The constructor claims the run's loopback block and, with
    ``entry_port``, binds the load balancer's port on 127.0.0.1, so a taken port raises
    ``entry.PortInUse`` (and no free block ``plan.NoFreeBlock``) before anything is written
    or started.
    """

    def __init__(
        self,
        settings: Settings,
        run_dir: Path,
        entry_port: int | None = None,
        rules: dict | None = None,
    ) -> None:
        """``rules``: the rule file Prometheus evaluates (default: the stack's generated one,
        every group at the global interval; a game day gives it time-scaled)."""
        self.settings = settings
        self.rules = rules if rules is not None else at_global_interval(rules_file(settings))
        block, self._block_lock = claim_block()
        try:
            self.plan = plan_mesh(settings, block)
            self.balancer = (
                None
                if entry_port is None
                else EntryBalancer(
                    entry_port,
                    [(r.address, INGRESS_PORT) for r in self.plan.of(self.plan.entry_service)],
                )
            )
        except BaseException:
            self._block_lock.close()
            raise
        # Absolute: every path a child gets must mean the same in its own working folder.
        run_dir = run_dir.absolute()
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.group = ProcessGroup()
        self.receiver = DogStatsdReceiver(settings, self.plan.statsd_addresses())
        # Where the CloudWatch agent (ecs) or Tempo (eks) receives the sidecars' spans.
        self.traces: OtlpReceiver | None = None
        self.dns = LocalDns(self.plan, run_dir)
        self.health = HealthWatch(self.dns)
        self.prometheus: Prometheus | None = None
        self.load: list[Child] = []

    @property
    def entry_urls(self) -> list[str]:
        """Where users reach the entry service: the load balancer's port (with ``--port``),
        then every entry replica's ingress."""
        return ([self.balancer.url] if self.balancer else []) + self.plan.entry_urls

    def __enter__(self) -> LocalMesh:
        """Write the run's files and open the receivers' ports. Raises ``PortInUse`` (one
        line) when another program holds one of them, e.g. on all interfaces."""
        try:
            _clear(self.logs)
            self.prometheus = Prometheus(self.run_dir, self.plan.scrape_targets(), self.rules)
            _bind("udp", "DogStatsD, the CloudWatch agent's", self.receiver.start)
            self.traces = _bind(
                "tcp", "OTLP, the trace collector's", lambda: _otlp(*self.plan.trace_collector)
            )
            self.traces.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.health.stop()
            if self.balancer is not None:
                self.balancer.close()
            self.group.stop_all()
        finally:
            if self.prometheus is not None:
                self.prometheus.close()
            self.receiver.stop()
            if self.traces is not None:
                self.traces.stop()
            self._block_lock.close()

    def start(self, stop: threading.Event | None = None) -> None:
        """DNS, apps and sidecars, then Prometheus; returns once every one of them is ready,
        with DNS following the replicas' health from then on.

        Raises ``StartupFailed`` (one line naming the process and its log) if a child exits
        or does not get ready in time, ``Interrupted`` as soon as ``stop`` is set.
        """

        def checkpoint() -> None:
            if stop is not None and stop.is_set():
                raise Interrupted()

        assert self.prometheus is not None, "use LocalMesh as a context manager"
        try:
            # First: every sidecar resolves its upstreams as it starts.
            self.dns.start(self.group, self.logs / "dns.log", STARTUP_TIMEOUT)
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
            self.health.start()
            if self.balancer is not None:
                self.balancer.start()
        except ChildExited:
            raise StartupFailed(death_report(self.group, "while starting", tail=False)) from None
        except (TimeoutError, RulesNotLoaded) as err:
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
        wait_http(replica.url(ADMIN_PORT, "/ready"), self.group, timeout)
        if replica.app_port is not None:
            wait_http(replica.url(replica.app_port, "/health"), self.group, timeout)

    def replica(self, instance: str) -> LocalReplica:
        """The planned replica named ``instance`` (``greeting-1``)."""
        return next(r for r in self.plan.replicas if r.instance == instance)

    def child(self, name: str) -> Child:
        """The running child named ``name`` (``greeting-1 envoy``, ``prometheus``)."""
        return self.group.child(name)

    def restart(self, name: str) -> Child:
        """Start ``name`` again exactly as before (same address and configuration)."""
        return self.group.restart(name)

    def _start_envoy(self, replica: LocalReplica) -> Child:
        return self.group.start_envoy(
            f"{replica.instance} envoy",
            self.plan.bootstrap(replica),
            self.logs / f"{replica.instance}.envoy.log",
        )

    def _start_app(self, replica: LocalReplica) -> Child:
        return self.group.start(
            f"{replica.instance} app",
            [sys.executable, str(DEMO_APP)],
            self.logs / f"{replica.instance}.app.log",
            self.plan.app_environment(replica),
        )


def _otlp(host: str, port: int) -> OtlpReceiver:
    try:
        return OtlpReceiver(host, port)
    except OSError as err:
        err.filename = f"{host}:{port}"
        raise


def _bind(protocol: str, role: str, bind: Callable[[], _Bound]) -> _Bound:
    """``bind()``, with a port another program holds as one line naming port and role."""
    try:
        return bind()
    except OSError as err:
        where = err.filename or "a port"
        raise PortInUse(
            f"{where}/{protocol} ({role} port) is taken by another program "
            f"({err.strerror}), possibly on all interfaces: stop it and run again"
        ) from None


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
        # dnsmasq says "dnsmasq: failed to create listening socket for ...: Address in use".
        if re.search(r"critical|error|Error|cannot bind|failed|Traceback", line):
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
