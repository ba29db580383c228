"""``python -m meshvis``: run the mesh locally, or render every generated document."""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeAlias

from components.settings.errors import ConfigError
from components.settings.model import Settings
from components.settings.stack_files import PROJECT_ROOT, stack_file
from components.stack import stack_settings, stack_warnings
from meshvis.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line, ``error: <what>``, exit 2, like a bad stack."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}\n")


def _duration(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


def _time_scale(value: str) -> float:
    try:
        return _duration(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number above 0") from None


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)


# Where a plain `meshvis run` writes (relative to the working folder; --no-files: nowhere).
DEFAULT_SUMMARY = "out/summary.json"
DEFAULT_SNAPSHOT = "out/golden-signals.png"
# The service map is drawn beside the chart under this name (meshvis/local/runner.py).
SERVICE_MAP_FILE = "service-map.png"
STACK_HELP = (
    "a stack name (its Pulumi.<stack>.yaml in --root) or a path to a Pulumi.<stack>.yaml "
    "(default: dev)"
)


def _output(suffix: str) -> Callable[[str], Path]:
    """An argparse type: a file path ending in ``suffix`` that this process can write."""

    def output(value: str) -> Path:
        path = Path(value)
        if path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"{value!r} must end in {suffix}")
        if path.name == SERVICE_MAP_FILE:
            raise argparse.ArgumentTypeError(
                f"{value!r}: {SERVICE_MAP_FILE} is the service map's name, drawn beside the "
                "chart; give the chart another name"
            )
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

    output.__name__ = f"{suffix} file"  # argparse names the type in its errors
    return output


# Quoted: typeshed makes the subparsers action generic, the runtime class is not.
_Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def main(argv: list[str] | None = None) -> int:
    """``python -m meshvis``: parse ``argv`` and run its command; the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "offline":
        return _offline(args)
    try:
        stack, path = stack_file(args.stack, args.root)
        settings = stack_settings(stack, path.parent)
        for warning in stack_warnings(settings):
            print(f"warning: {warning}", file=sys.stderr)
        return _stack_command(args, settings, stack, path)
    except (ConfigError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # The last net under every one-line message above: the machine refused a path,
        # a port or a descriptor the run needed (everything started has been stopped).
        from meshvis.local.outputs import problem

        print(f"error: {problem(err.filename or 'the machine', err)}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    """The command line: one subcommand each, those of a stack with ``--root``."""
    parser = _Parser(prog="meshvis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    stack_commands = (
        _run_parser(commands),
        _render_parser(commands),
        _gameday_parser(commands),
        _fault_parser(commands),
        _dns_parser(commands),
    )
    _offline_parser(commands)
    for command in stack_commands:
        command.add_argument(
            "--root",
            type=Path,
            default=PROJECT_ROOT,
            help="folder holding Pulumi.<stack>.yaml (default: this project)",
        )
    return parser


def _run_parser(commands: _Commands) -> argparse.ArgumentParser:
    run = commands.add_parser(
        "run",
        help="run the stack's mesh locally: real Envoy sidecars, "
        "demo apps, load, a DogStatsD receiver, Prometheus",
    )
    run.add_argument("--stack", default="dev", help=STACK_HELP)
    run.add_argument(
        "--duration", type=_duration, default=None, help="seconds to run (default: until Ctrl-C)"
    )
    run.add_argument(
        "--summary",
        type=_output(".json"),
        help=f"write the run's summary as JSON here (a .json file; default {DEFAULT_SUMMARY})",
    )
    run.add_argument(
        "--snapshot",
        type=_output(".png"),
        help="write a PNG chart of the golden signals here, and the service map beside it as "
        f"{SERVICE_MAP_FILE} (a .png file; default {DEFAULT_SNAPSHOT})",
    )
    run.add_argument(
        "--no-files",
        action="store_true",
        help="write no summary file and no pictures unless --summary/--snapshot name them "
        "(the summary is printed all the same)",
    )
    run.add_argument(
        "--port",
        type=_port,
        default=None,
        help="also serve the entry service on 127.0.0.1:PORT, spreading connections over its "
        "replicas as the load balancer does (default: no such listener; each replica answers "
        "at its own address, http://127.0.x.y:15000/, printed at the start)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run even if the estimated memory exceeds what this machine has",
    )
    return run


def _render_parser(commands: _Commands) -> argparse.ArgumentParser:
    render = commands.add_parser("render", help="write every generated document of a stack")
    render.add_argument("--stack", default="dev", help=STACK_HELP)
    render.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder (default render/<stack>); a folder written by an earlier "
        "render is emptied first, any other non-empty folder refused",
    )
    render.add_argument(
        "-v",
        "--list",
        action="store_true",
        help="print the path of every file written, one a line, instead of their count",
    )
    return render


def _gameday_parser(commands: _Commands) -> argparse.ArgumentParser:
    gameday = commands.add_parser(
        "gameday",
        help="break the local mesh on purpose, scenario after scenario, and check that the "
        "right alerts and alarms fire for the right service (docs/gameday.md)",
    )
    gameday.add_argument("--stack", default="dev", help=STACK_HELP)
    gameday.add_argument(
        "--report",
        type=_output(".json"),
        default=None,
        help="the report (JSON; its Markdown rendering and pictures beside it; default "
        "out/gameday-<stack>.json)",
    )
    gameday.add_argument(
        "--time-scale",
        type=_time_scale,
        default=None,
        help="divide every alert window, `for` and alarm period by this (default 6)",
    )
    return gameday


def _fault_parser(commands: _Commands) -> argparse.ArgumentParser:
    fault = commands.add_parser(
        "fault",
        help="raise, change or clear a service's faults in a running `meshvis run`, without a "
        "restart (its `faults` key must be set; docs/faults.md)",
    )
    fault.add_argument("service", help="the service whose replicas' sidecars to change")
    fault.add_argument("--stack", default="dev", help=STACK_HELP)
    fault.add_argument("--abort-percent", type=float, help="percent of requests aborted")
    fault.add_argument("--abort-status", type=int, help="status of an aborted request")
    fault.add_argument("--delay-percent", type=float, help="percent of requests delayed")
    fault.add_argument("--delay-ms", type=int, help="how long a delayed request is held")
    fault.add_argument(
        "--clear", action="store_true", help="drop the run-time faults: the stack's apply"
    )
    return fault


def _stack_command(args: argparse.Namespace, settings: Settings, stack: str, path: Path) -> int:
    """Run a command of a stack (all but ``offline``): ``path`` is its stack file."""
    if args.command == "fault":
        from meshvis.local.faults import fault_command
        from meshvis.local.run_lock import run_folder

        return fault_command(
            run_folder(stack, path),
            args.service,
            clear=args.clear,
            abort_percent=args.abort_percent,
            abort_status=args.abort_status,
            delay_percent=args.delay_percent,
            delay_ms=args.delay_ms,
        )
    if args.command == "dns":
        from meshvis.local.dns_lookup import dns_command
        from meshvis.local.run_lock import run_folder

        return dns_command(run_folder(stack, path), settings, args.names)
    if args.command == "render":
        return _render(args, settings, stack)
    if args.command == "gameday":
        return _gameday(args, settings, stack)
    return _run(args, settings, stack, path)


def _render(args: argparse.Namespace, settings: Settings, stack: str) -> int:
    """``meshvis render``: every document of the stack into --out (else render/<stack>)."""
    from meshvis.render import render_stack

    out = args.out or Path("render") / stack
    try:
        written = render_stack(settings, out)
    except OSError as err:
        raise UsageError(
            f"--out {out}: cannot write there ({err.strerror}"
            + (f": {err.filename}" if err.filename else "")
            + "); choose a folder you can write"
        ) from None
    if args.list:
        for written_path in written:
            print(written_path)
    else:
        print(f"wrote {len(written)} files to {out}/ (--list names them)")
    return 0


def _run(args: argparse.Namespace, settings: Settings, stack: str, path: Path) -> int:
    """``meshvis run``: the stack's mesh on this machine, until --duration or Ctrl-C."""
    from meshvis.local.preflight import check_local_run
    from meshvis.local.runner import run_mesh

    check_local_run(settings, force=args.force)
    summary, snapshot = _run_outputs(args)
    return run_mesh(
        settings,
        stack=stack,
        duration=args.duration,
        summary=summary,
        snapshot=snapshot,
        entry_port=args.port,
        stack_file=path,
    )


def _dns_parser(commands: _Commands) -> argparse.ArgumentParser:
    dns = commands.add_parser(
        "dns",
        help="ask a running `meshvis run`'s DNS server what it answers the sidecars "
        "(docs/dashboards.md); no `dig` needed",
    )
    dns.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="a service (its deployed name is asked, e.g. greeter.internal) or any DNS name "
        "(default: every app service)",
    )
    dns.add_argument("--stack", default="dev", help=STACK_HELP)
    return dns


def _offline_parser(commands: _Commands) -> None:
    offline = commands.add_parser(
        "offline",
        help="run a Pulumi program of the components (an example) under mocks, offline, and "
        "print the resources it would create (docs/try-offline.md)",
    )
    offline.add_argument("folder", type=Path, help="the program's folder (its Pulumi.yaml)")
    offline.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value of the program (an array as JSON); a required key without one "
        "gets a placeholder",
    )


def _offline(args: argparse.Namespace) -> int:
    """``meshvis offline``: loads Pulumi (only this command does)."""
    given = dict(item.partition("=")[::2] for item in args.config)
    if any("=" not in item for item in args.config):
        print("error: --config takes KEY=VALUE", file=sys.stderr)
        return 2
    from meshvis.offline.programs import offline_command

    try:
        return offline_command(args.folder, given)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _gameday(args: argparse.Namespace, settings: Settings, stack: str) -> int:
    """``meshvis gameday``: the report where asked, else out/gameday-<stack>.json."""
    from meshvis.local.gameday import DEFAULT_TIME_SCALE, run_gameday
    from meshvis.local.preflight import check_local_run

    check_local_run(settings, force=False)
    return run_gameday(
        settings,
        stack=stack,
        report=args.report or _output(".json")(f"out/gameday-{stack}.json"),
        time_scale=args.time_scale or DEFAULT_TIME_SCALE,
    )


def _run_outputs(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """The summary and chart paths of a run: as given, else (without --no-files) the
    defaults under out/, checked as a given path is."""
    chosen = []
    for given, default, suffix, option in (
        (args.summary, DEFAULT_SUMMARY, ".json", "--summary"),
        (args.snapshot, DEFAULT_SNAPSHOT, ".png", "--snapshot"),
    ):
        if given is None and not args.no_files:
            try:
                given = _output(suffix)(default)
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"{option} (default): {err}; choose one or --no-files") from None
        chosen.append(given)
    return chosen[0], chosen[1]


if __name__ == "__main__":
    sys.exit(main())
