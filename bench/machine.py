"""The lines every benchmark prints first: the command that produced the figures and the
machine they came from, so a figure in the README can be traced and reproduced."""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
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


def _module() -> str:
    main = Path(sys.argv[0]).resolve()
    root = Path(__file__).resolve().parent.parent
    try:
        return ".".join(main.relative_to(root).with_suffix("").parts)
    except ValueError:
        return str(main)
