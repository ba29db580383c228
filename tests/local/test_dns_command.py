"""``meshvis dns`` as a real process, without a run: one error line (tests/unit/meshvis/
test_dns_lookup.py checks the lines it prints; tests/local/test_dashboard_pictures_run.py asks
a real run's DNS server)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


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
