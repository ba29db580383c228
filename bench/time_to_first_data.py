"""Seconds from ``meshvis run`` to the first golden signals, as a user starting it sees them.

    .venv/bin/python -m bench.time_to_first_data [--stack dev] [--repeat 3]

Starts ``python -m meshvis run --stack <stack> --duration 25`` as a user would and polls its
Prometheus (the URL it prints) with the live view's own queries every 0.2 s. Reported, from
the moment the command was started:

- ready: every process up, the entry service answered, the load generators started;
- first row: some service's live-view row has a request rate (the runner's
  ``time_to_first_data_s`` counts the same from when the load started);
- first traffic: a request rate above zero;
- all signals: every live-view query has data for every service it covers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.machine import header
from components.stack import stack_settings
from meshvis.local.golden_signals import live_signals, read_signals, without_data

ROOT = Path(__file__).resolve().parent.parent

GOAL_S = 15.0
DURATION_S = 25
POLL_S = 0.2
PROMETHEUS_LINE = re.compile(r"^Prometheus: (http://127\.0\.0\.1:\d+)")
MILESTONES = ("ready", "first row", "first traffic", "all signals")


def _query(url: str, expr: str) -> dict[str, float]:
    """An instant query by service, as the live view makes it (NaN dropped)."""
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=5
    ) as response:
        body = json.load(response)
    return {
        s["metric"].get("service", ""): float(s["value"][1])
        for s in body["data"]["result"]
        if s["value"][1] != "NaN"
    }


def one_run(stack: str, work: Path) -> dict[str, float]:
    """One ``meshvis run``: seconds from its start to each milestone, and its own figures."""
    signals = live_signals(stack_settings(stack))
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshvis",
            "run",
            "--stack",
            stack,
            "--duration",
            str(DURATION_S),
            "--summary",
            "summary.json",
        ],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[str, float] = {}
    assert process.stdout is not None  # stdout=PIPE
    try:
        for line in process.stdout:
            match = PROMETHEUS_LINE.match(line)
            if match:
                seen["ready"] = time.monotonic() - started
                url = match.group(1)
                break
        else:
            raise SystemExit(f"meshvis run ended without starting (exit {process.wait()})")
        while len(seen) < len(MILESTONES) and process.poll() is None:
            values = read_signals(lambda expr: _query(url, expr), signals)
            now = time.monotonic() - started
            rates = [row["requests_per_s"] for row in values.values() if "requests_per_s" in row]
            if rates:
                seen.setdefault("first row", now)
            if any(rate > 0 for rate in rates):
                seen.setdefault("first traffic", now)
            if not without_data(signals, values):
                seen.setdefault("all signals", now)
            time.sleep(POLL_S)
        process.stdout.read()
    finally:
        if process.wait(DURATION_S + 60) != 0:
            raise SystemExit(f"meshvis run failed (exit {process.returncode})")
    run = json.loads((work / "summary.json").read_text())["run"]
    seen["runner: startup"] = run["startup_seconds"]
    seen["runner: first data after load start"] = run.get("time_to_first_data_s", float("nan"))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(header())
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="meshvis-bench-") as work:
            runs.append(one_run(args.stack, Path(work)))
    print(
        f"\nstack {args.stack}: seconds since `meshvis run` started "
        f"({args.repeat} runs; goal for the first row: under {GOAL_S:g} s)"
    )
    print(f"{'milestone':<38}{'median':>8}{'max':>8}   runs")
    for key in runs[0]:
        values = [run.get(key, float("nan")) for run in runs]
        print(
            f"{key:<38}{statistics.median(values):>8.1f}{max(values):>8.1f}   "
            + " ".join(f"{v:.1f}" for v in values)
        )


if __name__ == "__main__":
    main()
