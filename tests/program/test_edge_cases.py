"""Edge cases found by trying, each one line and exit 2 before anything is written or started.

Stack files the settings never see as a map (not UTF-8, nested too deeply, a key twice), graphs
that break only the local run (a call cycle through a service with its own image, a stack
bigger than this machine), and bad command-line arguments. ``render``'s folder is its own.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from components.settings.stack_files import stack_config
from components.stack import checked_settings
from meshvis import __main__ as cli
from meshvis.local import preflight
from meshvis.render import MARKER

P = "mesh-visibility"


def _run_and_render(folder: Path, stack: str, capsys) -> list[tuple[int, str]]:
    """``render`` and ``run`` of ``stack`` in ``folder``: (exit code, stderr) of each."""
    results = []
    for command in (["render", "--out", "rendered"], ["run", "--duration", "1"]):
        code = cli.main([*command, "--stack", stack, "--root", str(folder)])
        results.append((code, capsys.readouterr().err))
    return results


def _one_error_line(err: str) -> str:
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


def _dev_with(services: list) -> dict:
    config = copy.deepcopy(stack_config("dev"))
    config[f"{P}:services"] = services
    config.pop(f"{P}:entryService")
    return config


STACK_FILES = [
    (
        "not-utf8",
        "config:\n  aws:region: us-west-2\n  mesh-visibility:meshName: caf\xe9\n".encode("latin-1"),
        "Pulumi.bad.yaml is not UTF-8 text (byte 0xe9 at offset 63)",
    ),
    (
        "nested-too-deeply",
        b"config:\n  mesh-visibility:services: " + b"[" * 5000 + b"]" * 5000,
        "Pulumi.bad.yaml nests too deeply to read",
    ),
    (
        "duplicate-key",
        b"config:\n  aws:region: us-west-2\n  mesh-visibility:services: []\n"
        b"  mesh-visibility:services:\n    - name: a\n",
        "Pulumi.bad.yaml is not valid YAML: found duplicate key 'mesh-visibility:services' "
        "(line 4, column 3)",
    ),
    (
        "duplicate-nested-key",
        b"config:\n  aws:region: us-west-2\n  mesh-visibility:services:\n"
        b"    - name: a\n      port: 3000\n      port: 3001\n",
        "Pulumi.bad.yaml is not valid YAML: found duplicate key 'port' (line 6, column 7)",
    ),
]


@pytest.mark.parametrize(
    "text, reason", [c[1:] for c in STACK_FILES], ids=[c[0] for c in STACK_FILES]
)
def test_unreadable_stack_files_are_one_line(text, reason, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.bad.yaml").write_bytes(text)
    for code, err in _run_and_render(tmp_path, "bad", capsys):
        assert (code, err) == (2, f"error: --stack: {reason}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.bad.yaml"]


def test_a_thousand_service_chain_is_checked_and_refused_locally_for_its_size(
    tmp_path, capsys, monkeypatch
):
    """The cycle check was recursive (RecursionError); the chain itself is a valid stack, too
    big to run on one machine."""
    chain = [
        {"name": f"s{i}", "port": 3000, "upstreams": [f"s{i + 1}"] if i < 999 else []}
        for i in range(1000)
    ]
    assert len(checked_settings(_dev_with(chain)).services) == 1000
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.chain.yaml").write_text(yaml.safe_dump({"config": _dev_with(chain)}))
    code = cli.main(["run", "--stack", "chain", "--root", str(tmp_path)])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert err.startswith(
        "error: a local run of this stack needs about 86100 MiB for 2001 "
        "processes (1000 Envoys x 65 MiB, 1000 demo apps x 21 MiB, "
        "Prometheus 100 MiB), more than 75% of the "
    ), err
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.chain.yaml"]


def test_a_thousand_service_cycle_is_one_line():
    ring = [
        {"name": f"s{i}", "port": 3000, "upstreams": [f"s{(i + 1) % 1000}"]} for i in range(1000)
    ]
    with pytest.raises(Exception) as caught:
        checked_settings(_dev_with(ring))
    assert str(caught.value).startswith(
        f"{P}:services: the demo app services call each other in a cycle (s0 -> s1 -> s2 -> "
    )


def test_a_cycle_through_an_own_image_deploys_but_does_not_run_locally(
    tmp_path, capsys, monkeypatch
):
    """On AWS the image decides whom it calls; locally the demo app plays it and would call
    its upstreams on every request, forever."""
    services = [
        {"name": "a", "port": 3000, "upstreams": ["b"]},
        {"name": "b", "port": 8080, "image": "nginx:1.29", "upstreams": ["a"]},
        {"name": "load", "kind": "load", "upstreams": ["a"]},
    ]
    checked_settings(_dev_with(services))  # a valid stack
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.loop.yaml").write_text(yaml.safe_dump({"config": _dev_with(services)}))
    assert cli.main(["run", "--stack", "loop", "--root", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {P}:services: a -> b -> a call each other in a cycle; locally the demo app "
        "plays every service (its own image too) and would recurse forever, so this stack "
        "cannot run locally\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.loop.yaml"]


BAD_ARGUMENTS = [
    ("duration-zero", ["--duration", "0"], "argument --duration: '0' is not a number of seconds"),
    ("duration-negative", ["--duration=-5"], "argument --duration: '-5' is not a number"),
    ("duration-nan", ["--duration", "nan"], "argument --duration: 'nan' is not a number"),
    ("duration-inf", ["--duration", "inf"], "argument --duration: 'inf' is not a number"),
    ("port-zero", ["--port", "0"], "argument --port: '0' is not a TCP port (1-65535)"),
    ("port-too-big", ["--port", "65536"], "argument --port: '65536' is not a TCP port"),
    ("summary-suffix", ["--summary", "summary.txt"], "'summary.txt' must end in .json"),
    ("snapshot-suffix", ["--snapshot", "chart.json"], "'chart.json' must end in .png"),
    ("summary-folder", ["--summary", "folder.json"], "'folder.json' is a folder"),
    ("summary-under-a-file", ["--summary", "file.txt/summary.json"], "is not a folder"),
    (
        "summary-unwritable",
        ["--summary", "/proc/summary.json"],
        "cannot write '/proc/summary.json'",
    ),
    ("snapshot-unwritable", ["--snapshot", "/proc/chart.png"], "cannot write '/proc/chart.png'"),
    ("unknown-option", ["--durration", "5"], "unrecognized arguments: --durration 5"),
]


@pytest.mark.parametrize(
    "args, reason", [c[1:] for c in BAD_ARGUMENTS], ids=[c[0] for c in BAD_ARGUMENTS]
)
def test_bad_run_arguments_are_one_line_before_anything(
    args, reason, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--stack", "dev", *args])
    assert exited.value.code == 2
    err = _one_error_line(capsys.readouterr().err)
    assert err.startswith("error: meshvis") and reason in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.json"]


def test_a_stack_bigger_than_the_machine_is_refused_unless_forced(tmp_path, capsys, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 2097152 kB\nMemAvailable: 524288 kB\n")  # 512 MiB free
    monkeypatch.setattr(preflight, "MEMINFO", meminfo)
    started = []
    monkeypatch.setattr("meshvis.local.runner.run_mesh", lambda *a, **k: started.append(a) or 0)
    # dev: 7 replicas (name, greeting, greeter x2, the load generator) -> 7 Envoys + 7 apps.
    assert cli.main(["run", "--stack", "dev"]) == 2
    assert capsys.readouterr().err == (
        "error: a local run of this stack needs about 702 MiB for 15 processes (7 Envoys x 65 "
        "MiB, 7 demo apps x 21 MiB, Prometheus 100 MiB), more than 75% of the 512 MiB this "
        "machine has available; fewer replicas, or --force to run anyway\n"
    )
    assert started == []
    assert cli.main(["run", "--stack", "dev", "--force"]) == 0
    assert len(started) == 1


def test_render_owns_its_folder(tmp_path, capsys):
    """A second render removes the first one's files: a service removed from the stack leaves
    no document behind to be applied by mistake."""
    out = tmp_path / "rendered"
    big = _dev_with([*stack_config("dev")[f"{P}:services"], {"name": "extra", "port": 3000}])
    (tmp_path / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": big}))
    assert cli.main(["render", "--stack", "s", "--root", str(tmp_path), "--out", str(out)]) == 0
    assert (out / "ecs" / "extra-containers.json").exists() and (out / MARKER).exists()
    (tmp_path / "Pulumi.s.yaml").write_text(
        yaml.safe_dump({"config": _dev_with(stack_config("dev")[f"{P}:services"])})
    )
    assert cli.main(["render", "--stack", "s", "--root", str(tmp_path), "--out", str(out)]) == 0
    assert not (out / "ecs" / "extra-containers.json").exists()
    assert not (out / "envoy" / "extra.yaml").exists()
    assert (out / "ecs" / "greeter-containers.json").exists()
    capsys.readouterr()


@pytest.mark.parametrize("kind", ["file", "foreign-folder"])
def test_render_refuses_what_it_does_not_own(kind, tmp_path, capsys):
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("mine")
        reason = f"--out {out} is a file, not a folder"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        reason = (
            f"--out {out} is not empty and was not written by meshvis render; choose an "
            "empty or new folder"
        )
    assert cli.main(["render", "--stack", "dev", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {reason}\n"
    assert (out.read_text() if kind == "file" else (out / "notes.txt").read_text()) == "mine"
    assert kind == "file" or [p.name for p in out.iterdir()] == ["notes.txt"]
