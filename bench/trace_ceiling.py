"""How many traces the trace ceiling's sampler really keeps a minute, by how many distinct
paths the traffic has.

    .venv/bin/python -m bench.trace_ceiling [--stack dev] [--service name] [--rate 10]
                                            [--minutes 4]

The sampler (``envoy.tracers.opentelemetry.samplers.dynatrace``, components/sidecar/tracing.py)
counts requests per method+path key, keeps at most 100 keys and gives a key it has not
kept the exponent of the least frequent one (Envoy's samplers/dynatrace/sampling_controller.cc
and .h). So its ceiling holds for traffic with few paths, and traffic with ids in its paths
(``/u/<n>``) is kept at about a fixed number a minute, whatever the ceiling. This bench
measures both: three copies of the stack's sidecar of ``--service`` (its deployed
bootstrap, localized as the local mesh does; nginx as its app and as the trace collector),
each on its own loopback address, each sent ``--rate`` requests a second without a trace
context on one keep-alive connection: to one path, to 20 paths in turn, to a new path
each time. Every ``tracing.opentelemetry.spans_sent`` of a sidecar is one trace here (one
hop, no upstream calls). It prints the traces of each minute per replica; the first minute
is the sampler's warm-up (no counts yet), the later ones are what it keeps at steady traffic.
The sidecars keep all their stats here (no stats matcher), for the tracer's counter.

Bounded: ``--minutes`` (at most 10) plus about 15 s; every process is stopped on exit.
This is timing, so it is a bench and not a test.
"""

from __future__ import annotations

import argparse
import http.client
import re
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.sidecar_profile import bench_start
from bench.sidecar_vs_bare_envoy import start_nginx
from components.settings.ports import INGRESS_PORT
from components.sidecar.tracing import roots_per_minute
from meshvis.local.plan import LocalReplica, block_address, plan_mesh
from meshvis.local.processes import ProcessGroup, wait_http

MODES = {
    "1 path": lambda n: "/p",
    "20 paths": lambda n: f"/p{n % 20}",
    "unique paths": lambda n: f"/u/{n}",
}
MAX_MINUTES = 10
# The sampler fetches its configuration 10 s after start; start counting once it has.
SETTLE_S = 12.0
SPANS_SENT = re.compile(r"^tracing\.opentelemetry\.spans_sent: (\d+)$", re.MULTILINE)


def spans_sent(replica: LocalReplica) -> int:
    """The sidecar's ``tracing.opentelemetry.spans_sent`` (admin on its own loopback)."""
    url = replica.admin_url("/stats?filter=opentelemetry.spans_sent")
    with urllib.request.urlopen(url, timeout=5) as response:
        found = SPANS_SENT.search(response.read().decode())
    return int(found.group(1)) if found else 0


def drive(
    replica: LocalReplica,
    path_of: Callable[[int], str],
    rate: float,
    seconds: float,
    counts: list[int],
) -> None:
    """``rate`` requests a second to ``path_of(n)`` for ``seconds``; ``counts`` gets the
    replica's spans sent at the end of every minute."""
    connection = http.client.HTTPConnection(replica.address, INGRESS_PORT, timeout=5)
    started = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - started) < seconds:
        connection.request("GET", path_of(n))
        connection.getresponse().read()
        n += 1
        if elapsed >= 60 * (len(counts) + 1):
            counts.append(spans_sent(replica))
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--service", default="name")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--minutes", type=int, default=4)
    args = parser.parse_args()
    minutes = min(MAX_MINUTES, max(2, args.minutes))
    settings, block, lock = bench_start(args.stack)
    service = settings.service(args.service)
    plan = plan_mesh(settings, block)
    replicas = [LocalReplica(service, i, block_address(block, i)) for i in range(1, len(MODES) + 1)]
    counts: dict[str, list[int]] = {mode: [] for mode in MODES}
    with (
        lock,
        tempfile.TemporaryDirectory(prefix="meshvis-ceiling-") as work,
        ProcessGroup() as group,
    ):
        folder = Path(work)
        start_nginx(
            group,
            folder,
            [*((r.address, service.app_port) for r in replicas), plan.trace_collector],
        )
        for replica in replicas:
            bootstrap = plan.bootstrap(replica)
            # The stats matcher keeps only what dashboards read; the tracer's counters too here.
            bootstrap["stats_config"].pop("stats_matcher", None)
            group.start_envoy(replica.instance, bootstrap, folder / f"{replica.instance}.log")
        for replica in replicas:
            wait_http(f"http://{replica.address}:{INGRESS_PORT}/", group, timeout=30)
        time.sleep(SETTLE_S)
        threads = [
            threading.Thread(
                target=drive,
                args=(replica, MODES[mode], args.rate, minutes * 60 + 1, counts[mode]),
            )
            for replica, mode in zip(replicas, MODES, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=minutes * 60 + 60)
    ceiling = roots_per_minute(settings, service)
    print(
        f"\n{args.stack} stack's {args.service!r} sidecar, its sampler's ceiling "
        f"{ceiling} a minute per replica, {args.rate:g} requests/s without a trace context "
        "per replica; traces kept in each minute (minute 1: the warm-up)"
    )
    print(
        f"{'paths':<14}"
        + "".join(f"{f'min {m}':>8}" for m in range(1, minutes + 1))
        + f"{'steady':>9}"
    )
    for mode, totals in counts.items():
        per_minute = [b - a for a, b in zip([0, *totals], totals, strict=False)]
        steady = per_minute[1:]
        mean = sum(steady) / len(steady) if steady else float("nan")
        print(f"{mode:<14}" + "".join(f"{c:>8}" for c in per_minute) + f"{mean:>9.0f}")


if __name__ == "__main__":
    main()
