"""The lines every benchmark prints first: the command that produced the figures and the
machine they came from, so a figure in docs/measurements.md can be traced and reproduced."""

from __future__ import annotations

import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ENVOY = Path(sys.executable).parent / "envoy"


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo names it (else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def envoy_version() -> str:
    try:
        done = subprocess.run([str(ENVOY), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return "not installed"
    # "<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    found = re.search(r"version: [0-9a-f]+/([0-9.]+)/", done.stdout)
    return found.group(1) if found else done.stdout.strip()


def header() -> str:
    """``# command`` and ``# machine`` lines."""
    command = " ".join(
        shlex.quote(a) for a in [Path(sys.executable).name, "-m", _module(), *sys.argv[1:]]
    )
    return (
        f"# command: .venv/bin/{command}\n"
        f"# machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"Envoy {envoy_version()}"
    )


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def noise(seconds: float = 3.0, spins: int = 30) -> str:
    """A ``# noise`` line: what else the machine was doing when a benchmark started.

    The load averages, the share of all CPUs busy over ``seconds`` (this process idles while
    it is measured, so that is the rest of the machine), and how much a fixed spin of pure
    Python work varies over ``spins`` runs (the spread a figure taken now can carry).
    """
    load = os.getloadavg()
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    busy = (busy1 - busy0) / max(1, total1 - total0)
    durations = []
    for _ in range(spins):
        started = time.perf_counter()
        sum(i * i for i in range(20_000))
        durations.append((time.perf_counter() - started) * 1000)
    median = statistics.median(durations)
    return (
        f"# noise: load average {load[0]:.2f}/{load[1]:.2f} (1/5 min) on {os.cpu_count()} CPUs; "
        f"{busy:.0%} of all CPU busy with other work over {seconds:g} s; a fixed spin took "
        f"{min(durations):.2f}/{median:.2f}/{max(durations):.2f} ms (min/median/max of {spins}, "
        f"spread {(max(durations) - min(durations)) / median:.0%})"
    )


def _module() -> str:
    main = Path(sys.argv[0]).resolve()
    root = Path(__file__).resolve().parent.parent
    try:
        return ".".join(main.relative_to(root).with_suffix("").parts)
    except ValueError:
        return str(main)
