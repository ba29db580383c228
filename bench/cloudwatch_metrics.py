"""CloudWatch metrics and their monthly cost per stats profile, measured on the local mesh.

    .venv/bin/python -m bench.cloudwatch_metrics [--stack dev] [--duration 40]

Runs the stack with ``meshvis run`` (in this process: real Envoys from the deployed
bootstraps, the demo apps, the load generators, Prometheus) once per stats profile. Its
DogStatsD receiver maps every datagram the sidecars send as the CloudWatch agent does, so
the count is the number of custom metrics the stack would create (what the agent's
``drop_original_metrics`` names is received but not counted, as the agent publishes none of it).
Healthy traffic only:
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

ROOT = Path(__file__).resolve().parent.parent

PROFILES = ("essential", "full")
# CloudWatch metrics per service (issue 21): on average, and for any one service.
BUDGET_AVERAGE = 8
BUDGET_MAX = 12


def measure(stack: str, profile: str, duration: float, work: Path) -> dict:
    """One run of ``stack`` with ``profile``: the summary's ``cloudwatch`` block."""
    config = stack_config(stack)
    config["mesh-visibility:statsProfile"] = profile
    settings = checked_settings(config)
    run_dir = work / profile
    summary = run_dir / "summary.json"
    with (
        open(work / f"{profile}.log", "w") as log,
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
        raise SystemExit(f"the {profile} run failed (exit {code}); see {work / profile}.log")
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
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory(prefix="meshvis-bench-") as work:
        runs = {p: measure(args.stack, p, args.duration, Path(work)) for p in PROFILES}

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
    print(f"{'total':<24}" + "".join(f"{t:>11}" for t in totals))
    print(f"{'USD per month':<24}" + "".join(f"{monthly_cost_usd(t):>11.2f}" for t in totals))
    # Without omit_hostname every task publishes its own copy of its service's metrics.
    per_task = [
        sum(runs[p]["metrics_per_service"].get(n, 0) * tasks[n] for n in services) for p in PROFILES
    ]
    print(
        f"{'without omit_hostname':<24}"
        + "".join(f"{t:>11}" for t in per_task)
        + "   (derived: each service's count x its tasks)"
    )
    print(f"{'  USD per month':<24}" + "".join(f"{monthly_cost_usd(t):>11.2f}" for t in per_task))
    for profile in PROFILES:
        counts = runs[profile]["metrics_per_service"]
        average = sum(counts.values()) / len(services)
        top = max(counts, key=counts.get)
        holds = average <= BUDGET_AVERAGE and counts[top] <= BUDGET_MAX
        print(
            f"{profile}: {average:.2f} metrics per service on average (budget <= "
            f"{BUDGET_AVERAGE}), at most {counts[top]} ({top}; budget <= {BUDGET_MAX}): "
            f"{'holds' if holds else 'over'}"
        )
    for profile in PROFILES:
        missing = runs[profile]["missing_dashboard_metrics"]
        print(
            f"{profile}: dashboard/alarm metrics missing: {', '.join(missing) or 'none'}; "
            f"end-to-end success {runs[profile]['success']}"
        )


if __name__ == "__main__":
    main()
