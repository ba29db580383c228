"""Alertmanager on EKS (components/eks/alerting.py): the configuration passes Alertmanager's own
check, pages and tickets reach the SLO receiver (amtool's route test), a page inhibits the
tickets of its service, and no rendered file holds the webhook URL."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from components.eks.alerting import (
    CONFIG_KEY,
    NULL_RECEIVER,
    SLO_RECEIVER,
    WEBHOOK_PLACEHOLDER,
    alertmanager_config,
    config_secret,
)
from components.eks.monitoring import monitoring_values
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from meshvis.render.eks import eks_documents

URL = "https://hooks.example.com/services/T000/B000/very-secret-token"


def _settings(webhook: object = None):
    config = stack_config("dev-eks")
    if webhook is not None:
        config["mesh-visibility:alertWebhookUrl"] = webhook
    return settings_from_config(config)


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


def test_a_page_inhibits_the_tickets_of_its_service_and_the_receiver_posts_resolved_too():
    config = alertmanager_config(_settings(URL), URL)
    assert {
        "source_matchers": ['severity = "page"'],
        "target_matchers": ['severity = "ticket"'],
        "equal": ["mesh", "service"],
    } in config["inhibit_rules"]
    (slo,) = [r for r in config["receivers"] if r["name"] == SLO_RECEIVER]
    assert slo["webhook_configs"] == [{"url": URL, "send_resolved": True}]
    # Without a webhook the receiver has no integration: alerts stay visible in the UI.
    (bare,) = [
        r for r in alertmanager_config(_settings(), None)["receivers"] if r["name"] == SLO_RECEIVER
    ]
    assert bare == {"name": SLO_RECEIVER}


@pytest.mark.parametrize("webhook", [URL, {"secure": "v1:AAAAciphertext"}])
def test_no_rendered_document_holds_the_url(webhook):
    settings = _settings(webhook)
    documents = eks_documents(settings)
    assert not any(URL in text or "ciphertext" in text for text in documents.values())
    # The configuration is in a Secret (with the placeholder), not in the chart's values.
    secret = config_secret(settings)
    assert secret["kind"] == "Secret"
    assert WEBHOOK_PLACEHOLDER in secret["stringData"][CONFIG_KEY]
    spec = monitoring_values(settings)["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == secret["metadata"]["name"]
    assert "config" not in monitoring_values(settings)["alertmanager"]
    assert not any("webhook" in text for path, text in documents.items() if "configmap" in path)
