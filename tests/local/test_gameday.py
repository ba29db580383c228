"""One real game day, short: the dev-eks mesh (nginx x2 behind one load generator, whose
1 req/s the game day multiplies by the time scale) at a high time scale, every scenario run
for real (fault filters raised through the admin runtime, replicas killed, DNS stopped).
Bounded by the game day's own phase bounds; nothing here asserts on how long anything took or
on the scenarios' verdicts but the outage's: at any scale, stopping every replica of the
culprit must be pinned on the culprit."""

from __future__ import annotations

import json
import subprocess

import pytest

from components.stack import stack_settings
from meshvis.local.gameday import run_gameday

pytestmark = pytest.mark.integration

TIME_SCALE = 12


def _small_settings():
    settings = stack_settings("dev-eks")
    services = tuple(
        s.model_copy(update={"replicas": 1, "rate": 1.0}) if s.is_load else s
        for s in settings.services
    )
    return settings.model_copy(update={"services": services})


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gameday")
    path = folder / "report.json"
    code = run_gameday(
        _small_settings(),
        stack="dev-eks",
        report=path,
        time_scale=TIME_SCALE,
        run_dir=folder / "run",
    )
    return code, json.loads(path.read_text()), folder


def test_the_report_has_every_scenario_with_its_expectations_and_observations(report):
    code, result, folder = report
    assert code == (0 if result["passed"] else 1)
    assert result["stack"] == "dev-eks" and result["time_scale"] == TIME_SCALE
    names = [s["name"] for s in result["scenarios"]]
    assert names == ["errors", "latency", "replica-loss", "outage", "dns-outage"]
    for scenario in result["scenarios"]:
        assert {
            "culprit",
            "passed",
            "expected_fire",
            "expected_quiet",
            "fired",
            "pending",
            "time_to_detect_s",
            "time_to_recover_s",
        } <= set(scenario)
        for fired in scenario["fired"]:
            assert {"source", "alert", "service", "after_s"} <= set(fired)
        assert (folder / scenario["signals_png"]).stat().st_size > 0
    markdown = (folder / "report.md").read_text()
    assert all(f"## {name}" in markdown for name in names)


def test_the_outage_is_pinned_on_its_culprit(report):
    _, result, _ = report
    outage = next(s for s in result["scenarios"] if s["name"] == "outage")
    assert outage["culprit"] == "nginx"
    blamed = {(e["alert"], e["service"]) for e in outage["fired"]}
    assert ("MeshUpstreamNoHealthyHosts", "nginx") in blamed
    assert outage["time_to_detect_s"] is not None


def test_nothing_is_left_running(report):
    _, _, folder = report
    run_dir = str(folder / "run")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert run_dir not in ps
