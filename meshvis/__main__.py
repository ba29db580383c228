"""``python -m meshvis``: run the mesh locally, or render every generated document."""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from components.settings.errors import ConfigError
from components.settings.stack_files import PROJECT_ROOT
from components.stack import stack_settings
from meshvis.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line, ``error: <what>``, exit 2, like a bad stack."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def _duration(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)


def _output(suffix: str):
    """An argparse type: a file path ending in ``suffix`` that this process can write."""

    def output(value: str) -> Path:
        path = Path(value)
        if path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"{value!r} must end in {suffix}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{value!r} is a folder")
        folder = path.absolute().parent
        while not folder.exists():  # the folders are created when the file is written
            folder = folder.parent
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{folder} in {value!r} is not a folder")
        try:
            # Root passes every permission check: try to create a file for real.
            with tempfile.TemporaryFile(dir=folder):
                pass
            if path.exists():
                path.open("ab").close()
        except OSError as err:
            raise argparse.ArgumentTypeError(f"cannot write {value!r} ({err.strerror})") from None
        return path

    return output


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="meshvis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the stack's mesh locally: real Envoy sidecars, "
        "demo apps, load, a DogStatsD receiver, Prometheus",
    )
    run.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to run")
    run.add_argument(
        "--duration", type=_duration, default=None, help="seconds to run (default: until Ctrl-C)"
    )
    run.add_argument(
        "--summary",
        type=_output(".json"),
        help="write the run's summary as JSON here (a .json file)",
    )
    run.add_argument(
        "--snapshot",
        type=_output(".png"),
        help="write a PNG chart of the golden signals here (a .png file)",
    )
    run.add_argument(
        "--port",
        type=_port,
        default=None,
        help="127.0.0.1 port of the entry service (default: a free port)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run even if the estimated memory exceeds what this machine has",
    )

    render = commands.add_parser("render", help="write every generated document of a stack")
    render.add_argument("--stack", default="dev")
    render.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder (default render/<stack>); a folder written by an earlier "
        "render is emptied first, any other non-empty folder refused",
    )

    for command in (run, render):
        command.add_argument(
            "--root",
            type=Path,
            default=PROJECT_ROOT,
            help="folder holding Pulumi.<stack>.yaml (default: this project)",
        )
    args = parser.parse_args(argv)
    try:
        settings = stack_settings(args.stack, args.root)
        if args.command == "render":
            from meshvis.render import render_stack

            out = args.out or Path("render") / args.stack
            for path in render_stack(settings, out):
                print(path)
            return 0
        from meshvis.local.preflight import check_local_run
        from meshvis.local.runner import run_mesh

        check_local_run(settings, force=args.force)
        return run_mesh(
            settings,
            stack=args.stack,
            duration=args.duration,
            summary=args.summary,
            snapshot=args.snapshot,
            entry_port=args.port,
        )
    except (ConfigError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
