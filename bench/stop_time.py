"""How long a large local mesh takes to stop after Ctrl-C (issue goal: under 15 s at 100 services).

    .venv/bin/python -m bench.stop_time [--services 100] [--seconds 30]

Writes a stack of ``--services`` demo-app services in chains of ten behind one load generator
to a temporary folder, runs ``python -m meshvis run`` on it, waits until the live view shows
traffic on every service (at most 240 s) plus ``--seconds``, sends SIGINT and prints the time
until the runner has exited and how many of its processes were left.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.machine import header

ROOT = Path(__file__).resolve().parent.parent
CHAIN = 10
START_TIMEOUT_S = 240


def chain_stack(services: int) -> dict:
    """A stack file: ``services`` apps in chains of CHAIN, a load generator calling each head."""
    apps = []
    for i in range(services):
        app = {"name": f"s{i}", "port": 3000}
        if (i + 1) % CHAIN and i + 1 < services:
            app["upstreams"] = [f"s{i + 1}"]
        apps.append(app)
    load = {
        "name": "load",
        "kind": "load",
        "rate": 1,
        "upstreams": [f"s{i}" for i in range(0, services, CHAIN)],
    }
    return {
        "config": {
            "aws:region": "us-west-2",
            "mesh-visibility:topology": "ecs",
            "mesh-visibility:meshName": "big",
            "mesh-visibility:services": [*apps, load],
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="seconds of traffic before Ctrl-C (default 30)"
    )
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory(prefix="meshvis-stop-") as work:
        (Path(work) / "Pulumi.big.yaml").write_text(yaml.safe_dump(chain_stack(args.services)))
        log = Path(work) / "run.log"
        with log.open("w") as out:
            runner = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "meshvis",
                    "run",
                    "--stack",
                    "big",
                    "--root",
                    work,
                    "--duration",
                    "900",
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while f"s{args.services - 1}: req/s" not in log.read_text():
                if runner.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"the mesh did not start; see the end of the log:\n"
                        f"{log.read_text()[-2000:]}"
                    )
                time.sleep(1)
            time.sleep(args.seconds)
            children = descendants(runner.pid)
            started = time.monotonic()
            runner.send_signal(signal.SIGINT)
            runner.wait(timeout=120)
            stopped = time.monotonic() - started
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
        text = log.read_text()
        left = [pid for pid, cmdline in children.items() if _cmdline(pid) == cmdline]
        print(
            f"services: {args.services} apps + 1 load generator, {len(children)} processes; "
            f"exit code {runner.returncode}"
        )
        print(
            f"Ctrl-C to exit: {stopped:.1f} s (goal < 15 s); 'stopping…' and 'everything is "
            f"stopped' printed: {'stopping…' in text and 'everything is stopped' in text}"
        )
        print(f"processes of the run left: {len(left)}")


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def descendants(root: int) -> dict[int, bytes]:
    """Every live descendant of ``root``: pid -> command line (to tell a reused pid apart)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                cmdline = _cmdline(pid)
                if cmdline is not None:
                    found[pid] = cmdline
                    frontier.append(pid)
    return found


if __name__ == "__main__":
    main()
