"""Reading the local mesh's sidecars: their CPU and memory from /proc, and how many requests
each has passed on, for the benchmarks."""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

from components.sidecar.names import ADMIN_CLUSTER
from meshvis.local.mesh import LocalMesh

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_usage(pid: int) -> tuple[float, float, float]:
    """(CPU seconds so far, RSS MiB, anonymous RSS MiB) of a process.

    RSS includes the pages of the Envoy binary it has touched (file-backed, shared between
    processes of one image); the anonymous part is the process's own heap and stacks.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    status = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return cpu, _mib(status["VmRSS"]), _mib(status["RssAnon"])


def _mib(value: str) -> float:
    return int(value.split()[0]) / 1024


def envoy_pids(mesh: LocalMesh) -> dict[str, int]:
    """Each running sidecar's pid, by replica (``greeter-1``)."""
    return {c.name.split()[0]: c.pid for c in mesh.group.children if c.name.endswith(" envoy")}


def requests_passed_on(mesh: LocalMesh, instance: str) -> int:
    """Requests a sidecar has sent on so far: to its app (what its ingress served) and to
    its upstreams (what its egress listeners forwarded). Read from the per-host counters of
    /clusters, which no stats matcher removes."""
    replica = mesh.replica(instance)
    with urllib.request.urlopen(replica.admin_url("/clusters"), timeout=5) as response:
        lines = response.read().decode().splitlines()
    # <cluster>::<host>:<port>::rq_total::<count>
    counts = (re.fullmatch(r"([^:]+)::[^:]+:\d+::rq_total::(\d+)", line) for line in lines)
    return sum(int(m.group(2)) for m in counts if m and m.group(1) != ADMIN_CLUSTER)
