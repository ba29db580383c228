"""The dev stack as a local mesh: real Envoys, demo apps, load, DogStatsD and Prometheus.

Runs start `python -m meshvis run` as a user would. Every process a run starts inherits a
unique environment tag, which is how the tests find anything left behind (and, in the
fixture's finalizer, stop it even when a test fails).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from components.settings.ports import INGRESS_PORT
from components.settings.stack_files import stack_config
from components.stack import stack_settings
from demoapp.app import DEFAULT_WORDS
from meshvis.local import mesh as mesh_module
from meshvis.local import reaper, runner
from meshvis.local.reaper import scratch_folder
from meshvis.local.run_lock import run_folder
from meshvis.local.summary import access_log_lines
from tests.conftest import ROOT

TAG = "MESHVIS_TEST_RUN"
ENTRY_LINE = re.compile(r"^entry \(greeter\): (http://127\.\d+\.\d+\.\d+:15000/)")

pytestmark = pytest.mark.integration


def tagged_pids(tag: str) -> list[int]:
    """Live processes whose environment carries ``TAG=tag`` (every process a test run started)."""
    return reaper.tagged_pids(tag, TAG)


def pid_of(tag: str, variable: str) -> int:
    """The tagged process whose environment has ``variable`` (e.g. ``INSTANCE=name-1``)."""
    for pid in tagged_pids(tag):
        try:
            if variable.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    raise LookupError(variable)


def project_stack_turn(args: list[str], timeout: float = 600) -> int | None:
    """A run holds its stack file (meshvis/local/run_lock.py): a run of one of the project's
    own stack files (no ``--root``) first takes its turn among the tests (a blocking
    ``flock`` on a lock file of the suite's, held until ``MeshRun`` ends), then waits while
    a run from outside the suite (a ``make demo``) holds the stack file. None otherwise."""
    stack = args[args.index("--stack") + 1] if "--stack" in args else "dev"
    if "--root" in args or "/" in stack:
        return None
    turn = os.open(f"/tmp/meshvis-tests-{stack}.turn", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(turn, fcntl.LOCK_EX)
    stack_file = os.open(ROOT / f"Pulumi.{stack}.yaml", os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(stack_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return turn
            except BlockingIOError:
                assert time.monotonic() < deadline, f"Pulumi.{stack}.yaml stayed in use"
                time.sleep(1)
    finally:
        os.close(stack_file)  # free again for the run this turn is for


class MeshRun:
    """`python -m meshvis run ...` in ``cwd``, its output read as it comes."""

    def __init__(self, cwd: Path, args: list[str], command: list[str] | None = None) -> None:
        """``command``: what runs ``meshvis run`` (default this interpreter's ``-m``)."""
        self.cwd = cwd
        self._turn = project_stack_turn(args)
        self.tag = uuid.uuid4().hex
        env = {**os.environ, "PYTHONPATH": str(ROOT), TAG: self.tag}
        self.process = subprocess.Popen(
            [*(command or [sys.executable, "-m", "meshvis", "run"]), *args],
            cwd=cwd,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            for stream, sink in (
                (self.process.stdout, self.stdout),
                (self.process.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if sink is self.stdout:
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, f"run ended early:\n{self.output()}"
                continue
            match = pattern.search(line)
            if match:
                return match
        raise AssertionError(
            f"no line matching {pattern.pattern} within {timeout}s:\n{self.output()}"
        )

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        self._end_turn()
        return code

    def _end_turn(self) -> None:
        if self._turn is not None:
            os.close(self._turn)
            self._turn = None

    def output(self) -> str:
        return "\n".join(["--- stdout", *self.stdout, "--- stderr", *self.stderr])

    def leftovers(self) -> list[int]:
        return [pid for pid in tagged_pids(self.tag) if pid != self.process.pid]

    def cleanup(self) -> None:
        """Stop the run and anything it left, whatever state the test ended in."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._end_turn()


@pytest.fixture
def mesh(tmp_path):
    """Start ``meshvis run ARGS`` in ``tmp_path``; a project stack (``--stack dev``) runs from
    a copy there, since a run holds its stack file and anyone may be running the project's."""
    runs: list[MeshRun] = []

    def start(*args: str) -> MeshRun:
        argv = list(args)
        if "--root" not in argv:
            stack = argv[argv.index("--stack") + 1]
            shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path)
            argv += ["--root", str(tmp_path)]
        run = MeshRun(tmp_path, argv)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.cleanup()


def nothing_left(run: MeshRun, run_dir: Path) -> None:
    assert run.leftovers() == [], f"processes left running:\n{run.output()}"
    found = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert found.stdout == "", f"processes naming {run_dir} left running"


def test_dev_stack_runs_locally_and_proves_both_telemetry_paths(mesh, tmp_path):
    run = mesh(
        "--stack", "dev", "--duration", "30", "--summary", "summary.json", "--snapshot", "chart.png"
    )
    url = run.wait_for(ENTRY_LINE, 60).group(1)
    # What the ALB gives on AWS: curl the entry service, get the greeter's sentence.
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    greeting, name = "|".join(DEFAULT_WORDS["greeting"]), "|".join(DEFAULT_WORDS["name"])
    assert re.fullmatch(rf"From greeter-1: ({greeting}) ({name})\n", body), body

    assert run.finish(timeout=120) == 0, run.output()
    run_dir = run_dir_of(tmp_path, "dev")
    nothing_left(run, run_dir)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for process in summary["run"]["processes"]:
        assert (
            not Path(f"/proc/{process['pid']}").exists()
            or "State:\tZ" in Path(f"/proc/{process['pid']}/status").read_text()
        )

    end_to_end = summary["end_to_end"]["load-generator"]
    assert end_to_end["requests"] >= 40, summary
    assert end_to_end["success_rate"] >= 0.99, summary
    for service in ("name", "greeting", "greeter"):
        served = summary["services"][service]
        assert served["requests"] >= 40 and served["success_rate"] >= 0.99, summary
        assert 0 < served["p50_ms"] <= served["p99_ms"], summary
    # The greeter served every load request and the probe; each answer called both leaves.
    assert summary["services"]["greeter"]["requests"] >= end_to_end["requests"]

    cloudwatch = summary["cloudwatch"]
    assert cloudwatch["missing_dashboard_metrics"] == [], cloudwatch
    assert cloudwatch["metrics"] > 0 and cloudwatch["monthly_usd"] > 0
    assert summary["prometheus"]["queries_without_data"] == [], summary["prometheus"]
    assert summary["prometheus"]["rules_with_errors"] == []

    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The default access-log policy on healthy traffic: failed, slow and 1 % of the rest
    # (tests/local/test_access_log_policy.py proves what is kept); the summary counts what the
    # sidecars wrote, which is what CloudWatch Logs would ingest.
    logs = summary["logs"]
    assert logs["end_to_end_requests"] == end_to_end["requests"], logs
    assert logs["bytes_per_request"] <= 100, logs
    written = access_log_lines(Path(tmp_path / summary["run"]["logs"]))
    assert logs["access_log_bytes"] == sum(len(line.encode()) for line in written)
    assert "summary: summary.json" in run.stdout and "chart: chart.png" in run.stdout
    assert_discovered_every_replica(summary, {"name": 2, "greeting": 2, "greeter": 2})


def assert_discovered_every_replica(summary: dict, replicas: dict[str, int]) -> None:
    """Every caller's Envoy resolved, through the local DNS server, exactly the replicas of
    each upstream: each at an address of its own on the deployed ingress port."""
    discovery = summary["discovery"]
    assert discovery["mismatches"] == [], discovery
    assert discovery["dns_events"] == [], discovery
    assert set(discovery["upstreams"]) == set(replicas)
    for upstream, entry in discovery["upstreams"].items():
        hosts = entry["configured"]
        assert len(hosts) == len({h.split(":")[0] for h in hosts}) == replicas[upstream]
        assert all(re.fullmatch(r"127\.\d+\.\d+\.\d+:15000", h) for h in hosts), hosts
        assert entry["resolved"] and all(r == hosts for r in entry["resolved"].values()), entry


def test_eks_stack_resolves_the_headless_service_through_the_load_balancers_port(mesh, tmp_path):
    """dev-eks: the load generators resolve nginx's headless Service name; ``--port`` is the
    load balancer's place on 127.0.0.1, spreading connections over the entry replicas."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = mesh(
        "--stack", "dev-eks", "--duration", "15", "--summary", "summary.json", "--port", str(port)
    )
    run.wait_for(
        re.compile(
            r"^DNS: 127\.\d+\.0\.1:10053 answers 1 names "
            r"\(nginx\.mesh\.svc\.cluster\.local\)"
        ),
        60,
    )
    served = set()
    for _ in range(4):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            served.add(response.headers["x-envoy-upstream-service-time"] is not None)
    assert served == {True}
    assert run.finish(timeout=120) == 0, run.output()
    nothing_left(run, run_dir_of(tmp_path, "dev-eks"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["run"]["entry_url"] == f"http://127.0.0.1:{port}/"
    assert summary["end_to_end"]["load-generator"]["success_rate"] >= 0.99, summary
    assert_discovered_every_replica(summary, {"nginx": 2})


def test_sigterm_stops_the_run_with_a_summary(mesh, tmp_path):
    run = mesh("--stack", "dev", "--summary", "summary.json")
    run.wait_for(re.compile(r"^Prometheus: http://"), 60)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout=60) == 0, run.output()
    nothing_left(run, run_dir_of(tmp_path, "dev"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["run"]["exit"] == "interrupted"


def sidecar_pid(tag: str, instance: str) -> int:
    """The tagged Envoy started for ``instance`` (its ``--service-node`` names it)."""
    node = f"--service-node\0{instance} envoy\0".encode()
    for pid in tagged_pids(tag):
        try:
            if node in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    raise LookupError(instance)


@pytest.mark.parametrize("part", ["app", "envoy"])
def test_a_dying_child_is_named_and_everything_stops(mesh, tmp_path, part):
    """A crashed demo app or Envoy sidecar ends the run: named, with its log, nothing left."""
    run = mesh("--stack", "dev", "--duration", "120")
    run.wait_for(re.compile(r"^Prometheus: http://"), 60)
    pid = pid_of(run.tag, "INSTANCE=name-1") if part == "app" else sidecar_pid(run.tag, "name-1")
    os.kill(pid, signal.SIGKILL)
    assert run.finish(timeout=60) == 1, run.output()
    errors = run.stderr
    assert errors[0].startswith(f"error: name-1 {part} exited after "), run.output()
    assert "(killed by SIGKILL)" in errors[0]
    log = run_dir_of(tmp_path, "dev") / "logs" / f"name-1.{part}.log"
    assert any(f"last lines of {log}" in line for line in errors)
    nothing_left(run, run_dir_of(tmp_path, "dev"))


def test_entry_port_in_use_is_one_clear_error(mesh, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = mesh("--stack", "dev", "--port", str(port), "--duration", "5")
        assert run.finish(timeout=60) == 1
    assert run.stderr == [
        f"error: port {port} on 127.0.0.1 is already in use (Address already "
        "in use): pick another --port or stop what uses it"
    ], run.output()
    assert run.leftovers() == []
    assert not (tmp_path / "out").exists()


def test_envoy_that_cannot_bind_is_one_clear_error(tmp_path, monkeypatch, capsys):
    """Another program takes a planned port before the sidecar binds it."""
    tag = uuid.uuid4().hex
    monkeypatch.setenv(TAG, tag)
    plan_mesh = mesh_module.plan_mesh
    with socket.socket() as taken:

        def plan_then_take(settings, block):
            plan = plan_mesh(settings, block)
            # As Envoy binds: connections of an earlier run in TIME_WAIT do not hold the port.
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taken.bind((plan.of("greeting")[1].address, INGRESS_PORT))
            taken.listen()
            return plan

        monkeypatch.setattr(mesh_module, "plan_mesh", plan_then_take)
        try:
            code = runner.run_mesh(
                stack_settings("dev"),
                stack="dev",
                duration=5,
                summary=tmp_path / "summary.json",
                snapshot=None,
                run_dir=tmp_path / "run",
            )
        finally:
            left = tagged_pids(tag)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
    assert code == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert re.match(
        r"error: greeting-2 envoy exited while starting \(code 1\): .*"
        r"Address already in use",
        first,
    ), first
    assert left == []
    assert not (tmp_path / "summary.json").exists()


def test_malformed_stack_is_one_clear_error(mesh, tmp_path):
    config = stack_config("dev")
    config["mesh-visibility:services"][2]["upstreams"] = ["gretting", "name"]
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    run = mesh("--stack", "bad", "--root", str(tmp_path), "--duration", "5")
    assert run.finish(timeout=60) == 2
    assert run.stderr == [
        "error: mesh-visibility:services[2].upstreams: unknown service 'gretting' "
        "(did you mean 'greeting'? known: greeter, greeting, load-generator, name)"
    ], run.output()
    assert run.leftovers() == []
    assert not (tmp_path / "out").exists()


# The smallest mesh with traffic: one app, one load generator (4 processes and Prometheus).
TINY_STACK = {
    "config": {
        "aws:region": "us-west-2",
        "mesh-visibility:meshName": "tiny",
        "mesh-visibility:services": [
            {"name": "word", "port": 3000},
            {"name": "load", "kind": "load", "upstreams": ["word"]},
        ],
    }
}
STARTED = re.compile(r"^Prometheus: http://")


def run_dir_of(folder: Path, stack: str) -> Path:
    """The run folder of ``folder``'s ``Pulumi.<stack>.yaml`` run in ``folder``."""
    return folder / "out" / run_folder(stack, folder / f"Pulumi.{stack}.yaml").name


def tiny_run_dir(folder: Path) -> Path:
    """The run folder of ``tiny_stack(folder)`` run with ``folder`` as working folder."""
    return run_dir_of(folder, "tiny")


def written_stack(folder: Path, name: str, stack: dict) -> list[str]:
    """Write ``stack`` as ``folder``/Pulumi.<name>.yaml; the arguments that run it."""
    (folder / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack))
    return ["--stack", name, "--root", str(folder)]


def tiny_stack(folder: Path) -> list[str]:
    return written_stack(folder, "tiny", TINY_STACK)


@pytest.mark.parametrize(
    "sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_no_way_of_ending_the_runner_leaves_anything(mesh, tmp_path, sig):
    """A closed terminal, Ctrl-\\, kill and kill -9: no process and no temp data is left."""
    run = mesh(*tiny_stack(tmp_path))
    run.wait_for(STARTED, 60)
    run_dir = tiny_run_dir(tmp_path)
    tag = json.loads((run_dir / "runner.pid").read_text())["tag"]
    assert scratch_folder(tag).is_dir()  # Prometheus's TSDB
    run.process.send_signal(sig)
    code = run.finish(timeout=60)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        deadline = time.monotonic() + 10  # the reaper is at work
        while run.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        assert code == 0, run.output()
        assert run.stdout.index("stopping…") < run.stdout.index("everything is stopped")
    nothing_left(run, run_dir)
    assert not scratch_folder(tag).exists()


def test_a_second_run_of_the_same_stack_is_refused_while_the_first_runs(mesh, tmp_path):
    first = mesh(*tiny_stack(tmp_path))
    first.wait_for(STARTED, 60)
    second = mesh(*tiny_stack(tmp_path), "--duration", "5")
    assert second.finish(timeout=30) == 1
    assert second.stderr == [
        f"error: {tmp_path / 'Pulumi.tiny.yaml'} is being run by another meshvis run (pid "
        f"{first.process.pid}); wait for it to end or stop it first"
    ]
    assert second.leftovers() == []
    assert first.process.poll() is None, first.output()
    first.process.send_signal(signal.SIGINT)
    assert first.finish(timeout=60) == 0, first.output()
    nothing_left(first, tiny_run_dir(tmp_path))
