"""Issue 24: a run never loses its summary and never answers with a traceback.

One test (or one parametrized case) per finding, named ``finding N`` in its docstring; each
failed on the code before the fix. Real runs use a three-replica stack with tracing off (the
quickest mesh with a caller and an upstream); the rest run in-process or in a private network
or mount namespace (``unshare``), where a wildcard port or a full disk harms nobody else.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import textwrap
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
import yaml
from rich.console import Console

from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from dashboards.prometheus.rules import rules_file
from meshvis.local import runner
from meshvis.local.cloudwatch_agent import DogStatsdReceiver
from meshvis.local.mesh import LocalMesh, StartupFailed
from meshvis.local.processes import ProcessGroup, envoy_argv
from meshvis.local.prometheus import Prometheus, RulesNotLoaded
from meshvis.local.run_lock import RunDirBusy, hold_run_dir, run_folder
from tests.conftest import ROOT
from tests.local.test_local_mesh import TAG, sidecar_pid, tagged_pids

pytestmark = pytest.mark.integration

TINY = {
    "config": {
        "aws:region": "us-west-2",
        "mesh-visibility:meshName": "tiny",
        "mesh-visibility:tracing": False,
        "mesh-visibility:services": [
            {"name": "word", "port": 3000},
            {"name": "front", "port": 3000, "upstreams": ["word"]},
            {"name": "load", "kind": "load", "upstreams": ["front"]},
        ],
    }
}
STARTED = b"Prometheus: http://"
PNG = b"\x89PNG\r\n\x1a\n"


def tiny(folder: Path) -> Path:
    """The tiny stack's file in ``folder`` (runs name it by path: ``--stack PATH``)."""
    path = folder / "Pulumi.tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


class Run:
    """``python -m meshvis run`` (or ``argv``) started with ``popen`` arguments, tagged so
    that anything it leaves is found and stopped."""

    def __init__(self, cwd: Path, argv: list[str], **popen) -> None:
        self.tag = uuid.uuid4().hex
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), TAG: self.tag},
            **popen,
        )

    def leftovers(self) -> list[int]:
        return [p for p in tagged_pids(self.tag) if p != self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def meshvis_run(stack: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "meshvis", "run", "--stack", str(stack), *args]


@pytest.fixture
def runs():
    started: list[Run] = []

    def start(cwd: Path, argv: list[str], **popen) -> Run:
        run = Run(cwd, argv, **popen)
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()


def read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    """Bytes from ``fd`` until ``marker`` has been read (fails after ``timeout``)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, seen.decode(errors="replace")
            seen += chunk
    return seen


def assert_every_output(folder: Path, summary: str = "out/summary.json") -> dict:
    """The summary and both pictures are there; the summary's contents."""
    data = json.loads((folder / summary).read_text())
    for picture in ("golden-signals.png", "service-map.png"):
        assert (folder / "out" / picture).read_bytes()[:8] == PNG, picture
    return data


def test_closing_the_terminal_keeps_every_output(tmp_path, runs):
    """Finding 1: the controlling pty goes away (SIGHUP, and every later write to it fails
    with EIO): the run stopped with exit 1 and no summary."""
    stack = tiny(tmp_path)
    primary, secondary = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    run = runs(
        tmp_path,
        meshvis_run(stack, "--duration", "120"),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        preexec_fn=own_terminal,
    )
    os.close(secondary)
    read_until(primary, STARTED)
    os.close(primary)  # the terminal window is closed
    assert run.process.wait(60) == 0
    summary = assert_every_output(tmp_path)
    assert summary["run"]["exit"] == "interrupted"
    assert run.leftovers() == []


def test_a_reader_that_goes_away_loses_nothing(tmp_path, runs):
    """Finding 2: ``meshvis run ... | head -2``: the broken pipe ended the run silently
    (exit 1, no summary)."""
    stack = tiny(tmp_path)
    run = runs(
        tmp_path,
        meshvis_run(stack, "--duration", "3"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    read_until(run.process.stdout.fileno(), b"at the end: ")
    run.process.stdout.close()  # head -1 has read its line
    assert run.process.wait(90) == 0
    assert "Traceback" not in run.process.stderr.read().decode()
    summary = assert_every_output(tmp_path)
    assert summary["run"]["exit"] == "duration reached"
    assert run.leftovers() == []


# The chart is drawn while a second stop signal arrives (an impatient `kill` after Ctrl-C).
IMPATIENT = textwrap.dedent("""
    import os, signal, sys
    from meshvis.local import runner
    draw = runner.charts.render
    def render(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return draw(*args, **kwargs)
    runner.charts.render = render
    from meshvis.__main__ import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_second_signal_while_the_outputs_are_written_loses_nothing(tmp_path, runs):
    """Finding 3: the default handlers were back while the outputs were written, so a
    second signal lost the summary and both pictures (exit 143)."""
    stack = tiny(tmp_path)
    run = runs(
        tmp_path,
        [sys.executable, "-c", IMPATIENT, *meshvis_run(stack, "--duration", "120")[3:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    read_until(run.process.stdout.fileno(), STARTED)
    time.sleep(8)  # traffic in Prometheus: the old code drew no chart without data
    run.process.send_signal(signal.SIGINT)
    out, err = run.process.communicate(timeout=90)
    assert run.process.returncode == 0, err.decode()
    assert b"chart: out/golden-signals.png" in out
    assert assert_every_output(tmp_path)["run"]["snapshot_file"] == "out/golden-signals.png"
    assert run.leftovers() == []


# A full disk for the summary: a 64 KiB tmpfs, filled, in a mount namespace of the run's own.
ON_A_FULL_DISK = (
    'mount -t tmpfs -o size=64k none "$0" && { cat /dev/zero > "$0/fill" 2>/dev/null; exec "$@"; }'
)


def test_a_summary_that_cannot_be_written_loses_nothing_else(tmp_path, runs):
    """Findings 4 and 5, and the first rule: the summary's file on a full disk (it passed the
    early check) was a traceback and the table never printed; a folder named
    ``service-map.png`` beside the chart was an IsADirectoryError that lost the summary.
    Now: the table is printed, the chart is written, each failure is one line naming the
    path, nothing half-written is left, and the exit code (3) says the summary file failed."""
    if os.geteuid() != 0:
        # A user namespace would do for the mount, but dnsmasq cannot switch to its user there.
        pytest.skip("a mount namespace in which dnsmasq runs needs root")
    stack = tiny(tmp_path)
    full = tmp_path / "full"
    full.mkdir()
    (tmp_path / "out" / "service-map.png").mkdir(parents=True)
    run = runs(
        tmp_path,
        [
            "unshare",
            "--mount",  # with private propagation (util-linux's default): the host sees nothing
            "sh",
            "-c",
            ON_A_FULL_DISK,
            str(full),
            *meshvis_run(
                stack,
                "--duration",
                "2",
                "--summary",
                str(full / "summary.json"),
                "--snapshot",
                "out/golden-signals.png",
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = run.process.communicate(timeout=90)
    assert run.process.returncode == runner.EXIT_SUMMARY_FILE, err
    assert err.splitlines() == [
        f"error: cannot write the summary {full / 'summary.json'} (No space left on device): "
        "free some space on that disk or choose another path",
        "error: cannot write the service map out/service-map.png (Is a directory): a folder "
        "has that name: remove it or choose another path",
    ]
    assert "run summary: stack tiny" in out
    assert (tmp_path / "out" / "golden-signals.png").read_bytes()[:8] == PNG
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file()) == [
        "golden-signals.png"
    ]
    assert run.leftovers() == []


def test_a_bootstrap_past_the_argument_limit_goes_by_file(tmp_path, envoy_binary):
    """Finding 7: a service calling 99 upstreams passed Linux's 128 KiB limit for one
    argument (``--config-yaml``): OSError "Argument list too long"."""
    services = [{"name": f"leaf-{i:02d}", "port": 3000} for i in range(99)]
    services.append({"name": "hub", "port": 3000, "upstreams": [s["name"] for s in services]})
    # The settings' own rules only: how many nodes the pods need is not the point here.
    settings = settings_from_config(
        {
            "aws:region": "us-west-2",
            "mesh-visibility:topology": "eks",
            "mesh-visibility:meshName": "wide",
            "mesh-visibility:services": services,
        }
    )
    bootstrap = envoy_bootstrap(settings, settings.service("hub"))
    assert len(json.dumps(bootstrap)) > 128 * 1024
    argv = envoy_argv("hub-1 envoy", bootstrap, tmp_path / "hub-1.envoy.log", envoy_binary)
    assert max(len(a) for a in argv) < 4096
    done = subprocess.run([*argv, "--mode", "validate"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def in_own_network(script: str) -> subprocess.CompletedProcess:
    """``script`` (Python) in a network namespace of its own, loopback up: a wildcard bind
    there reaches nobody else's ports."""
    return subprocess.run(
        [
            "unshare",
            "-rn",
            "sh",
            "-c",
            'ip link set lo up && exec "$@"',
            "sh",
            sys.executable,
            "-c",
            textwrap.dedent(script),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "kind, port, role",
    [("SOCK_DGRAM", 8125, "DogStatsD"), ("SOCK_STREAM", 4318, "OTLP")],
    ids=["dogstatsd-8125-udp", "otlp-4318-tcp"],
)
def test_a_receiver_port_taken_on_all_interfaces_is_one_line(tmp_path, kind, port, role):
    """Finding 8: another program on 0.0.0.0:8125/udp or :4318 gave a traceback from the
    receivers' bind."""
    stack = tiny(tmp_path)
    done = in_own_network(f"""
        import socket, subprocess, sys
        taken = socket.socket(socket.AF_INET, socket.{kind})
        taken.bind(("0.0.0.0", {port}))
        if taken.type == socket.SOCK_STREAM:
            taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "meshvis", "run", "--stack", "{stack}", "--no-files"],
            cwd="{tmp_path}", capture_output=True, text=True,
        )
        print(done.returncode)
        print(done.stderr, end="")
    """)
    code, *err = done.stdout.splitlines()
    assert (code, len(err)) == ("1", 1), done.stdout + done.stderr
    assert re.fullmatch(
        rf"error: 127\.1\.\d+\.\d+:{port}/\w+ \({role}, .* port\) is taken by another "
        r"program \(Address already in use\), possibly on all interfaces: stop it and run again",
        err[0],
    ), err[0]


def test_a_wildcard_listener_on_the_old_lock_port_leaves_blocks_free():
    """Finding 9: a program listening on 0.0.0.0:10000 made every block's lock fail: "every
    loopback block ... is held by another run" with no other run."""
    done = in_own_network("""
        import socket
        from meshvis.local.plan import claim_block
        taken = socket.socket()
        taken.bind(("0.0.0.0", 10000))
        taken.listen()
        first, lock = claim_block()
        second, _ = claim_block()
        print(first, second)
    """)
    assert done.stdout.split() == ["1", "2"], done.stderr


def test_a_dns_server_that_cannot_bind_says_why(tmp_path):
    """Finding 10: dnsmasq failing to bind said only "exited while starting (code 2)"."""
    settings = stack_settings("tiny", tiny(tmp_path).parent)
    with LocalMesh(settings, tmp_path / "run") as mesh, ProcessGroup():
        host, port = mesh.plan.dns_server
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind((host, port))
            with pytest.raises(StartupFailed) as failed:
                mesh.start()
    assert re.fullmatch(
        r"dns exited while starting \(code 2\): dnsmasq: failed to create listening socket "
        rf"for {re.escape(host)}: Address already in use; log: .*/run/logs/dns\.log",
        str(failed.value),
    ), failed.value


def test_the_run_lock_is_the_stack_files_real_path(tmp_path, monkeypatch):
    """Finding 14: the lock was ``out/run-<stack>`` under the working folder: the same stack
    from another folder ran twice, and two stack files of one name in different folders
    refused each other."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        tiny(folder)
    (tmp_path / "link").symlink_to(first)
    same = tmp_path / "link" / "Pulumi.tiny.yaml"
    with hold_run_dir(tmp_path / "cwd-1" / "run", "one", first / "Pulumi.tiny.yaml"):
        with (
            pytest.raises(
                RunDirBusy, match=rf"is being run by another meshvis run \(pid {os.getpid()}\)"
            ),
            hold_run_dir(tmp_path / "cwd-2" / "run", "two", same),
        ):
            pass
        with hold_run_dir(tmp_path / "cwd-1" / "run-b", "three", second / "Pulumi.tiny.yaml"):
            pass
    monkeypatch.chdir(tmp_path)
    assert run_folder("tiny", first / "Pulumi.tiny.yaml") == run_folder("tiny", same)
    assert run_folder("tiny", first / "Pulumi.tiny.yaml") != run_folder(
        "tiny", second / "Pulumi.tiny.yaml"
    )
    assert run_folder("dev", ROOT / "Pulumi.dev.yaml") == tmp_path / "out" / "run-dev"


@pytest.fixture
def watched(monkeypatch):
    """``runner._watch`` over a group whose ``prometheus`` child is given (nothing else)."""
    monkeypatch.setattr(runner, "discovery_report", lambda plan, rules: {"mismatches": []})
    monkeypatch.setattr(runner, "discovery_lines", lambda report: [])
    monkeypatch.setattr(runner, "_edge_notes", lambda settings, prometheus: [])

    def watch(
        group: ProcessGroup, prometheus, receiver, duration: float
    ) -> tuple[int, runner.RunRecord]:
        # Only what `_watch` reads of a LocalMesh.
        mesh = cast(
            runner.LocalMesh,
            SimpleNamespace(
                group=group,
                prometheus=prometheus,
                receiver=receiver,
                dns=SimpleNamespace(answering=lambda: True, rules=None, unanswered=[]),
                plan=SimpleNamespace(
                    settings=stack_settings("dev"), entry_service="greeter", replicas=()
                ),
            ),
        )
        run: runner.RunRecord = {}
        code, _ = runner._watch(
            Console(file=io.StringIO()),
            mesh,
            runner.live_signals(stack_settings("dev")),
            duration,
            threading.Event(),
            run,
        )
        return code, run

    return watch


def test_a_slow_but_working_prometheus_is_not_declared_hung(tmp_path, monkeypatch, watched):
    """Finding 15: a slow but healthy Prometheus (150 services, 304 processes) was declared
    hung after 16 s and the run failed. Here a busy process stands for it: it uses CPU and
    answers nothing within the patience; the run goes on and says it was slow."""
    monkeypatch.setattr(runner, "PROMETHEUS_DEADLINE", 1.0)
    monkeypatch.setattr(runner, "prometheus_patience", lambda targets: 1.0)

    def timed_out(*query: str) -> dict:
        raise TimeoutError("timed out")

    slow = SimpleNamespace(
        url="http://127.0.0.1:9", query=timed_out, alerts=timed_out, rules={"groups": []}
    )
    with ProcessGroup() as group, DogStatsdReceiver(stack_settings("dev")) as receiver:
        group.start("prometheus", [sys.executable, "-c", "while True: pass"], tmp_path / "busy.log")
        code, run = watched(group, slow, receiver, 3.5)
    assert (code, run["exit"]) == (0, "duration reached"), run
    assert run["prometheus_slow_s"] >= 1


def test_slow_and_hung_are_told_apart():
    assert runner.prometheus_verdict(10, busy=0.0, patience=15) == "ok"
    assert runner.prometheus_verdict(20, busy=5.0, patience=15) == "slow"
    assert runner.prometheus_verdict(20, busy=0.0, patience=15) == "hung"
    assert runner.prometheus_verdict(61, busy=30.0, patience=15) == "hung"
    assert runner.prometheus_patience(300) > runner.prometheus_patience(0)


def test_a_stopped_dns_server_and_a_short_run_are_reported_as_such(tmp_path, runs):
    """Findings 16 and 17: a stopped (SIGSTOP) dnsmasq went unnoticed and the summary said
    every caller resolved exactly its replicas; SIGTERM just after the start showed 0
    requests for services the start-up probe went through. Now the run waits for a scrape
    of every sidecar after the load stopped, and says when the DNS server did not answer."""
    stack = tiny(tmp_path)
    run = runs(
        tmp_path,
        meshvis_run(stack, "--no-files", "--summary", "s.json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    read_until(run.process.stdout.fileno(), STARTED)
    dns = next(p for p in run.leftovers() if b"dnsmasq" in Path(f"/proc/{p}/cmdline").read_bytes())
    os.kill(dns, signal.SIGSTOP)
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(90) == 0, run.process.stderr.read().decode()
    summary = json.loads((tmp_path / "s.json").read_text())
    for service in ("word", "front"):
        assert summary["services"][service]["requests"] >= 1, summary["services"]
        assert "partial" not in summary["services"][service], summary["services"]
    assert any(
        line.startswith("the DNS server did not answer at ")
        for line in summary["discovery"]["mismatches"]
    ), summary["discovery"]
    assert run.leftovers() == []


def test_a_sidecar_killed_mid_run_leaves_its_figures_marked_partial(tmp_path, runs):
    """Finding 17: killing one Envoy showed its service with 0 requests while its only
    upstream showed 5, and nothing said the figure was incomplete."""
    stack = tiny(tmp_path)
    run = runs(
        tmp_path,
        meshvis_run(stack, "--no-files", "--summary", "s.json", "--duration", "120"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    read_until(run.process.stdout.fileno(), STARTED)
    os.kill(sidecar_pid(run.tag, "front-1"), signal.SIGKILL)
    assert run.process.wait(90) == runner.EXIT_FAILED
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["services"]["front"]["partial"].startswith("front-1 not scraped"), summary
    assert run.leftovers() == []


def test_rules_load_from_a_relative_run_folder_or_the_start_fails(tmp_path, monkeypatch):
    """Issue 18 item 1: a relative rule file was resolved against prometheus.yml's folder, so
    no rule loaded and nothing said so. Now every path is absolute, the loaded rules are
    checked against the generated ones, and ``rules_loaded`` counts them."""
    monkeypatch.chdir(tmp_path)
    rules = rules_file(stack_settings("dev"))
    expected = sum(len(group["rules"]) for group in rules["groups"])
    Path("out/run-dev").mkdir(parents=True)
    with ProcessGroup() as group:
        prometheus = Prometheus(Path("out/run-dev"), [], rules)
        prometheus.start(group, Path("out/run-dev/prometheus.log"))
        assert prometheus.rules_loaded == expected > 0
        prometheus.rules = {"groups": [*rules["groups"], {"name": "extra", "rules": []}]}
        with pytest.raises(RulesNotLoaded, match=rf"^Prometheus loaded {expected} rules in "):
            prometheus.check_rules()
