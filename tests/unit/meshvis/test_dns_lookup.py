"""`meshvis dns` without a run (the lines it prints; one error line when no run is there).
tests/local/test_dashboard_pictures_run.py asks a real run's DNS server."""

from __future__ import annotations

import subprocess

from components.stack import stack_settings
from meshvis.local.dns_lookup import answer_line, lookup_names
from tests.conftest import ROOT


def test_a_service_is_asked_by_its_deployed_name_and_any_other_name_as_given():
    settings = stack_settings("dev")
    assert lookup_names(settings, ["greeter", "example.org."]) == [
        "greeter.internal",
        "example.org",
    ]
    assert lookup_names(settings, []) == [
        "greeter.internal",
        "greeting.internal",
        "name.internal",
    ]


def test_each_address_is_named_by_its_replica_in_address_order():
    instances = {"127.1.1.10": "greeter-2", "127.1.1.9": "greeter-1"}
    assert answer_line("greeter.internal", ["127.1.1.10", "127.1.1.9"], instances) == (
        "greeter.internal: 127.1.1.9 (greeter-1), 127.1.1.10 (greeter-2)"
    )
    assert answer_line("x", [], instances) == "x: no address (NXDOMAIN or no healthy replica)"


def test_without_a_run_it_says_so_in_one_line(tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "meshvis"), "dns", "--root", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: no meshvis run has published its sidecars in ")
    assert len(done.stderr.splitlines()) == 1
