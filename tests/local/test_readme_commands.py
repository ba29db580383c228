"""Every command the README gives, run as written from the project root (issue 18 item 1).

The tests ran with absolute temporary paths while `make demo` ran with relative ones, and its
Prometheus loaded no rules. Here the commands come from the README's fenced blocks, so a new
one is tested as soon as it is written down:

- ``meshvis run`` / ``meshvis render`` (also as ``.venv/bin/python -m meshvis``): run from the
  project root with their relative paths, changed only where a test must: ``--duration`` is
  short, and every ``--summary``/``--snapshot``/``--out`` path is moved under one relative
  folder of the test's (removed afterwards); a run names them if the README's does not;
- ``make <target> [VAR=...]``: the target must exist (``make -n``), and every ``meshvis``
  command its recipe runs is run as above; targets that install, clean or run this suite are
  only checked for existence (``NOT_RUN``);
- another ``meshvis`` subcommand (``gameday`` takes minutes): its ``--help`` must answer.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from components.stack import stack_settings
from dashboards.prometheus.rules import rules_file
from tests.conftest import ROOT
from tests.local.test_local_mesh import MeshRun

pytestmark = pytest.mark.integration

README = ROOT / "README.md"
FENCE = re.compile(r"^```[ \t]*(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELL_BLOCKS = {"", "sh", "bash", "shell", "console"}
MESHVIS = re.compile(r"^(?:\.venv/bin/)?(?:meshvis|python3? -m meshvis)\b")
# Make targets the README names that a test does not run: what they do is not a meshvis
# command (installing, cleaning, running this very suite, rewriting committed files).
NOT_RUN = {"setup", "test", "test-unit", "clean", "bench-tools", "golden"}
OUTPUT_OPTIONS = ("--summary", "--snapshot", "--out")
TEST_DURATION = "3"


def readme_commands(text: str) -> list[str]:
    """The shell commands of the README's fenced shell blocks that start ``make`` or
    ``meshvis`` (prompts, comments and ``&&`` chains taken apart)."""
    commands = []
    for language, body in FENCE.findall(text):
        if language not in SHELL_BLOCKS:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            for part in line.split("&&"):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:  # not shell (an unbalanced quote in prose)
                    continue
                command = " ".join(words)
                if words and (words[0] == "make" or MESHVIS.match(command)):
                    commands.append(command)
    return list(dict.fromkeys(commands))


def meshvis_argv(command: str) -> tuple[list[str], list[str]]:
    """A README ``meshvis`` command as (program, arguments): ``python -m meshvis`` as this
    interpreter's, ``meshvis`` as the console script ``make setup`` installs (this
    interpreter's ``-m meshvis`` where it is not installed yet)."""
    words = shlex.split(command)
    if words[1:3] == ["-m", "meshvis"]:
        return [sys.executable, "-m", "meshvis"], words[3:]
    script = ROOT / ".venv" / "bin" / "meshvis"
    return ([str(script)] if script.exists() else [sys.executable, "-m", "meshvis"]), words[1:]


def make_meshvis_commands(command: str) -> list[str]:
    """The ``meshvis`` commands the make ``command``'s recipe runs (``make -n``)."""
    done = subprocess.run(
        ["make", "-n", *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{command}: {done.stderr}"
    lines = done.stdout.replace("\\\n", " ").splitlines()
    return [" ".join(shlex.split(line)) for line in lines if MESHVIS.match(line.strip())]


def for_test(args: list[str], folder: str) -> list[str]:
    """``args`` with a short ``--duration`` (a run) and output paths under ``folder``."""
    args = list(args)
    for option in OUTPUT_OPTIONS:
        if option in args:
            index = args.index(option) + 1
            args[index] = f"{folder}/{args[index]}"
    if args and args[0] == "run":
        if "--duration" in args:
            args[args.index("--duration") + 1] = TEST_DURATION
        else:
            args += ["--duration", TEST_DURATION]
        for option, name in (("--summary", "summary.json"), ("--snapshot", "golden-signals.png")):
            if option not in args:
                args += [option, f"{folder}/out/{name}"]
    return args


def cases() -> list[tuple[str, tuple[list[str], list[str]] | None]]:
    """(README command, its meshvis (program, arguments), None for a make target only
    checked) per command."""
    found: list[tuple[str, tuple[list[str], list[str]] | None]] = []
    for command in readme_commands(README.read_text()):
        if command.startswith("make"):
            target = next((w for w in shlex.split(command)[1:] if "=" not in w), "")
            runs = [] if target in NOT_RUN else make_meshvis_commands(command)
            found += [(command, meshvis_argv(c)) for c in runs] or [(command, None)]
        else:
            found.append((command, meshvis_argv(command)))
    return found


CASES = cases()


def test_the_readme_names_run_render_and_make_targets():
    subcommands = {argv[1][0] for _, argv in CASES if argv}
    assert {"run", "render"} <= subcommands, CASES
    assert any(command.startswith("make ") for command, _ in CASES), CASES


@pytest.fixture
def folder():
    """A relative folder under the project root for the outputs (removed afterwards)."""
    name = f"out-readme-test-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(ROOT / name, ignore_errors=True)


@pytest.mark.parametrize("command, argv", CASES, ids=[c for c, _ in CASES])
def test_a_readme_command_works_as_written(command, argv, folder):
    if argv is None:
        done = subprocess.run(
            ["make", "-n", *shlex.split(command)[1:]], cwd=ROOT, capture_output=True
        )
        assert done.returncode == 0, f"{command}: no such make target"
        return
    head, args = argv
    if args[0] == "run":
        check_run(head, for_test(args, folder))
    elif args[0] == "render":
        done = subprocess.run(
            head + for_test(args, folder), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        out = ROOT / for_test(args, folder)[args.index("--out") + 1] if "--out" in args else None
        assert out is None or any(out.rglob("*.json")), done.stdout
    else:
        done = subprocess.run([*head, args[0], "--help"], cwd=ROOT, capture_output=True, timeout=60)
        assert done.returncode == 0, f"{command}: {done.stderr}"


def check_run(head: list[str], args: list[str]) -> None:
    """The run ends well and writes every output where its relative paths say, with the
    generated alert rules loaded by Prometheus."""
    stack = args[args.index("--stack") + 1] if "--stack" in args else "dev"
    # MeshRun waits while another run holds the stack file.
    run = MeshRun(ROOT, args[1:], command=[*head, "run"])
    try:
        assert run.finish(timeout=180) == 0, run.output()
    finally:
        run.cleanup()
    summary_path = args[args.index("--summary") + 1]
    snapshot = Path(args[args.index("--snapshot") + 1])
    summary = json.loads((ROOT / summary_path).read_text())
    generated = rules_file(
        stack_settings(Path(stack).name.removeprefix("Pulumi.").removesuffix(".yaml"))
    )
    assert summary["prometheus"]["rules_loaded"] == sum(
        len(group["rules"]) for group in generated["groups"]
    )
    assert summary["prometheus"]["rules_with_errors"] == []
    for picture in (snapshot, snapshot.with_name("service-map.png")):
        assert (ROOT / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
    assert f"summary: {summary_path}" in run.stdout, run.output()


def test_commands_are_read_as_a_readme_writes_them():
    text = (
        "```sh\n$ make demo   # a minute\nmeshvis run --stack dev-eks \\\n  --port 8080\n"
        "make setup && meshvis render --stack dev --out render/dev\nls out/\n```\n"
        '```json\n{"meshvis": 1}\n```\n'
    )
    assert readme_commands(text) == [
        "make demo",
        "meshvis run --stack dev-eks --port 8080",
        "make setup",
        "meshvis render --stack dev --out render/dev",
    ]
    assert for_test(["run", "--stack", "dev"], "t") == [
        "run",
        "--stack",
        "dev",
        "--duration",
        TEST_DURATION,
        "--summary",
        "t/out/summary.json",
        "--snapshot",
        "t/out/golden-signals.png",
    ]
