"""Start and stop local processes (Envoy sidecars, demo apps, Prometheus) without leaks.

Every child runs in its own session so that stopping it also stops anything it spawned, and
``ProcessGroup`` stops all of them at once whatever happens (exceptions, Ctrl-C), which is what
the runner and the tests rely on to leave nothing behind. If the runner itself is killed
(SIGKILL leaves no chance to clean up), the kernel kills each child (``PR_SET_PDEATHSIG``)
and the group's reaper (``meshvis/local/reaper.py``) kills the children's children and
removes the group's scratch folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from components.sidecar.command import envoy_command
from meshvis.local import reaper

ENVOY = Path(sys.executable).parent / "envoy"
# How long stopping waits for every child's clean exit (all at once) before SIGKILL.
STOP_GRACE = 5.0
# prctl(2): PR_SET_PDEATHSIG, from <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


# Ports to listen on are picked below the kernel's ephemeral range when it leaves room: a
# port from that range can become the source port of any outgoing connection (every local
# HTTP call takes one) between being picked and being bound, and the process planned to
# listen on it would then fail with "Address already in use".
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORTS_FROM = 10000
PICK_ATTEMPTS = 50


def _listen_ports() -> range | None:
    """Ports below the ephemeral range (None: no such room, or not Linux)."""
    try:
        ephemeral_low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    ports = range(LISTEN_PORTS_FROM, ephemeral_low)
    return ports if len(ports) >= 1000 else None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now for TCP, and with SOCK_DGRAM for UDP as
    well: a DNS server listens on both. Picked below the ephemeral range like every other
    port here, where no outgoing connection of another process can take it meanwhile."""
    for _ in range(PICK_ATTEMPTS):
        port = free_ports(1)[0]
        if kind == socket.SOCK_STREAM:
            return port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken for UDP; another
            return port
    raise OSError("no port on 127.0.0.1 is free for both TCP and UDP")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while choosing)."""
    candidates = _listen_ports()
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            probes.append(_bound_probe(candidates))
        return [p.getsockname()[1] for p in probes]
    finally:
        for probe in probes:
            probe.close()


def _bound_probe(candidates: range | None) -> socket.socket:
    """A socket bound to a free port among ``candidates`` (else one the kernel picks)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for _ in range(PICK_ATTEMPTS if candidates else 0):
        try:
            probe.bind(("127.0.0.1", random.choice(candidates or ())))
            return probe
        except OSError:
            continue  # taken; another
    probe.bind(("127.0.0.1", 0))
    return probe


class ChildExited(RuntimeError):
    """A child process ended while it was expected to run."""


class Child:
    """One started process with a name, its log file and its exit handling."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        """Start ``argv``; ``env`` is added to this process's environment (the run's tag in it,
        from ``ProcessGroup``, is inherited by whatever the child starts)."""
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or {})
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # Open for the child's whole life (it writes there); `finish` closes it.
        self._log = open(log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the child's process group and reap it, as a crash would end it (no clean
        shutdown); ``stop`` still closes its log."""
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the child's process group, then SIGKILL after ``grace`` seconds."""
        self.terminate()
        self.finish(time.monotonic() + grace)

    def terminate(self) -> None:
        """Ask the child's process group to exit (a stopped one, SIGSTOP, is woken to do so)."""
        if self.alive():
            _signal_group(self.process.pid, signal.SIGTERM)
            _signal_group(self.process.pid, signal.SIGCONT)

    def finish(self, deadline: float) -> None:
        """Wait for the child until ``deadline`` (monotonic), then SIGKILL it; in any case
        SIGKILL what is left of its process group, and close its log."""
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # The leader is gone; its group may still hold children.
        _signal_group(self.process.pid, signal.SIGKILL)
        self._log.close()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` making the kernel SIGKILL the child when the runner dies.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so children are
    started from the thread that lives as long as the run (the runner's main thread). If the
    runner died between fork and prctl, the child's parent has already changed: it exits.
    """
    parent = os.getpid()

    def set_death_signal() -> None:
        if _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(1)

    return set_death_signal


class ProcessGroup:
    """Children started together and always stopped together (a context manager).

    Every child's environment carries ``MESHVIS_RUN=<tag>`` (a random id per group), which
    its own children inherit: that is how the reaper, and the next run after a killed one
    (``reap``), find every process of the group and only those. ``scratch`` is the group's
    folder for temporary data, removed with the group.

    Start children from the thread that lives as long as the group (see ``_die_with_parent``).
    """

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.tag = uuid.uuid4().hex
        self._scratch = reaper.scratch_folder(self.tag)
        self._reaper: subprocess.Popen | None = None

    @property
    def scratch(self) -> Path:
        """The group's folder for temporary data (created, with the reaper, on first use)."""
        self._start_reaper()
        return self._scratch

    def start(
        self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> Child:
        self._start_reaper()
        child = Child(name, argv, log_path, {**(env or {}), reaper.RUN_TAG: self.tag})
        self.children.append(child)
        return child

    def _start_reaper(self) -> None:
        """The process that cleans up after this one if it dies (``meshvis/local/reaper.py``):
        it holds the read end of a pipe only this process writes to, so it wakes up when this
        process exits in any way."""
        if self._reaper is None:
            self._scratch.mkdir(parents=True, exist_ok=True)
            self._reaper = subprocess.Popen(
                [sys.executable, reaper.__file__, self.tag],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )

    def start_envoy(
        self, name: str, bootstrap: Mapping, log_path: Path, binary: Path = ENVOY
    ) -> Child:
        """Start a real Envoy from a bootstrap dict, with the deployed sidecars' flags (its
        log quieter, its drain shorter: a local run stops in seconds)."""
        return self.start(name, envoy_argv(name, bootstrap, log_path, binary), log_path)

    def child(self, name: str) -> Child:
        """The child named ``name``."""
        found = [c for c in self.children if c.name == name]
        if not found:
            known = ", ".join(c.name for c in self.children)
            raise KeyError(f"no child {name!r} (children: {known})")
        return found[0]

    def restart(self, name: str) -> Child:
        """Stop ``name`` if it still runs and start it again with the same command line,
        environment and log (appended to), in its place among the children."""
        old = self.child(name)
        old.stop()
        new = Child(old.name, old.argv, old.log_path, old.env)
        self.children[self.children.index(old)] = new
        return new

    def dead(self) -> list[Child]:
        return [c for c in self.children if not c.alive()]

    def check_alive(self) -> None:
        """Raise ``ChildExited`` naming the first child that is no longer running."""
        for child in self.children:
            if not child.alive():
                raise ChildExited(
                    f"{child.name} exited with code {child.process.returncode}; "
                    f"last lines of {child.log_path}:\n{child.log_tail()}"
                )

    def stop_all(self, grace: float = STOP_GRACE) -> None:
        """Stop every child at once: SIGTERM to all, one ``grace`` period for all of them,
        then SIGKILL to what is left; then remove the scratch folder and end the reaper."""
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + grace
        for child in self.children:
            child.finish(deadline)
        self.children.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._reaper is not None:
            if self._reaper.stdin is not None:  # always: it is started with stdin=PIPE
                self._reaper.stdin.close()  # it finds nothing left, and exits
            self._reaper.wait()
            self._reaper = None

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def envoy_argv(name: str, bootstrap: Mapping, log_path: Path, binary: Path = ENVOY) -> list[str]:
    """A local sidecar's command line, its bootstrap written beside its log
    (``<log name>.bootstrap.json``, absolute) and passed as a file: inline, a sidecar with
    many upstreams passes Linux's 128 KiB limit for one argument (MAX_ARG_STRLEN; "Argument
    list too long"). The deployed task definitions keep ``--config-yaml``."""
    config = log_path.absolute().with_name(f"{log_path.name.removesuffix('.log')}.bootstrap.json")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(bootstrap))
    return envoy_command(
        binary=str(binary),
        config_path=str(config),
        log_level="warn",
        extra=["--drain-time-s", "1", "--service-node", name],
    )


def wait_http(
    url: str, group: ProcessGroup | None = None, timeout: float = 20.0, expect: int = 200
) -> None:
    """Poll ``url`` (loopback only) until it answers ``expect``; fail fast if a child died."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if group is not None:
            group.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == expect:
                    return
                last = response.status
        except urllib.error.HTTPError as err:
            last = err.code
            if err.code == expect:
                return
        except OSError as err:
            last = err
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout:.0f}s (last: {last})")
