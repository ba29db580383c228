"""What ``meshvis run`` checks before it starts anything: that the demo app, which plays every
app service locally (those with their own ``image`` too), would not call itself in a loop, and
that this machine has the memory for the run.

The memory estimate counts each process's whole resident set as measured: an Envoy sidecar
64-67 MiB (docs/measurements.md "Sidecar overhead", ``bench/sidecar_overhead.py``), the demo
app 21 MiB and an idle Prometheus 41 MiB (``VmRSS`` from /proc after start-up and a few
requests, on this project's test machine). Envoys share their binary's pages, so the estimate
errs high.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

from components.settings.errors import ConfigError
from components.settings.model import Settings
from components.settings.validate import call_cycle
from meshvis.errors import UsageError

ENVOY_MIB = 65
APP_MIB = 21
# Prometheus idle, plus room for the series of every sidecar it scrapes.
PROMETHEUS_MIB = 100
# Leave a quarter of what is available to everything else on the machine.
USABLE_SHARE = 0.75
MEMINFO = Path("/proc/meminfo")
# Descriptors the runner holds for the whole run: per replica its two children's logs and a
# DogStatsD socket; plus the runner's own (Python, Prometheus queries, health checks, threads).
FDS_PER_REPLICA = 3
FDS_BASE = 256


@dataclass(frozen=True)
class Estimate:
    """Processes and resident memory a local run of a stack needs."""

    envoys: int
    apps: int

    @property
    def processes(self) -> int:
        return self.envoys + self.apps + 1  # and Prometheus

    @property
    def mib(self) -> int:
        return self.envoys * ENVOY_MIB + self.apps * APP_MIB + PROMETHEUS_MIB


def estimate(settings: Settings) -> Estimate:
    """Every replica runs an Envoy and the demo app (a load generator's app sends the load)."""
    replicas = sum(s.replicas for s in settings.services)
    return Estimate(envoys=replicas, apps=replicas)


def available_mib() -> int | None:
    """``MemAvailable`` of /proc/meminfo in MiB (None where there is no such file)."""
    try:
        for line in MEMINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "MemAvailable":
                return int(value.split()[0]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_local_run(settings: Settings, force: bool = False) -> None:
    """Raise ``ConfigError`` if the demo app would loop through a call cycle, or
    ``UsageError`` (unless ``force``) if the run would not fit in memory."""
    cycle = call_cycle({s.name: list(s.upstreams) for s in settings.app_services})
    if cycle:
        raise ConfigError(
            "services",
            f"{' -> '.join(cycle)} call each other in a cycle; "
            "locally the demo app plays every service (its own image too) and "
            "would recurse forever, so this stack cannot run locally",
        )
    check_open_files(settings)
    if force:
        return
    need, available = estimate(settings), available_mib()
    if available is not None and need.mib > available * USABLE_SHARE:
        raise UsageError(
            f"a local run of this stack needs about {need.mib} MiB for {need.processes} "
            f"processes ({need.envoys} Envoys x {ENVOY_MIB} MiB, {need.apps} demo apps x "
            f"{APP_MIB} MiB, Prometheus {PROMETHEUS_MIB} MiB), more than "
            f"{USABLE_SHARE:.0%} of the {available} MiB this machine has available; fewer "
            "replicas, or --force to run anyway"
        )


def check_open_files(settings: Settings) -> None:
    """Raise the soft open-file limit (RLIMIT_NOFILE) to what the run needs when the hard
    limit allows, else raise ``UsageError``: without it the run fails half-way with "Too many
    open files"."""
    need = FDS_BASE + FDS_PER_REPLICA * sum(s.replicas for s in settings.services)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard == resource.RLIM_INFINITY or hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return
    raise UsageError(
        f"a local run of this stack holds about {need} open files, more than this shell's "
        f"limit of {hard} (ulimit -n): raise it (ulimit -n {need}, as allowed) or run fewer "
        "replicas"
    )
