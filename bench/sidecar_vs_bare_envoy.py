"""One project sidecar against a bare Envoy, in front of the same fast upstream, on this machine.

    .venv/bin/python -m bench.sidecar_vs_bare_envoy [--stack dev] [--service name]
        [--rates 200,500,1000] [--seconds 12] [--rounds 4] [--lever-rate 1000] [--no-levers]
        [--trace-context none|unsampled|sampled]

Three paths to one upstream, Debian's nginx answering a small static body on a loopback
address (unprivileged, its config and logs in a temporary folder):

- direct: the load tool to nginx;
- bare Envoy: one listener, one route, one static cluster, no access log, no stats sink, no
  admin interface (what Envoy itself costs);
- project sidecar: the stack's real bootstrap of ``--service`` (``envoy_bootstrap``), localized
  to a loopback address with the local mesh's helpers (meshvis/local/plan.py), so its ingress
  listener routes to nginx where its app would be. Its tracer exports to nginx too (which
  answers the OTLP POSTs 200), its DogStatsD sink sends to a live receiver on its address's
  port 8125 (bench/udp_drain.py: it receives and counts; the agent's parsing is the agent's
  cost, in its own container): a port nobody reads would make the kernel answer each
  datagram with an ICMP error, a cost no task pays.

Both Envoys run with the deployed sidecars' command line (``--concurrency 1``, one worker
thread each). The load tool is Debian's ``hey`` (open keep-alive connections, a fixed rate per
worker, a bounded duration); the paths alternate in ``--rounds`` slices per rate, in reverse
order every other round, so that noise and drift fall on all of them. It prints latency added
over direct (p50/p90/p99), the CPU each Envoy used (utime + stime from /proc/<pid>/stat) per
1000 requests per second, the DogStatsD datagrams per request, the machine's noise before and
after (bench/machine.py ``noise``) and the spread of the per-round ratio.

Every request brings ``--trace-context``: by default an unsampled ``traceparent``, as the
measured service's caller's sidecar sends it (a service behind another sidecar follows its
parent's decision and never runs the trace ceiling's sampler); ``none`` measures a trace root
(the entry, which decides every request with the sampler).

Then the levers: the project sidecar with one setting changed at a time, each at
``--lever-rate``, so each setting's cost is measured rather than guessed.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import socket
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import otlp_receiver
from bench.machine import header, noise
from bench.otlp_sink import with_otel_stats_sink
from bench.sidecars import process_usage
from bench.udp_drain import UdpDrain
from components.settings.ports import INGRESS_PORT, STATSD_PORT
from components.sidecar.bootstrap import HCM, ROUTER
from components.sidecar.clusters import static_cluster
from components.sidecar.tracing import DYNATRACE_SAMPLER
from components.stack import stack_settings
from meshvis.local.plan import LocalReplica, block_address, claim_block, plan_mesh
from meshvis.local.processes import ProcessGroup, wait_http

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HEY = shutil.which("hey") or "/usr/bin/hey"
# What a request brings: a sidecar behind another one always gets its caller's `traceparent`,
# unsampled for all but the few traces the ceiling keeps; a trace root (the entry) gets none.
_PARENT = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"
TRACE_CONTEXTS = {"none": (), "unsampled": (f"{_PARENT}0",), "sampled": (f"{_PARENT}1",)}
BODY = "hello from nginx\n"
# Requests per second each hey worker sends (hey's -q is per worker): enough workers that
# one slow answer does not hold the rate back.
RATE_PER_WORKER = 50
# Bounds: no run of the load tool may take longer than its duration plus this.
HEY_GRACE_S = 30
BARE_PORT = INGRESS_PORT

Bootstrap = dict
Lever = Callable[[Bootstrap], Bootstrap]


def _hcms(bootstrap: Bootstrap) -> list[dict]:
    """The request listeners' HTTP connection managers (not the metrics listener's)."""
    return [
        f["typed_config"]
        for listener in bootstrap["static_resources"]["listeners"]
        if listener["name"] != "metrics"
        for chain in listener["filter_chains"]
        for f in chain["filters"]
        if f["typed_config"].get("@type") == HCM
    ]


def _set_hcm(**fields: object) -> Lever:
    def lever(bootstrap: Bootstrap) -> Bootstrap:
        for hcm in _hcms(bootstrap):
            hcm.update(fields)
        return bootstrap

    return lever


def _drop_tracing(bootstrap: Bootstrap) -> Bootstrap:
    for hcm in _hcms(bootstrap):
        hcm.pop("tracing", None)
    return bootstrap


def _stats(**fields: object) -> Lever:
    def lever(bootstrap: Bootstrap) -> Bootstrap:
        bootstrap["stats_config"].update(fields)
        return bootstrap

    return lever


def _top(key: str, value: object) -> Lever:
    def lever(bootstrap: Bootstrap) -> Bootstrap:
        if value is None:
            bootstrap.pop(key, None)
        else:
            bootstrap[key] = value
        return bootstrap

    return lever


def _no_matcher(bootstrap: Bootstrap) -> Bootstrap:
    bootstrap["stats_config"].pop("stats_matcher", None)
    return bootstrap


def _entry_sampler(bootstrap: Bootstrap) -> Bootstrap:
    """The trace ceiling's sampler offered every request, as a sidecar runs it for requests
    without a trace context (components/sidecar/tracing.py; here without ParentBased and its
    configuration source: it logs once that it has none)."""
    for hcm in _hcms(bootstrap):
        provider = hcm["tracing"]["provider"]["typed_config"]
        provider["sampler"] = {
            "name": "envoy.tracers.opentelemetry.samplers.dynatrace",
            "typed_config": {
                "@type": DYNATRACE_SAMPLER,
                "tenant": "bench",
                "cluster_id": 0,
                "root_spans_per_minute": 6,
            },
        }
    return bootstrap


def _no_histograms(bootstrap: Bootstrap) -> Bootstrap:
    """The essential inclusion list without its request-time histograms (every ``_rq_time``
    alternative taken out of each scope's regex): no sample recorded, none sent."""
    for pattern in bootstrap["stats_config"]["stats_matcher"]["inclusion_list"]["patterns"]:
        regex = pattern["safe_regex"]["regex"]
        head, names, tail = (
            regex.partition("(")[0],
            regex.partition("(")[2].rpartition(")")[0],
            ")$",
        )
        kept = [n for n in names.split("|") if not n.endswith("_rq_time")]
        pattern["safe_regex"]["regex"] = f"{head}({'|'.join(kept) or 'none'}{tail}"
    return bootstrap


# One setting of the project sidecar changed at a time. Those marked "changes behaviour"
# are measured only: they drop something a reader or the tracer needs.
LEVERS: dict[str, tuple[Lever, str]] = {
    "access log off": (_set_hcm(access_log=[]), "changes behaviour: no failed-request log"),
    "tracing off": (_drop_tracing, "changes behaviour: no spans"),
    "stats sink off": (_top("stats_sinks", None), "changes behaviour: no CloudWatch metrics"),
    "stats flush 60s": (
        _top("stats_flush_interval", "60s"),
        "coarser CloudWatch metrics (10 s to 60 s)",
    ),
    "default tags off": (
        _stats(use_all_default_tags=False),
        "changes behaviour: stat names lose their tags",
    ),
    "stats matcher off (full)": (_no_matcher, "keeps every stat"),
    "OpenTelemetry stats sink": (
        with_otel_stats_sink,
        "histograms aggregated in Envoy, OTLP/gRPC at each flush; p99 at bucket bounds",
    ),
    "trace ceiling sampler": (
        _entry_sampler,
        "traceLimitPerMinute, paid by requests without a trace context (entry requests)",
    ),
    "histograms off": (
        _no_histograms,
        "changes behaviour: no latency metrics, alarms or SLOs",
    ),
    "request id off": (
        _set_hcm(generate_request_id=False),
        "changes behaviour: no sample decision, no trace id",
    ),
    "path normalization off": (
        _set_hcm(normalize_path=False, merge_slashes=False),
        "changes behaviour: routes see raw paths",
    ),
}


def bare_envoy(address: str, port: int, upstream: tuple[str, int]) -> Bootstrap:
    """Envoy's floor: one listener, one route to one static cluster; nothing else."""
    host, upstream_port = upstream
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "bare",
                    "address": {"socket_address": {"address": address, "port_value": port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": HCM,
                                        "stat_prefix": "bare",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "bare",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "route": {"cluster": "upstream"},
                                                        }
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {"@type": ROUTER},
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [static_cluster("upstream", host, upstream_port)],
        },
    }


def nginx_config(folder: Path, listens: list[tuple[str, int]]) -> Path:
    """A foreground nginx for an unprivileged user: one worker, its files in ``folder``,
    answering every request on ``listens`` (loopback addresses only) with ``BODY``."""
    assert all(host.startswith("127.") for host, _ in listens), listens
    servers = "\n".join(f"        listen {host}:{port};" for host, port in listens)
    conf = folder / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    keepalive_requests 1000000;
    server {{
{servers}
        location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}
    }}
}}
""")
    return conf


def start_nginx(group: ProcessGroup, folder: Path, listens: list[tuple[str, int]]) -> None:
    """Run ``nginx_config``'s nginx (answering on ``listens``) as a child of ``group``."""
    conf = nginx_config(folder, listens)
    group.start(
        "nginx",
        [NGINX, "-p", str(folder), "-c", str(conf), "-g", f"daemon off; pid {folder}/nginx.pid;"],
        folder / "nginx.out",
    )


def hey(url: str, rate: int, seconds: float, headers: tuple[str, ...] = ()) -> list[float]:
    """``rate`` req/s for ``seconds`` from Debian's hey, each request with ``headers``
    (``name: value``): each answered request's latency (ms). Raises if any request failed."""
    workers = max(1, rate // RATE_PER_WORKER)
    done = subprocess.run(
        # One CPU for the load tool, so that it leaves the other to the process under test.
        [
            HEY,
            *(arg for header in headers for arg in ("-H", header)),
            "-z",
            f"{seconds:g}s",
            "-c",
            str(workers),
            "-q",
            f"{rate / workers:g}",
            "-cpus",
            "1",
            "-o",
            "csv",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + HEY_GRACE_S,
        check=True,
    )
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    bad = [r for r in rows if r["status-code"] != "200"]
    if not rows or bad:
        raise RuntimeError(
            f"hey {url}: {len(bad)} of {len(rows)} requests failed ({done.stderr.strip()[-300:]})"
        )
    return [float(r["response-time"]) * 1000 for r in rows]


def quantiles(latencies: list[float]) -> dict[str, float]:
    """p50, p90, p99 and ``mid``, the mean of the middle half (p25 to p75).

    hey reports each latency in 0.1 ms steps (its CSV's ``%4.4f`` seconds), so a median moves
    in those steps too, a coarse grain for a sub-millisecond difference; the middle half's
    mean, over thousands of requests whose jitter spans several steps, resolves finer.
    """
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    middle = [v for v in latencies if cuts[24] <= v <= cuts[74]]
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "mid": statistics.fmean(middle)}


class Target:
    """One path under test: its URL and the pid of the Envoy on it (None: direct)."""

    def __init__(
        self, label: str, url: str, pid: int | None, headers: tuple[str, ...] = ()
    ) -> None:
        self.label, self.url, self.pid, self.headers = label, url, pid, headers
        self.latencies: list[float] = []
        self.round_mids: list[float] = []
        self.cpu = 0.0
        self.requests = 0
        self.datagrams = 0

    def run(self, rate: int, seconds: float, receiver: UdpDrain | None = None) -> None:
        before = process_usage(self.pid)[0] if self.pid else 0.0
        sent = receiver.datagrams if receiver else 0
        done = hey(self.url, rate, seconds, self.headers)
        self.latencies += done
        self.round_mids.append(quantiles(done)["mid"])
        self.requests += len(done)
        if self.pid:
            self.cpu += process_usage(self.pid)[0] - before
        if receiver:
            # Every sidecar sends to the one receiver; only this path runs now (the idle
            # ones' flushes, a few a minute, are counted too: an upper bound).
            self.datagrams += receiver.datagrams - sent

    def vcpu_per_1000_rps(self) -> float | None:
        """CPU seconds per second per 1000 requests per second."""
        if not self.pid or not self.requests:
            return None
        return self.cpu / self.requests * 1000


def _cpu(path: Target) -> float:
    """A measured path's vCPU per 1000 req/s (every path the report compares ran and served
    requests: ``measure`` fails otherwise)."""
    value = path.vcpu_per_1000_rps()
    if value is None:
        raise SystemExit(f"{path.label}: no CPU figure (no process or no requests)")
    return value


def measure(
    paths: list[Target],
    rate: int,
    seconds: float,
    rounds: int,
    receiver: UdpDrain | None = None,
) -> list[Target]:
    """Every path at ``rate`` for ``seconds`` in all, alternating in ``rounds`` slices (in
    reverse order every other round)."""
    fresh = [Target(p.label, p.url, p.pid) for p in paths]
    for number in range(rounds):
        for path in fresh if number % 2 == 0 else reversed(fresh):
            path.run(rate, seconds / rounds, receiver)
    return fresh


def round_ratios(direct: Target, bare: Target, project: Target) -> list[float]:
    """The project/bare ratio of added middle-half latency in each round (the spread the
    figure carries)."""
    return [
        (p - d) / (b - d) if b > d else float("nan")
        for d, b, p in zip(direct.round_mids, bare.round_mids, project.round_mids, strict=True)
    ]


def _free(address: str, ports: list[int]) -> bool:
    """Whether nothing listens on any of ``ports`` of ``address`` (connections of an earlier
    run in TIME_WAIT do not count: Envoy and nginx bind with SO_REUSEADDR too)."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


def _tools() -> str:
    """The ``# load tool`` line: hey's and nginx's versions."""
    hey_version = subprocess.run(["dpkg-query", "-W", "hey"], capture_output=True, text=True)
    nginx_version = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    return f"# load tool: {hey_version.stdout.strip()}; upstream: {nginx_version.stderr.strip()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--service", default="name")
    parser.add_argument(
        "--rates",
        default="200,500,1000",
        help="requests per second, comma-separated (default 200,500,1000)",
    )
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="seconds per path and rate (default 12)"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating slices per path and rate (default 4)"
    )
    parser.add_argument("--lever-rate", type=int, default=1000)
    parser.add_argument(
        "--trace-context",
        choices=sorted(TRACE_CONTEXTS),
        default="unsampled",
        help="the W3C trace context every request brings (default unsampled: what a service "
        "behind another sidecar gets for all but its few traced requests; none: a trace root)",
    )
    parser.add_argument("--no-levers", action="store_true")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    print(header())
    print(_tools())
    settings = stack_settings(args.stack)
    service = settings.service(args.service)
    assert not service.is_load and not service.upstreams, (
        "--service must be a leaf app service: its ingress is the only path measured"
    )
    levers = {} if args.no_levers else LEVERS
    block, lock = claim_block()
    plan = plan_mesh(settings, block)
    # Host 1..n of the block: the project sidecar, one per lever, the bare Envoy.
    addresses = [block_address(block, n) for n in range(1, len(levers) + 3)]
    collector = plan.trace_collector
    print(noise())
    with (
        lock,
        tempfile.TemporaryDirectory(prefix="meshvis-bench-") as work,
        ProcessGroup() as group,
        # The task's agent, live on every sidecar's address (the bare Envoy sends nothing):
        # DogStatsD here, OTLP/gRPC metrics (the OpenTelemetry-sink lever) in a process.
        UdpDrain([(a, STATSD_PORT) for a in addresses]) as receiver,
    ):
        folder = Path(work)
        app_port = service.app_port
        assert all(_free(a, [INGRESS_PORT, app_port, 9901, 9902]) for a in addresses)
        start_nginx(group, folder, [(a, app_port) for a in addresses] + [collector])
        otlp = otlp_receiver.start(group, folder, addresses)
        wait_http(f"http://{addresses[0]}:{app_port}/", group)

        headers = TRACE_CONTEXTS[args.trace_context]

        def sidecar(index: int, label: str, lever: Lever | None) -> Target:
            replica = LocalReplica(service, index, addresses[index - 1])
            bootstrap = plan.bootstrap(replica)
            if lever is not None:
                bootstrap = lever(bootstrap)
            child = group.start_envoy(f"{label} envoy", bootstrap, folder / f"envoy-{index}.log")
            return Target(label, f"http://{replica.address}:{INGRESS_PORT}/", child.pid, headers)

        project = sidecar(1, f"project sidecar ({args.service})", None)
        variants = [
            sidecar(i, name, lever) for i, (name, (lever, _)) in enumerate(levers.items(), start=2)
        ]
        bare_address = addresses[-1]
        bare = group.start_envoy(
            "bare envoy",
            bare_envoy(bare_address, BARE_PORT, (bare_address, app_port)),
            folder / "envoy-bare.log",
        )
        paths = [
            Target("direct to nginx", f"http://{addresses[0]}:{app_port}/", None, headers),
            Target("bare Envoy", f"http://{bare_address}:{BARE_PORT}/", bare.pid, headers),
            project,
        ]
        for path in paths[1:] + variants:
            wait_http(path.url, group)
        results = {
            rate: measure(paths, rate, args.seconds, args.rounds, receiver) for rate in rates
        }
        lever_results = (
            measure(
                [paths[0], project, *variants], args.lever_rate, args.seconds, args.rounds, receiver
            )
            if levers
            else []
        )
        if levers and not otlp_receiver.exports(otlp):
            raise SystemExit("the OpenTelemetry-sink lever exported nothing")
    print(noise())
    _report(args, results, lever_results)


def _report(
    args: argparse.Namespace, results: dict[int, list[Target]], lever_results: list[Target]
) -> None:
    print(
        f"\n{args.stack} stack's {args.service!r} sidecar vs bare Envoy, {args.seconds:g} s "
        f"per path and rate in {args.rounds} alternating slices; latency in ms, added over "
        "direct to nginx; vCPU/1k = CPU seconds per second per 1000 req/s; dgram/rq = "
        f"DogStatsD datagrams the live receiver got per request; trace context on every "
        f"request: {args.trace_context}"
    )
    print(
        f"{'rate':>6}  {'path':<30}{'p50':>8}{'p90':>8}{'p99':>8}{'+p50':>8}{'+mid':>8}"
        f"{'+p90':>8}{'+p99':>8}{'vCPU/1k':>9}{'dgram/rq':>10}"
    )
    for rate, paths in results.items():
        direct = quantiles(paths[0].latencies)
        added: dict[str, dict[str, float]] = {}
        for path in paths:
            q = quantiles(path.latencies)
            added[path.label] = {k: q[k] - direct[k] for k in q}
            print(
                f"{rate:>6}  {path.label:<30}{q['p50']:>8.3f}{q['p90']:>8.3f}{q['p99']:>8.3f}"
                + (
                    ""
                    if path.pid is None
                    else "".join(
                        f"{added[path.label][k]:>8.3f}" for k in ("p50", "mid", "p90", "p99")
                    )
                    + f"{_cpu(path):>9.3f}{path.datagrams / path.requests:>10.2f}"
                )
            )
        ratio, mid_ratio = (
            added[paths[2].label][k] / added[paths[1].label][k]
            if added[paths[1].label][k] > 0
            else float("nan")
            for k in ("p50", "mid")
        )
        cpu_ratio = _cpu(paths[2]) / _cpu(paths[1])
        rounds = sorted(round_ratios(*paths))
        print(
            f"{'':>8}project/bare added p50: {ratio:.2f}x (goal <= 1.10x), middle half "
            f"{mid_ratio:.2f}x (per round {', '.join(f'{r:.2f}' for r in rounds)}); "
            f"CPU {cpu_ratio:.2f}x (goal <= 1.15x)"
        )
    if not lever_results:
        return
    direct = quantiles(lever_results[0].latencies)
    base = lever_results[1]
    base_mid = quantiles(base.latencies)["mid"] - direct["mid"]
    base_cpu = _cpu(base)
    print(
        f"\nlevers: the project sidecar with one setting changed, at {args.lever_rate} "
        "req/s (delta vs the project sidecar as generated, in the same slices)"
    )
    print(
        f"{'variant':<30}{'+mid':>8}{'d +mid':>8}{'vCPU/1k':>9}{'d vCPU/1k':>11}"
        f"{'dgram/rq':>10}  note"
    )
    for path in lever_results[1:]:
        mid = quantiles(path.latencies)["mid"] - direct["mid"]
        cpu = _cpu(path)
        note = LEVERS[path.label][1] if path.label in LEVERS else "as generated"
        print(
            f"{path.label:<30}{mid:>8.3f}{mid - base_mid:>+8.3f}{cpu:>9.3f}"
            f"{cpu - base_cpu:>+11.3f}{path.datagrams / path.requests:>10.2f}  {note}"
        )


if __name__ == "__main__":
    main()
