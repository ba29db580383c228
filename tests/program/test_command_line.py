"""The command line's own promises (issues 23 and 24): ``--stack`` takes a name or a path and
its errors name the option; a plain ``run`` writes into out/; every path the machine refuses is
one line. Each test fails on the code before these fixes (noted per test) and runs in-process
without starting a mesh.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.settings.stack_files import PROJECT_ROOT, stack_config, stack_names
from meshvis import __main__ as cli
from meshvis.local import preflight
from tests.conftest import ROOT


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.fixture
def started(monkeypatch) -> list[dict]:
    """``run_mesh`` replaced: the arguments of each run the command line would start."""
    runs: list[dict] = []

    def run_mesh(settings, **kwargs) -> int:
        runs.append(kwargs)
        return 0

    monkeypatch.setattr("meshvis.local.runner.run_mesh", run_mesh)
    return runs


def test_stack_takes_a_path_to_a_stack_file(tmp_path, started, capsys):
    """Was ``mesh-visibility:stack: no file Pulumi.shop.yaml.yaml``."""
    (tmp_path / "Pulumi.shop.yaml").write_text(yaml.safe_dump({"config": stack_config("dev")}))
    assert cli.main(["run", "--stack", str(tmp_path / "Pulumi.shop.yaml"), "--no-files"]) == 0
    assert started[0]["stack"] == "shop"
    assert started[0]["stack_file"] == tmp_path / "Pulumi.shop.yaml"
    out = tmp_path / "rendered"
    assert (
        cli.main(["render", "--stack", str(tmp_path / "Pulumi.shop.yaml"), "--out", str(out)]) == 0
    )
    assert (out / "ecs" / "greeter-containers.json").exists()
    capsys.readouterr()


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--stack", "dve"],
            f"error: --stack: no stack 'dve' in {PROJECT_ROOT} (no Pulumi.dve.yaml; stacks "
            f"there: {', '.join(stack_names())}); did you mean 'dev'? A stack elsewhere: "
            "--root FOLDER or --stack PATH/Pulumi.<stack>.yaml",
        ),
        (
            ["--stack", "somewhere/shop.yaml"],
            "error: --stack: somewhere/shop.yaml is not a path to a Pulumi.<stack>.yaml file",
        ),
        (
            ["--stack", "dev", "--root", "/nonexistent"],
            "error: --root: /nonexistent is not a folder",
        ),
        (
            ["--stack", "/nonexistent/Pulumi.dev.yaml"],
            "error: --stack: /nonexistent is not a folder",
        ),
    ],
    ids=["did-you-mean", "not-a-stack-file-name", "root-not-a-folder", "path-not-a-folder"],
)
def test_command_line_errors_name_the_option(args, expected, capsys, started):
    for command in (["render", "--out", "/nonexistent/never"], ["run"]):
        assert cli.main([*command, *args]) == 2
        assert _one_line(capsys) == expected
    assert started == []


def test_a_300_character_stack_name_is_one_line(capsys, started):
    """Finding 12: was ``OSError: File name too long``, a traceback."""
    assert cli.main(["run", "--stack", "s" * 300]) == 2
    line = _one_line(capsys)
    assert line.startswith("error: --stack: cannot read ") and line.endswith(": File name too long")
    assert len(line) < 200


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink-loop"])
def test_a_stack_file_that_is_no_file_is_named_and_not_listed(kind, tmp_path, capsys, started):
    """Finding 18: was "no file Pulumi.X.yaml" (and listed among the stacks)."""
    path = tmp_path / "Pulumi.x.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(path)
    (tmp_path / "Pulumi.ok.yaml").write_text(yaml.safe_dump({"config": stack_config("dev")}))
    assert stack_names(tmp_path) == ["ok"]
    assert cli.main(["run", "--stack", "x", "--root", str(tmp_path)]) == 2
    reason = {
        "fifo": f"{path} is not a regular file (a FIFO, socket or device)",
        "folder": f"{path} is a folder, not a stack file",
        "symlink-loop": f"cannot read {path}: Too many levels of symbolic links",
    }[kind]
    assert _one_line(capsys) == f"error: --stack: {reason}"


@pytest.mark.parametrize("kind", ["dangling-symlink", "through-a-file", "under-proc"])
def test_render_out_the_machine_refuses_is_one_line(kind, tmp_path, capsys):
    """Finding 13: each was a traceback (FileExistsError, NotADirectoryError, OSError)."""
    if kind == "dangling-symlink":
        out = tmp_path / "link"
        out.symlink_to(tmp_path / "gone" / "away")
    elif kind == "through-a-file":
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "render"
    else:
        out = Path("/proc/self/render")
    assert cli.main(["render", "--stack", "dev", "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"error: --out {out}: cannot write there (") and line.endswith(
        "); choose a folder you can write"
    ), line


def test_a_plain_run_writes_into_out_and_no_files_turns_it_off(tmp_path, monkeypatch, started):
    """Issue 23 item 4: a plain run wrote no summary and no pictures."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == 0
    assert (started[0]["summary"], started[0]["snapshot"]) == (
        Path("out/summary.json"),
        Path("out/golden-signals.png"),
    )
    assert cli.main(["run", "--summary", "s.json"]) == 0
    assert (started[1]["summary"], started[1]["snapshot"]) == (
        Path("s.json"),
        Path("out/golden-signals.png"),
    )
    assert cli.main(["run", "--no-files"]) == 0
    assert (started[2]["summary"], started[2]["snapshot"]) == (None, None)
    assert cli.main(["run", "--no-files", "--snapshot", "c.png"]) == 0
    assert (started[3]["summary"], started[3]["snapshot"]) == (None, Path("c.png"))
    assert list(tmp_path.iterdir()) == []  # checked, nothing written before the run


def test_a_chart_named_like_the_service_map_is_refused(tmp_path, capsys, started):
    """Finding 6: ``--snapshot DIR/service-map.png`` was overwritten by the service map."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--snapshot", str(tmp_path / "service-map.png")])
    assert exited.value.code == 2
    assert "service-map.png is the service map's name" in _one_line(capsys)
    assert started == []


def _limited(soft: int, hard: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def test_too_low_an_open_file_limit_is_one_line_before_anything(tmp_path):
    """Finding 11: ~3 descriptors per replica; past the limit a run ended in a "Too many open
    files" traceback half-way through starting."""
    config = stack_config("dev")
    config["mesh-visibility:services"][0]["replicas"] = 60
    (tmp_path / "Pulumi.big.yaml").write_text(yaml.safe_dump({"config": config}))
    done = subprocess.run(
        [sys.executable, "-m", "meshvis", "run", "--stack", "big", "--root", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        preexec_fn=_limited(300, 300),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    need = preflight.FDS_BASE + preflight.FDS_PER_REPLICA * (60 + 5)
    assert done.stderr == (
        f"error: a local run of this stack holds about {need} open files, more than this "
        f"shell's limit of 300 (ulimit -n): raise it (ulimit -n {need}, as allowed) or run "
        "fewer replicas\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_low_soft_open_file_limit_is_raised_where_the_hard_one_allows():
    script = (
        "import resource; from components.stack import stack_settings; "
        "from meshvis.local.preflight import check_open_files; "
        "check_open_files(stack_settings('dev')); "
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=_limited(64, 4096),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == preflight.FDS_BASE + preflight.FDS_PER_REPLICA * 7
