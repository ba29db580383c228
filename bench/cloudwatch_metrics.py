"""CloudWatch metrics and their monthly cost per stats profile, measured on the local mesh.

    .venv/bin/python -m bench.cloudwatch_metrics [--stack dev] [--duration 40] [--no-graphs]

Runs the stack with ``meshvis run`` (in this process: real Envoys from the deployed
bootstraps, the demo apps, the load generators, Prometheus) once per stats profile, then the
larger graphs of tests/support/shop_graphs.py (``shop``, and ``wide``: ten services, one
caller of nine upstreams) with ``essential``, against the budget per service. Its
DogStatsD receiver maps every datagram the sidecars send as the CloudWatch agent does, so
the count is the number of custom metrics the stack would create (what the agent's
``drop_original_metrics`` names is received but not counted, as the agent publishes none of it;
its per-upstream aggregates are counted, charged to the upstream). Healthy traffic only:
metrics that exist only after an event (a 4xx, a 5xx, a retry, an HTTP/2 client) come on
top, once per service and event.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

from bench.machine import header
from components.settings.stack_files import stack_config
from components.stack import checked_settings
from meshvis.local.cloudwatch_agent import monthly_cost_usd
from meshvis.local.runner import run_mesh
from tests.support.shop_graphs import shop_config, wide_config

ROOT = Path(__file__).resolve().parent.parent

PROFILES = ("essential", "full")
# CloudWatch metrics per service (issue 21): on average, and for any one service.
BUDGET_AVERAGE = 8
BUDGET_MAX = 12
# Larger service graphs than the stack files, run with the essential profile.
GRAPHS = {"shop": shop_config, "wide": wide_config}


def measure(
    stack: str, profile: str, duration: float, work: Path, config: dict | None = None
) -> dict:
    """One run of ``stack`` (or of ``config``, named ``stack``) with ``profile``: the summary's
    ``cloudwatch`` block."""
    config = dict(config or stack_config(stack))
    config["mesh-visibility:statsProfile"] = profile
    settings = checked_settings(config)
    name = f"{stack}-{profile}"
    run_dir = work / name
    summary = run_dir / "summary.json"
    with (
        open(work / f"{name}.log", "w") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        code = run_mesh(
            settings,
            stack=stack,
            duration=duration,
            summary=summary,
            snapshot=None,
            run_dir=run_dir,
        )
    if code != 0:
        raise SystemExit(f"the {name} run failed (exit {code}); see {work / name}.log")
    result = json.loads(summary.read_text())
    cloudwatch = result["cloudwatch"]
    cloudwatch["replicas"] = {s.name: s.replicas for s in settings.services}
    cloudwatch["success"] = {
        name: row["success_rate"] for name, row in result["end_to_end"].items()
    }
    return cloudwatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument(
        "--duration", type=float, default=40.0, help="seconds of traffic per profile (default 40)"
    )
    parser.add_argument(
        "--no-graphs", action="store_true", help="only the stack, not the shop and wide graphs"
    )
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory(prefix="meshvis-bench-") as work:
        runs = {p: measure(args.stack, p, args.duration, Path(work)) for p in PROFILES}
        graphs = {
            name: measure(name, "essential", args.duration, Path(work), config())
            for name, config in ({} if args.no_graphs else GRAPHS).items()
        }

    services = list(runs["full"]["replicas"])
    tasks = runs["full"]["replicas"]
    print(
        f"\nstack {args.stack}, {args.duration:g} s of healthy traffic per profile; "
        "CloudWatch custom metrics as the agent would publish them"
    )
    print(f"{'service':<18}{'tasks':>6}" + "".join(f"{p:>11}" for p in PROFILES))
    for name in services:
        print(
            f"{name:<18}{tasks[name]:>6}"
            + "".join(f"{runs[p]['metrics_per_service'].get(name, 0):>11}" for p in PROFILES)
        )
    totals = [runs[p]["metrics"] for p in PROFILES]
    # Charged to no service of the stack: under full, the agent's per-upstream aggregates of
    # the sidecars' own clusters (local_app, the tracer's collector and sampler, the admin).
    other = [
        t - sum(runs[p]["metrics_per_service"].get(n, 0) for n in services)
        for p, t in zip(PROFILES, totals, strict=True)
    ]
    print(f"{'(no service)':<24}" + "".join(f"{o:>11}" for o in other))
    print(f"{'total':<24}" + "".join(f"{t:>11}" for t in totals))
    print(f"{'USD per month':<24}" + "".join(f"{monthly_cost_usd(t):>11.2f}" for t in totals))
    # Without omit_hostname every task publishes its own copy of its service's metrics.
    per_task = [
        sum(runs[p]["metrics_per_service"].get(n, 0) * tasks[n] for n in services) for p in PROFILES
    ]
    print(
        f"{'without omit_hostname':<24}"
        + "".join(f"{t:>11}" for t in per_task)
        + "   (derived: each service's count x its tasks; at most, as the per-upstream"
        " aggregates carry no host)"
    )
    print(f"{'  USD per month':<24}" + "".join(f"{monthly_cost_usd(t):>11.2f}" for t in per_task))
    for profile in PROFILES:
        print(f"{profile}: {budget(runs[profile])}")
    for profile in PROFILES:
        print(f"{profile}: {missing_and_success(runs[profile])}")
    for name, run in graphs.items():
        print(f"\n{name} ({len(run['replicas'])} services), essential, per service:")
        print(
            "  "
            + ", ".join(
                f"{service} {run['metrics_per_service'].get(service, 0)}"
                for service in run["replicas"]
            )
        )
        print(f"  {budget(run)}")
        print(f"  {missing_and_success(run)}")


def budget(run: dict) -> str:
    """The per-service average and maximum of a run against the budget. A metric charged to no
    service of the stack (none under ``essential``) counts in the average, not in the maximum."""
    services = list(run["replicas"])
    counts = run["metrics_per_service"]
    average = sum(counts.values()) / len(services)
    top = max(services, key=lambda s: counts.get(s, 0))
    holds = average <= BUDGET_AVERAGE and counts.get(top, 0) <= BUDGET_MAX
    return (
        f"{average:.2f} metrics per service on average (budget <= {BUDGET_AVERAGE}), at most "
        f"{counts.get(top, 0)} ({top}; budget <= {BUDGET_MAX}): {'holds' if holds else 'over'}"
    )


def missing_and_success(run: dict) -> str:
    """What the dashboard and alarms read that never arrived, and the end-to-end success."""
    missing = run["missing_dashboard_metrics"]
    return (
        f"dashboard/alarm metrics missing: {', '.join(missing) or 'none'}; "
        f"end-to-end success {run['success']}"
    )


if __name__ == "__main__":
    main()
