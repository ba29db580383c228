"""What the Envoy sidecars cost a request and a task, measured on the local mesh.

    .venv/bin/python -m bench.sidecar_overhead [--stack dev] [--rate 10] [--seconds 30]

The stack's mesh runs from its deployed bootstraps (meshvis.local.mesh.LocalMesh, without its
load generators). The entry request (``GET /`` on the entry service) is timed two ways, one
after the other, at a fixed request rate and then at 10x that rate:

- through the sidecars: the entry replica's Envoy ingress, its app, its egress listeners, the
  upstreams' Envoys and apps, as on AWS;
- direct: an extra copy of the entry app whose upstream addresses are the upstream apps
  themselves (the same processes), so no Envoy is on the path.

The two paths alternate in slices, so that noise from the rest of the machine falls on both.

Requests are open-loop (sent on a fixed schedule whatever the answers take) over keep-alive
connections. For each sidecar it reports RSS and CPU from /proc, and the CPU per 1000
requests per second that went through it (to its app plus to its upstreams).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.machine import header
from bench.sidecars import envoy_pids, process_usage, requests_passed_on
from components.sidecar.demo_app import DEMO_APP
from components.stack import stack_settings
from meshvis.local.mesh import LocalMesh
from meshvis.local.processes import free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent

WORKERS = 64
WARMUP_REQUESTS = 20


class Client:
    """Open-loop GETs of one URL: one keep-alive connection per worker thread."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname, url
        self.host, self.port = parts.hostname, parts.port
        self.local = threading.local()

    def _get(self) -> tuple[float, int]:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=15
            )
        started = time.perf_counter()
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            self.local.connection = None
            status = 0
        return (time.perf_counter() - started) * 1000, status

    def run(
        self, rate: float, seconds: float, started: Callable[[], None] = lambda: None
    ) -> tuple[list[tuple[float, int]], float]:
        """``rate`` requests a second for ``seconds``: (latency ms, status) of each, and the
        seconds it took. ``started`` is called when the warm-up requests (which open the
        connections) are done and the timed ones begin."""
        with ThreadPoolExecutor(WORKERS) as pool:
            for future in [pool.submit(self._get) for _ in range(WARMUP_REQUESTS)]:
                future.result()
            started()
            futures = []
            start = time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(self._get))
            results = [f.result() for f in futures]
            return results, time.perf_counter() - start


def _latency(results: list[tuple[float, int]], seconds: float) -> dict:
    """Percentiles of the successful requests, the achieved rate and the errors."""
    latencies = sorted(ms for ms, status in results if status == 200)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "achieved_rps": len(results) / seconds,
        "errors": sum(1 for _, status in results if status != 200),
        "p50": quantiles[49],
        "p90": quantiles[89],
        "p99": quantiles[98],
    }


def _machine_busy() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def measure(rate: float, seconds: float, rounds: int, mesh: LocalMesh, direct_url: str) -> dict:
    """Both paths at ``rate``, alternating in ``rounds`` slices so that whatever else the
    machine does falls on both alike; what each sidecar used while the sidecar path ran, and
    how busy the whole machine was on each path."""
    entry = mesh.plan.entry_urls[0]
    envoys = envoy_pids(mesh)
    results: dict[str, list] = {"direct": [], "sidecars": []}
    elapsed = {"direct": 0.0, "sidecars": 0.0}
    busy = {"direct": [0, 0], "sidecars": [0, 0]}
    cpu = dict.fromkeys(envoys, 0.0)
    proxied = dict.fromkeys(envoys, 0)
    snapshot: dict = {}

    def take_snapshot() -> None:
        snapshot["machine"] = _machine_busy()
        snapshot["envoys"] = {
            name: (process_usage(pid)[0], requests_passed_on(mesh, name))
            for name, pid in envoys.items()
        }

    for _ in range(rounds):
        for path, url in (("direct", direct_url), ("sidecars", entry)):
            done, took = Client(url).run(rate, seconds / rounds, take_snapshot)
            machine = _machine_busy()
            results[path] += done
            elapsed[path] += took
            for i in (0, 1):
                busy[path][i] += machine[i] - snapshot["machine"][i]
            if path == "sidecars":
                for name, pid in envoys.items():
                    cpu[name] += process_usage(pid)[0] - snapshot["envoys"][name][0]
                    proxied[name] += requests_passed_on(mesh, name) - snapshot["envoys"][name][1]
    usage = {}
    for name, pid in envoys.items():
        _, rss, anon = process_usage(pid)
        rps = proxied[name] / elapsed["sidecars"]
        vcpu = cpu[name] / elapsed["sidecars"]
        usage[name] = {
            "rss_mib": rss,
            "anon_mib": anon,
            "vcpu": vcpu,
            "proxied_rps": rps,
            "vcpu_per_1000_rps": vcpu / rps * 1000 if rps >= 1 else None,
        }
    latency = {path: _latency(results[path], elapsed[path]) for path in results}
    for path, (used, total) in busy.items():
        latency[path]["machine_busy"] = used / total if total else 0.0
    return {**latency, "usage": usage}


def _start_direct_app(mesh: LocalMesh) -> str:
    """A copy of the entry app on 127.0.0.1 calling the upstream apps directly; its URL."""
    plan = mesh.plan
    entry = plan.of(plan.entry_service)[0]
    port = free_port()
    env = {
        **plan.app_environment(entry),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "INSTANCE": "direct",
        "UPSTREAMS": ",".join(
            f"{u}={plan.of(u)[0].url(plan.of(u)[0].service.app_port).rstrip('/')}"
            for u in entry.service.upstreams
        ),
    }
    mesh.group.start("direct app", [sys.executable, str(DEMO_APP)], mesh.logs / "direct.log", env)
    wait_http(f"http://127.0.0.1:{port}/health", mesh.group)
    return f"http://127.0.0.1:{port}/"


def _row(label: str, stats: dict) -> str:
    return (
        f"{label:<28}{stats['achieved_rps']:>8.1f}{stats['p50']:>9.2f}{stats['p90']:>9.2f}"
        f"{stats['p99']:>9.2f}{stats['errors']:>8}{stats['machine_busy']:>10.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="entry requests per second; then 10x (default 10)"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="seconds per path and rate (default 30)"
    )
    parser.add_argument(
        "--rounds", type=int, default=6, help="alternating slices of each path per rate (default 6)"
    )
    args = parser.parse_args()
    print(header())
    settings = stack_settings(args.stack)
    settings = settings.model_copy(
        update={"services": tuple(s for s in settings.services if not s.is_load)}
    )
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="meshvis-bench-") as work,
        LocalMesh(settings, Path(work)) as mesh,
    ):
        mesh.start()
        direct_url = _start_direct_app(mesh)
        idle = {name: process_usage(pid)[1:] for name, pid in envoy_pids(mesh).items()}
        for rate in (args.rate, 10 * args.rate):
            results[rate] = measure(rate, args.seconds, args.rounds, mesh, direct_url)
        path = (
            f"{mesh.plan.entry_service} -> "
            f"{', '.join(mesh.plan.of(mesh.plan.entry_service)[0].service.upstreams)}"
        )

    print(
        f"\nentry request GET / on {args.stack} ({path}), {args.seconds:g} s per row in "
        f"{args.rounds} slices alternating with the other path, open loop, keep-alive; "
        "latency in ms"
    )
    print(f"{'path':<28}{'req/s':>8}{'p50':>9}{'p90':>9}{'p99':>9}{'errors':>8}{'CPU busy':>10}")
    for rate, result in results.items():
        print(_row(f"direct @ {rate:g}/s", result["direct"]))
        print(_row(f"through sidecars @ {rate:g}/s", result["sidecars"]))
        added = {q: result["sidecars"][q] - result["direct"][q] for q in ("p50", "p90", "p99")}
        print(
            f"{'  added by the sidecars':<36}{added['p50']:>9.2f}{added['p90']:>9.2f}"
            f"{added['p99']:>9.2f}"
        )
    print(
        "\nper sidecar (Envoy 1.40, --concurrency 1): RSS (anonymous part) idle and after "
        "each rate, CPU while the sidecar path ran"
    )
    print(
        f"{'sidecar':<14}{'RSS idle':>14}"
        + "".join(
            f"{'RSS @' + format(r, 'g'):>14}{'vCPU':>8}{'rq/s':>8}{'vCPU/1k':>9}" for r in results
        )
    )
    for name, (rss, anon) in idle.items():
        cells = ""
        for result in results.values():
            use = result["usage"][name]
            per_k = "-" if use["vcpu_per_1000_rps"] is None else f"{use['vcpu_per_1000_rps']:.2f}"
            memory = f"{use['rss_mib']:.1f} ({use['anon_mib']:.1f})"
            cells += f"{memory:>14}{use['vcpu']:>8.3f}{use['proxied_rps']:>8.1f}{per_k:>9}"
        print(f"{name:<14}{f'{rss:.1f} ({anon:.1f})':>14}{cells}")
    print(
        "\nCPU busy: the whole machine's, every process included, while that path ran. RSS "
        "in MiB; vCPU = CPU seconds per second; rq/s = requests the sidecar passed on (to its "
        "app and to its upstreams); vCPU/1k = vCPU per 1000 such requests per second"
    )


if __name__ == "__main__":
    main()
