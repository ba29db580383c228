"""Nothing is left behind: process groups stop in parallel, die with their runner, and a killed
run is cleaned up at the next start; a hung Prometheus or receiver fails the run.

Cheap processes (``sleep``, ``sh``) stand in for Envoys and apps where the point is the
process handling, not what the processes do; the liveness tests use a real Prometheus.
"""

from __future__ import annotations

import io
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from types import SimpleNamespace

import pytest
from rich.console import Console

from components.stack import stack_settings
from meshvis.local import runner
from meshvis.local.cloudwatch_agent import DogStatsdReceiver
from meshvis.local.processes import ProcessGroup
from meshvis.local.prometheus import Prometheus
from meshvis.local.reaper import RUN_TAG, scratch_folder, tagged_pids
from meshvis.local.run_lock import PID_FILE, RunDirBusy, hold_run_dir
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

# Ignores SIGTERM (as does the `sleep` it runs: ignored signals survive exec), so only the
# SIGKILL after the grace period ends it: the slowest child a group can have.
STUBBORN = ["sh", "-c", "trap '' TERM; sleep 60"]


def wait_gone(tag: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := tagged_pids(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_hundred_stubborn_children_stop_within_one_grace_period(tmp_path):
    """One grace period for all (it was 5 s per child, one after the other: 500 s here)."""
    group = ProcessGroup()
    try:
        for i in range(100):
            group.start(f"sleeper-{i}", STUBBORN, tmp_path / f"{i}.log")
        started = time.monotonic()
        group.stop_all(grace=2.0)
        took = time.monotonic() - started
    finally:
        group.stop_all(grace=0)
    assert took < 6.0, f"stopping 100 children took {took:.1f} s"
    assert tagged_pids(group.tag) == []
    assert not scratch_folder(group.tag).exists()


def test_a_stopped_child_is_woken_to_exit_cleanly(tmp_path):
    """A child stopped with SIGSTOP (a hung Prometheus) gets SIGCONT with its SIGTERM."""
    with ProcessGroup() as group:
        child = group.start("sleeper", ["sleep", "60"], tmp_path / "sleep.log")
        os.kill(child.pid, signal.SIGSTOP)
        started = time.monotonic()
        group.stop_all(grace=10.0)
        assert time.monotonic() - started < 2.0
        assert child.process.returncode == -signal.SIGTERM


# A runner stand-in: a group with a child that has its own child (its grandchild, in the
# child's process group, as a worker of Envoy or of the demo app would be), and temp data.
RUNNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from meshvis.local.processes import ProcessGroup
    group = ProcessGroup()
    (group.scratch / "tsdb").write_text("data")
    group.start("parent", ["sh", "-c", "sleep 60 & wait"], Path(sys.argv[1]) / "parent.log")
    print(group.tag, flush=True)
    time.sleep(60)
""")


def test_children_and_grandchildren_die_with_a_killed_runner(tmp_path):
    runner_process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    tag = runner_process.stdout.readline().strip()
    try:
        deadline = time.monotonic() + 10
        while len(tagged_pids(tag)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(tagged_pids(tag)) == 2  # sh and its sleep
        assert (scratch_folder(tag) / "tsdb").exists()
        runner_process.kill()
        runner_process.wait()
        assert wait_gone(tag) == []
        deadline = time.monotonic() + 5
        while scratch_folder(tag).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not scratch_folder(tag).exists()
    finally:
        runner_process.kill()
        for pid in tagged_pids(tag):
            os.kill(pid, signal.SIGKILL)


def test_a_second_run_of_the_same_folder_is_refused(tmp_path):
    with hold_run_dir(tmp_path, "first") as note:
        assert note is None
        with (
            pytest.raises(
                RunDirBusy,
                match=rf"^{tmp_path} is in use by another meshvis run "
                rf"\(pid {os.getpid()}\)",
            ),
            hold_run_dir(tmp_path, "second"),
        ):
            pass
    with hold_run_dir(tmp_path, "third") as note:  # released: free again, nothing stale
        assert note is None


def test_a_killed_runs_leftovers_are_reaped_at_the_next_start(tmp_path):
    """The pid file of a runner that was SIGKILLed (and whose reaper is gone too) names the
    run's tag: its processes, found by that tag in /proc, and its temp data are removed."""
    stale_tag = "0123456789abcdef0123456789abcdef"
    scratch_folder(stale_tag).mkdir()
    leftover = subprocess.Popen(
        ["sleep", "60"], env={**os.environ, RUN_TAG: stale_tag}, start_new_session=True
    )
    other = subprocess.Popen(["sleep", "60"])  # not the run's: must survive
    try:
        (tmp_path / PID_FILE).write_text(f'{{"pid": 999999, "tag": "{stale_tag}"}}')
        with hold_run_dir(tmp_path, "new") as note:
            assert note == (
                f"cleaned up after the last run in {tmp_path} (runner pid 999999 "
                "was killed): 1 processes left over"
            )
        assert leftover.wait(5) == -signal.SIGKILL
        assert other.poll() is None
        assert not scratch_folder(stale_tag).exists()
        assert (tmp_path / PID_FILE).read_text() == ""  # a clean end leaves nothing stale
    finally:
        for process in (leftover, other):
            process.kill()
            process.wait()


@pytest.fixture
def fake_mesh(monkeypatch):
    """What ``runner._watch`` reads of a LocalMesh (its DNS report left out)."""
    monkeypatch.setattr(runner, "DISCOVERY_SECONDS", math.inf, raising=False)

    def make(group: ProcessGroup, prometheus, receiver) -> SimpleNamespace:
        return SimpleNamespace(
            group=group,
            prometheus=prometheus,
            receiver=receiver,
            plan=SimpleNamespace(
                settings=stack_settings("dev"), entry_service="greeter", replicas=()
            ),
        )

    return make


def test_a_hung_prometheus_fails_the_run_with_the_reason(tmp_path, monkeypatch, fake_mesh):
    monkeypatch.setattr(runner, "PROMETHEUS_DEADLINE", 1.0)
    settings = stack_settings("dev")
    with ProcessGroup() as group, DogStatsdReceiver(settings) as receiver:
        prometheus = Prometheus(tmp_path, [])
        prometheus.start(group, tmp_path / "prometheus.log")
        os.kill(group.child("prometheus").pid, signal.SIGSTOP)
        run: dict = {}
        started = time.monotonic()
        code, _ = runner._watch(
            Console(file=io.StringIO()),
            fake_mesh(group, prometheus, receiver),
            runner.live_signals(settings),
            120,
            threading.Event(),
            run,
        )
        assert code == 1
        assert run["exit"].startswith(f"Prometheus ({prometheus.url}) has not answered for ")
        assert "timed out" in run["exit"]
        assert time.monotonic() - started < 20


def test_a_silent_receiver_fails_the_run_with_the_reason(tmp_path, monkeypatch, fake_mesh):
    monkeypatch.setattr(runner, "RECEIVER_DEADLINE", 0.5)
    settings = stack_settings("dev")
    with ProcessGroup() as group, DogStatsdReceiver(settings) as receiver:
        prometheus = Prometheus(tmp_path, [])
        prometheus.start(group, tmp_path / "prometheus.log")
        time.sleep(0.6)
        run: dict = {}
        code, _ = runner._watch(
            Console(file=io.StringIO()),
            fake_mesh(group, prometheus, receiver),
            runner.live_signals(settings),
            120,
            threading.Event(),
            run,
        )
    assert code == 1
    assert run["exit"].startswith("the DogStatsD receiver has received nothing for ")


def test_a_receiver_whose_thread_died_fails_the_run_with_the_reason():
    receiver = DogStatsdReceiver(stack_settings("dev"))

    def broken(data: bytes) -> None:
        raise ValueError("cannot map this datagram")

    receiver._record = broken
    with receiver:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x:1|c", receiver.addresses[0])
        deadline = time.monotonic() + 5
        while receiver.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner._receiver_problem(receiver) == (
            "the DogStatsD receiver stopped (ValueError('cannot map this datagram'))"
        )
