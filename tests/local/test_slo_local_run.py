"""The SLO rules on the local mesh: real Envoys, the local Prometheus evaluating the same rule
file as a deployed one, and the run summary's ``slo``.

The dev stack with a fault on ``name`` (Envoy's fault filter aborts 20 % of its requests with
503 at its ingress: a burn rate of about 200x a 99.9 % objective): ``name`` pages, ``greeting``
(which does not call it) stays quiet, and no latency SLO (nothing is slow) burns anything.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from components.settings.stack_files import PROJECT_ROOT, stack_config
from dashboards.prometheus.slo import ALERT_PREFIX, WINDOWS

CULPRIT = "name"
INDEPENDENT = "greeting"
ABORT_PERCENT = 20
RUN_SECONDS = 25


@pytest.mark.integration
def test_a_burning_service_pages_in_the_run_summary(tmp_path):
    config = copy.deepcopy(stack_config("dev"))
    for service in config["mesh-visibility:services"]:
        if service["name"] == CULPRIT:
            service["faults"] = {"abortPercent": ABORT_PERCENT}
    stack = tmp_path / "Pulumi.slofault.yaml"
    stack.write_text(yaml.safe_dump({"config": config}))
    done = subprocess.run(
        [
            sys.executable, "-m", "meshvis", "run", "--stack", str(stack),
            "--duration", str(RUN_SECONDS), "--summary", "summary.json", "--snapshot", "chart.png",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["prometheus"]["rules_with_errors"] == []
    slo = summary["slo"]
    assert set(slo) == {"name", "greeting", "greeter"}

    culprit = slo[CULPRIT]["availability"]
    assert f"{ALERT_PREFIX}Page1h" in culprit["alerts"]["firing"], culprit
    assert 0.6 < culprit["sli"] < 0.95 and culprit["burn_rate"]["5m"] > 14.4, culprit
    assert set(culprit["burn_rate"]) == set(WINDOWS)
    assert 0 < culprit["budget_consumed"] < 0.05, culprit
    for service, rows in slo.items():
        assert rows["latency"]["alerts"] == {"pending": [], "firing": []}, (service, rows)
    # `greeting` calls nobody: untouched. (`greeter` calls the culprit: its sidecar retries an
    # aborted call twice, so about 0.2^3 of its calls fail, and with a few dozen requests
    # that share can pass a page's 1.44 % too: a real cascade, not asserted either way.)
    assert slo[INDEPENDENT]["availability"]["alerts"]["firing"] == [], slo[INDEPENDENT]
    assert slo[INDEPENDENT]["availability"]["sli"] == 1.0, slo[INDEPENDENT]
    assert f"slo: {CULPRIT} availability: firing {ALERT_PREFIX}Page1h" in done.stdout
