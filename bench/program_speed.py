"""Wall time of the whole Pulumi program under mocks, for the dev stacks and generated graphs.

    .venv/bin/python -m bench.program_speed [--sizes 10 50 200] [--repeat 3]

Prints one row per (topology, graph size): services, resources registered, best wall time of
``--repeat`` runs, and time per service, so growth beyond linear shows up as a rising last
column. No assertion: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.machine import header
from components.settings.stack_files import stack_config
from tests.support.pulumi_harness import run_program

ROOT = Path(__file__).resolve().parent.parent


def generated_config(topology: str, size: int) -> dict:
    """A layered graph of ``size`` app services (each calls up to two of the next layer) and
    one load generator calling the first layer."""
    services: list[dict] = []
    for i in range(size):
        upstreams = [f"svc-{j}" for j in (2 * i + 1, 2 * i + 2) if j < size]
        services.append({"name": f"svc-{i}", "port": 3000, "replicas": 2, "upstreams": upstreams})
    services.append({"name": "load", "kind": "load", "rate": 1, "upstreams": ["svc-0"]})
    return {
        "aws:region": "us-west-2",
        "mesh-visibility:topology": topology,
        "mesh-visibility:meshName": "bench",
        "mesh-visibility:entryService": "svc-0",
        "mesh-visibility:services": services,
    }


def measure(config: dict, repeat: int) -> tuple[float, int]:
    best = float("inf")
    resources = 0
    for _ in range(repeat):
        start = time.perf_counter()
        run = run_program(config, stack="bench")
        best = min(best, time.perf_counter() - start)
        resources = len(run.resources)
    return best, resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(header())
    print(f"{'case':<22}{'services':>9}{'resources':>11}{'seconds':>10}{'ms/service':>12}")
    cases = [(f"stack {name}", stack_config(name)) for name in ("dev", "dev-eks")]
    for topology in ("ecs", "eks"):
        cases += [(f"{topology} x{size}", generated_config(topology, size)) for size in args.sizes]
    for label, config in cases:
        seconds, resources = measure(config, args.repeat)
        services = len(config["mesh-visibility:services"])
        print(
            f"{label:<22}{services:>9}{resources:>11}{seconds:>10.2f}"
            f"{1000 * seconds / services:>12.1f}"
        )


if __name__ == "__main__":
    main()
