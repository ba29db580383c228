"""The dashboards' pictures of a real short run, and `meshvis dns` during one, run as
docs/dashboards.md writes them (from the project root, relative paths; the run's outputs in a
folder of their own so that a user's out/ stays as it was).

Each picture is checked by what it carries itself (its ``panels`` text chunk): every panel
of the deployed dashboard is on it, in order, and on ``dev`` none is empty: a panel is drawn
with data, or lists what its SEARCH selects when that metric appears only after an event, or
says why AWS alone has its data (the load balancer, Logs Insights).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body, dashboard_reads
from dashboards.grafana.dashboards import grafana_dashboards
from meshvis.local.cloudwatch_pictures import parse_search
from meshvis.local.dashboard_drawing import DRAWN, LISTED, NO_DATA, NOT_DRAWN, picture_panels
from meshvis.render.ecs import example_load_balancer
from tests.conftest import ROOT
from tests.local.test_local_mesh import MeshRun

pytestmark = pytest.mark.integration

DOCS = ROOT / "docs" / "dashboards.md"
MESHVIS = str(ROOT / ".venv" / "bin" / "meshvis")
# docs/dashboards.md's commands; the run's files go to a folder of the test's own.
RUN = "meshvis run --stack {stack} --duration 60"
DNS_COMMANDS = ("meshvis dns", "meshvis dns greeter")
DURATION = "30"
# Panels a healthy run leaves empty, as Grafana would: the stat appears after its event.
EVENT_ONLY_PANELS = {"Upstream 5xx": "a 5xx from an upstream"}


@pytest.fixture
def folder():
    name = f"out-pictures-test-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(ROOT / name, ignore_errors=True)


def run_as_documented(stack: str, folder: str) -> MeshRun:
    assert RUN.format(stack=stack) in DOCS.read_text()
    args = RUN.format(stack=stack).split()[2:]
    args[args.index("--duration") + 1] = DURATION
    args += ["--summary", f"{folder}/summary.json", "--snapshot", f"{folder}/golden-signals.png"]
    return MeshRun(ROOT, args, command=[MESHVIS, "run"])


def test_dev_pictures_have_every_widget_and_none_empty_and_dns_answers(folder):
    for command in DNS_COMMANDS:
        assert f"{command}\n" in DOCS.read_text(), command
    run = run_as_documented("dev", folder)
    try:
        run.wait_for(re.compile(r"^DNS: "), timeout=120)
        answers = {}
        for command in DNS_COMMANDS:
            done = subprocess.run(
                [MESHVIS, *command.split()[1:]],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stderr
            answers[command] = done.stdout.splitlines()
        assert run.finish(timeout=240) == 0, run.output()
    finally:
        run.cleanup()

    settings = stack_settings("dev")
    # Every app service's deployed name answers its two replicas, each named.
    every = answers["meshvis dns"]
    assert every[0].startswith("DNS server 127.")
    for service in settings.app_services:
        [line] = [x for x in every if x.startswith(f"{service.name}.")]
        assert len(re.findall(rf"127\.\d+\.\d+\.\d+ \({service.name}", line)) == service.replicas
    assert answers["meshvis dns greeter"][1:] == [x for x in every if x.startswith("greeter.")]

    pictures = ROOT / folder / "dashboards"
    body = dashboard_body(settings, *example_load_balancer(settings))
    panels = picture_panels(pictures / "cloudwatch-dashboard.png")
    assert len(panels) == len(body["widgets"])
    event_only = {r.name for r in dashboard_reads(settings) if r.when is not None}
    for panel, widget in zip(panels, body["widgets"], strict=True):
        properties = widget["properties"]
        if "title" in properties:
            assert panel["title"] == properties["title"]
        metrics = properties.get("metrics", [])
        if panel["status"] == LISTED:
            searched = {parse_search(m[0]["expression"], []).metric for m in metrics}
            assert searched <= event_only, panel
        elif panel["status"] == NOT_DRAWN:
            assert widget["type"] == "log" or all(m[0] == "AWS/ApplicationELB" for m in metrics)
        else:
            assert panel["status"] == DRAWN and (panel["series"] or widget["type"] == "text"), panel
    alarms = picture_panels(pictures / "cloudwatch-alarms.png")
    assert [a["title"] for a in alarms] == [spec["name"] for spec in alarm_specs(settings)]
    assert {a["status"] for a in alarms} == {DRAWN}


def test_dev_eks_pictures_have_every_grafana_panel(folder):
    run = run_as_documented("dev-eks", folder)
    try:
        assert run.finish(timeout=300) == 0, run.output()
    finally:
        run.cleanup()
    for filename, document in grafana_dashboards(stack_settings("dev-eks")).items():
        panels = picture_panels(ROOT / folder / "dashboards" / filename.replace(".json", ".png"))
        assert [(p["title"], p["type"]) for p in panels] == [
            (p["title"], p["type"]) for p in document["panels"]
        ]
        for panel in panels:
            if panel["status"] == NO_DATA:
                assert panel["title"] in EVENT_ONLY_PANELS, panel
            else:
                assert panel["status"] == DRAWN, panel
                assert panel["series"] or panel["type"] == "row", panel


def test_pictures_stay_small():
    """The committed pictures of docs/dashboards.md: every one it shows exists, none large."""
    shown = re.findall(r"\]\((pictures/[^)]+\.png)\)", DOCS.read_text())
    assert shown
    for relative in shown:
        path = DOCS.parent / relative
        assert path.stat().st_size < 600_000, path
    assert Path(DOCS.parent / "pictures").is_dir()
