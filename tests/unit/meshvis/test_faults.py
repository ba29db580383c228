"""``meshvis fault``: how it finds a run's sidecars, and what it refuses before touching any."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from components.settings.stack_files import PROJECT_ROOT
from meshvis.__main__ import main
from meshvis.local.faults import (
    SIDECARS_FILE,
    FaultError,
    publish_sidecars,
    run_sidecars,
    set_fault,
)
from meshvis.local.plan import plan_mesh
from tests.support.fault_cases import with_faults


def _published(tmp_path, faults: dict | None):
    settings, _ = with_faults("dev", "name", faults)
    publish_sidecars(tmp_path, plan_mesh(settings, block=7))
    return tmp_path


def test_every_replica_of_the_service_is_found(tmp_path):
    assert run_sidecars(_published(tmp_path, {}), "name") == [
        ("name-1", "127.7.1.1", 9901),
        ("name-2", "127.7.1.2", 9901),
    ]
    published = json.loads((tmp_path / SIDECARS_FILE).read_text())
    # Load generators have no ingress, so no fault filter: not listed.
    assert {s["service"] for s in published["sidecars"]} == {"name", "greeting", "greeter"}


@pytest.mark.parametrize(
    "service, faults, message",
    [
        ("nmae", {}, r"has no service 'nmae' \(known: greeter, greeting, name\)"),
        ("greeter", {}, "greeter has no `faults` key in the running stack"),
        ("name", None, "name has no `faults` key in the running stack"),
    ],
)
def test_a_service_that_cannot_take_a_fault_is_named(tmp_path, service, faults, message):
    with pytest.raises(FaultError, match=message):
        run_sidecars(_published(tmp_path, faults), service)


def test_no_run_or_an_ended_run_is_refused(tmp_path):
    with pytest.raises(FaultError, match="no meshvis run has published its sidecars"):
        run_sidecars(tmp_path, "name")
    _published(tmp_path, {})
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    path = tmp_path / SIDECARS_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "runner_pid": int(ended.stdout)}))
    with pytest.raises(FaultError, match="has ended"):
        run_sidecars(tmp_path, "name")


def test_only_loopback_is_asked():
    with pytest.raises(ValueError, match="not a loopback address"):
        set_fault("10.0.0.1", 9901, abort_percent=10)


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        (
            ["--abort-percent", "150"],
            2,
            "error: abortPercent: Input should be less than or equal to 100 (got 150.0)",
        ),
        (
            ["--abort-status", "200"],
            2,
            "error: abortStatus: Input should be greater than or equal to 400 (got 200)",
        ),
        (
            ["--clear", "--delay-ms", "5"],
            2,
            "error: --clear takes no fault values: clear, then set",
        ),
        (["--abort-percent", "5"], 1, "error: no meshvis run has published its sidecars in "),
    ],
)
def test_the_command_line_says_what_is_wrong_in_one_line(
    tmp_path, capsys, arguments, code, message
):
    """A stack file outside the project has a run folder of its own, which no run holds."""
    shutil.copy(PROJECT_ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    assert main(["fault", "name", "--stack", str(tmp_path / "Pulumi.dev.yaml"), *arguments]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
