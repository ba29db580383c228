"""What telemetry costs per million requests: access-log bytes and their CloudWatch Logs
ingestion, the sidecars' CPU, and the (flat) CloudWatch metrics, measured on the local mesh.

    .venv/bin/python -m bench.access_log_cost [--stack dev] [--rate 25] [--seconds 60]

Runs the stack's mesh (meshvis.local.mesh.LocalMesh: real Envoys from the deployed
bootstraps, the demo apps, the load generators at ``--rate`` requests a second each) once per
access-log policy: ``all`` (every request on every listener, what the sidecars logged before
the policy existed) and the default. Healthy traffic only. For each policy:

- access-log bytes per end-to-end request: the UTF-8 bytes of the access-log lines all
  sidecars wrote (meshvis.local.summary.access_log_summary, the figure ``meshvis run``
  reports as ``logs.bytes_per_request``), which is what awslogs ships and CloudWatch Logs
  bills at $0.50 per GB ingested;
- the sidecars' CPU (utime + stime from /proc, all sidecars together) while the load ran,
  per million end-to-end requests, in vCPU-seconds and at Fargate's x86 price per
  vCPU-hour. The sidecars' idle CPU (stats flushes, health checks), measured before the load
  starts, is also given on its own, and the per-request figure without it;
- the CloudWatch metrics the DogStatsD receiver mapped as the agent would: a monthly figure
  that does not grow with traffic.

End-to-end requests are what the load generators' sidecars sent on (their per-host
``rq_total`` in /clusters, which no stats matcher removes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.machine import header
from bench.sidecars import envoy_pids, process_usage, requests_passed_on
from components.stack import stack_settings
from meshvis.local.cloudwatch_agent import monthly_cost_usd
from meshvis.local.mesh import LocalMesh
from meshvis.local.summary import access_log_summary

# Fargate Linux/x86 in us-east-1, $ per vCPU-hour (vantage.sh/blog/fargate-pricing, as the
# docs/measurements.md's cost table quotes it; check the price list).
FARGATE_VCPU_HOUR_USD = 0.04048
IDLE_SECONDS = 10.0
DRAIN_SECONDS = 2.0
POLICIES = ("all", "sampled")


def _cpu(mesh: LocalMesh) -> float:
    return sum(process_usage(pid)[0] for pid in envoy_pids(mesh).values())


def _sent(mesh: LocalMesh) -> int:
    return sum(
        requests_passed_on(mesh, r.instance) for r in mesh.plan.replicas if r.service.is_load
    )


def measure(stack: str, policy: str, rate: float, seconds: float, work: Path) -> dict:
    """One run of ``stack`` with ``accessLog: policy`` and the load generators at ``rate``."""
    settings = stack_settings(stack)
    settings = settings.model_copy(
        update={
            "access_log": policy,
            "services": tuple(
                s.model_copy(update={"rate": rate}) if s.is_load else s for s in settings.services
            ),
        }
    )
    with LocalMesh(settings, work / policy) as mesh:
        mesh.start()
        before = _cpu(mesh)
        time.sleep(IDLE_SECONDS)
        idle_vcpu = (_cpu(mesh) - before) / IDLE_SECONDS
        sent, before, started = _sent(mesh), _cpu(mesh), time.monotonic()
        mesh.start_load()
        time.sleep(seconds)
        for child in mesh.load:
            child.stop()
        time.sleep(DRAIN_SECONDS)  # answers still in flight
        elapsed = time.monotonic() - started
        cpu, requests = _cpu(mesh) - before, _sent(mesh) - sent
        sidecars = len(envoy_pids(mesh))
    metrics = mesh.receiver.metrics()
    # The sidecars have stopped: their access logs are complete.
    logs = access_log_summary(mesh.logs, requests)
    return {
        "logs": logs,
        "elapsed": elapsed,
        "cpu_seconds": cpu,
        "idle_vcpu": idle_vcpu,
        "metrics": len(metrics),
        "sidecars": sidecars,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument(
        "--rate",
        type=float,
        default=25.0,
        help="requests per second of each load generator (default 25)",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="seconds of load per policy (default 60)"
    )
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory(prefix="meshvis-bench-") as work:
        runs = {p: measure(args.stack, p, args.rate, args.seconds, Path(work)) for p in POLICIES}

    print(
        f"\nstack {args.stack}, load generators at {args.rate:g} req/s each, "
        f"{args.seconds:g} s of healthy traffic per policy; per million end-to-end requests"
    )
    print(
        f"{'accessLog':<11}{'requests':>9}{'lines':>7}{'bytes/req':>11}{'logs $':>9}"
        f"{'vCPU-s':>9}{'w/o idle':>10}{'Fargate $':>11}"
    )
    for policy, run in runs.items():
        logs, requests = run["logs"], run["logs"]["end_to_end_requests"]
        per_million = run["cpu_seconds"] / requests * 1e6
        busy = (run["cpu_seconds"] - run["idle_vcpu"] * run["elapsed"]) / requests * 1e6
        print(
            f"{policy:<11}{requests:>9}{logs['access_log_lines']:>7}"
            f"{logs['bytes_per_request']:>11.1f}{logs['usd_per_million_requests']:>9.3f}"
            f"{per_million:>9.0f}{busy:>10.0f}"
            f"{per_million / 3600 * FARGATE_VCPU_HOUR_USD:>11.3f}"
        )
    reduction = (
        runs["all"]["logs"]["bytes_per_request"] / runs["sampled"]["logs"]["bytes_per_request"]
    )
    print(f"access-log bytes: {reduction:.0f}x fewer with the default policy than with all")
    for policy, run in runs.items():
        print(
            f"{policy}: {run['sidecars']} sidecars idle at {run['idle_vcpu']:.3f} vCPU "
            f"together; CloudWatch metrics {run['metrics']} "
            f"(${monthly_cost_usd(run['metrics']):.2f}/month, whatever the traffic)"
        )
    print(
        "\nbytes/req: access-log bytes the sidecars wrote per end-to-end request (what "
        "CloudWatch Logs ingests); logs $: their ingestion at $0.50/GB; vCPU-s: CPU seconds "
        "of all sidecars per million requests at this rate (w/o idle: minus what they use "
        "with no traffic); Fargate $: vCPU-s at $0.04048 per vCPU-hour (Fargate bills the "
        "task's reserved vCPU, so this is the share of it the sidecars use)"
    )


if __name__ == "__main__":
    main()
