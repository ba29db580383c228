"""The documents an ``eks`` stack deploys (components/eks/documents.py): one logical name each
within its component (the Pulumi names, hence the URNs, come from them), in an order a plain
``kubectl apply`` / ``helm install`` could follow, and the webhook URL only where it is
referenced."""

from __future__ import annotations

import pytest

from components.eks.alerting import WEBHOOK_PLACEHOLDER
from components.eks.documents import (
    HELM_RELEASE,
    References,
    rendered_references,
    service_documents,
    stack_documents,
)
from components.eks.monitoring import RELEASE_NAME
from components.settings.validate import settings_from_config
from tests.support.shop_graphs import shop_eks_config
from tests.unit.eks.test_objects import SETTINGS, SOURCE

URL = "https://hooks.example.com/mesh"


@pytest.fixture(params=sorted(SETTINGS))
def settings(request):
    return SETTINGS[request.param]


def test_one_logical_name_per_document_of_a_component(settings):
    documents = stack_documents(settings, SOURCE, rendered_references(settings))
    owners = {d.service for d in documents}
    assert owners == {None, *(s.name for s in settings.services)}
    for owner in owners:
        names = [d.name for d in documents if d.service == owner]
        assert len(names) == len(set(names)), owner
    for service in settings.services:
        assert [d for d in documents if d.service == service.name] == service_documents(
            settings, service, SOURCE
        )


def test_everything_comes_after_what_it_needs(settings):
    documents = stack_documents(settings, SOURCE, rendered_references(settings))
    kinds = [d.kind for d in documents]
    assert kinds[0] == "StorageClass"
    namespaces = {
        d.args["metadata"]["name"]: i for i, d in enumerate(documents) if d.kind == "Namespace"
    }
    for index, document in enumerate(documents):
        namespace = document.args.get("metadata", {}).get("namespace")
        namespace = namespace or document.args.get("namespace")
        assert namespace is None or namespaces[namespace] < index, document.name
    [release] = [
        i
        for i, d in enumerate(documents)
        if d.kind == HELM_RELEASE and d.args["name"] == RELEASE_NAME
    ]
    # Alertmanager reads its Secret at start; the PrometheusRule's kind comes with the release.
    assert kinds.index("Secret") < release < kinds.index("PrometheusRule")


def test_the_webhook_url_is_a_reference_of_the_secret_only():
    settings = settings_from_config({**shop_eks_config(), "mesh-visibility:alertWebhookUrl": URL})
    assert rendered_references(settings).alert_webhook_url == WEBHOOK_PLACEHOLDER
    assert rendered_references(SETTINGS["shop"]).alert_webhook_url is None
    placeholder = stack_documents(settings, SOURCE, rendered_references(settings))
    real = stack_documents(settings, SOURCE, References(alert_webhook_url=URL))
    changed = [a.name for a, b in zip(placeholder, real, strict=True) if a != b]
    assert changed == ["alertmanager-config"]
    [secret] = [d for d in real if d.kind == "Secret"]
    assert URL in next(iter(secret.args["stringData"].values()))
