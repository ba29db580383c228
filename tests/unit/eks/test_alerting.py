"""Alertmanager on EKS (components/eks/alerting.py): a page inhibits the tickets of its service,
and no rendered file holds the webhook URL (amtool's own checks: tests/consumers/eks)."""

from __future__ import annotations

import pytest

from components.eks.alerting import (
    CONFIG_KEY,
    SLO_RECEIVER,
    WEBHOOK_PLACEHOLDER,
    alertmanager_config,
)
from components.eks.monitoring import monitoring_values
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.demo_app import demo_app_source
from meshvis.render.eks import eks_documents, kubernetes_objects

URL = "https://hooks.example.com/services/T000/B000/very-secret-token"


def _settings(webhook: object = None):
    config = stack_config("dev-eks")
    if webhook is not None:
        config["mesh-visibility:alertWebhookUrl"] = webhook
    return settings_from_config(config)


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
    [secret] = [o for o in kubernetes_objects(settings, demo_app_source()) if o["kind"] == "Secret"]
    assert secret["kind"] == "Secret"
    assert WEBHOOK_PLACEHOLDER in secret["stringData"][CONFIG_KEY]
    spec = monitoring_values(settings)["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == secret["metadata"]["name"]
    assert "config" not in monitoring_values(settings)["alertmanager"]
    assert not any("webhook" in text for path, text in documents.items() if "configmap" in path)
