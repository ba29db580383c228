"""Alertmanager on EKS (components/eks/alerting.py) checked by amtool: the configuration passes
Alertmanager's own check, and pages, tickets and the mesh's critical alerts reach the SLO
receiver (amtool's route test)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from components.eks.alerting import NULL_RECEIVER, SLO_RECEIVER, alertmanager_config
from dashboards.prometheus import rules
from dashboards.prometheus.rules import rules_file
from meshvis.local.gameday_plan import TICKET, prometheus_alerts
from tests.unit.eks.test_alerting import URL, _settings


@pytest.fixture(scope="module")
def amtool() -> str:
    path = shutil.which("amtool")
    assert path, "amtool missing: run `make setup` (installs Debian's prometheus-alertmanager)"
    return path


def _write(tmp_path, settings, webhook) -> str:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(json.dumps(alertmanager_config(settings, webhook)))
    return str(path)


@pytest.mark.parametrize("webhook", [None, URL])
def test_amtool_accepts_the_configuration(amtool, tmp_path, webhook):
    path = _write(tmp_path, _settings(webhook), webhook)
    done = subprocess.run(
        [amtool, "check-config", path], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "labels, receiver",
    [
        (["severity=page", "service=greeter", "slo=availability"], SLO_RECEIVER),
        (["severity=ticket", "service=greeter", "slo=latency"], SLO_RECEIVER),
        (["severity=critical", "alertname=MeshSidecarDown"], NULL_RECEIVER),
        (["alertname=Watchdog", "severity=none"], NULL_RECEIVER),
    ],
)
def test_pages_and_tickets_reach_the_slo_receiver(amtool, tmp_path, labels, receiver):
    path = _write(tmp_path, _settings(URL), URL)
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={path}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == receiver, done.stdout + done.stderr


def test_every_alert_the_game_day_counts_as_paging_reaches_the_receiver(amtool, tmp_path):
    """The game day (meshvis/local/gameday_plan.py) says an alert "paged" when its severity
    pages; here each alert of the mesh's rule file, with the labels it fires with, is routed
    by amtool: a page, a ticket or a critical mesh alert reaches the SLO receiver (someone is
    told, about the service it names), a warning stays in the UI."""
    settings = _settings(URL)
    path = _write(tmp_path, settings, URL)
    routed = {}
    for alert in prometheus_alerts(rules_file(settings)):
        labels = {
            "alertname": alert.name,
            "severity": alert.severity,
            "mesh": settings.mesh_name,
            "service": alert.service or "greeter",
            **({"envoy_cluster_name": "name"} if alert.edge else {}),
            **({"slo": alert.slo} if alert.slo else {}),
        }
        done = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}"]
            + [f"{key}={value}" for key, value in labels.items()],
            capture_output=True,
            text=True,
            timeout=60,
        )
        routed[alert.name] = (alert.pages or alert.severity == TICKET, done.stdout.strip())
    assert rules.NO_HEALTHY_HOSTS in routed
    assert {name: receiver for name, (_, receiver) in routed.items()} == {
        name: SLO_RECEIVER if told else NULL_RECEIVER for name, (told, _) in routed.items()
    }
