"""``python -m meshvis``: run the mesh locally, or render every generated document."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.settings.errors import ConfigError
from components.settings.stack_files import PROJECT_ROOT
from components.stack import stack_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meshvis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the stack's mesh locally: real Envoy sidecars, "
                                           "demo apps, load, a DogStatsD receiver, Prometheus")
    run.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to run")
    run.add_argument("--duration", type=float, default=None,
                     help="seconds to run (default: until Ctrl-C)")
    run.add_argument("--summary", type=Path, help="write the run's summary as JSON here")
    run.add_argument("--snapshot", type=Path, help="write a PNG chart of the golden signals here")
    run.add_argument("--port", type=int, default=None,
                     help="127.0.0.1 port of the entry service (default: a free port)")

    render = commands.add_parser("render", help="write every generated document of a stack")
    render.add_argument("--stack", default="dev")
    render.add_argument("--out", type=Path, default=None, help="folder (default render/<stack>)")

    for command in (run, render):
        command.add_argument("--root", type=Path, default=PROJECT_ROOT,
                             help="folder holding Pulumi.<stack>.yaml (default: this project)")
    args = parser.parse_args(argv)
    try:
        settings = stack_settings(args.stack, args.root)
        if args.command == "render":
            from meshvis.render import render_stack

            out = args.out or Path("render") / args.stack
            for path in render_stack(settings, out):
                print(path)
            return 0
        from meshvis.local.runner import run_mesh

        return run_mesh(settings, stack=args.stack, duration=args.duration,
                        summary=args.summary, snapshot=args.snapshot, entry_port=args.port)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
