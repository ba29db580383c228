"""What an ``eks`` stack deploys on its cluster, written once (pure): every Kubernetes object
and Helm release as a ``Document``, per service and for the whole stack.

``EksTopology`` and ``EksMeshService`` register exactly these documents (one resource class per
kind, components/eks/register.py), ``meshvis render`` writes exactly these
(meshvis/render/eks.py), and tests/program/test_eks_render_registered.py proves the two equal
under the mocks. What the cluster is made of (VPC, the EKS cluster, its node group, IAM roles,
add-ons) is not here: those are AWS resources wired to each other's outputs in topology.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from components.eks import monitoring, tempo
from components.eks.alerting import WEBHOOK_PLACEHOLDER, alertmanager_config_text, config_secret
from components.eks.monitoring import dashboard_config_maps, monitoring_values, prometheus_rule
from components.eks.objects import (
    MONITORING_NAMESPACE,
    demo_app_objects,
    namespaces,
    network_policy,
    service_objects,
)
from components.eks.storage import storage_class
from components.eks.tempo import tempo_network_policy, tempo_values
from components.settings.model import ServiceSpec, Settings

# The kind of a Helm release's document (a Kubernetes object's is its own `kind`).
HELM_RELEASE = "helm-release"
# kube-prometheus-stack waits for Prometheus, Grafana and the operator to be ready; on new
# nodes that pull every image first, that takes longer than Helm's default 5 minutes.
RELEASE_TIMEOUT_SECONDS = 900
# Logical names the components wire by (topology.py: who waits for whom).
STORAGE_CLASS_DOCUMENT = "storage-class"
DEMO_APP_DOCUMENT = "demo-app"
ALERTMANAGER_CONFIG_DOCUMENT = "alertmanager-config"
MONITORING_RELEASE_DOCUMENT = "monitoring"
ALERT_RULES_DOCUMENT = "alert-rules"
# The logical name of each object of a service (its resource's name after its component's).
SERVICE_PARTS = {
    "ConfigMap": "envoy",
    "Deployment": "deployment",
    "Service": "service",
    "PodDisruptionBudget": "budget",
}


@dataclass(frozen=True)
class Document:
    """One resource the stack deploys: its ``kind`` (a Kubernetes kind, or ``HELM_RELEASE``),
    its logical ``name`` (its Pulumi name is ``<component's name>-<name>``) and ``args``, the
    resource's input arguments in the provider's input names: plain JSON-able data, but where
    a reference is embedded (an Output in the program, see ``References``). ``service`` names
    the service whose ``EksMeshService`` registers it (None: the topology does)."""

    kind: str
    name: str
    args: dict[str, Any]
    service: str | None = None


def _call(function: Callable[..., Any], *values: Any) -> Any:
    return function(*values)


@dataclass(frozen=True)
class References:
    """The values a document embeds that the program holds only as Pulumi outputs.

    ``alert_webhook_url``: the URL Alertmanager posts to (None: no webhook), a Pulumi secret
    in the program. ``embed(function, *values)`` makes a document's string from them: a plain
    call for plain values (``meshvis render``, the tests), ``Output.all(*values).apply`` in
    the program.
    """

    alert_webhook_url: Any
    embed: Callable[..., Any] = _call


def rendered_references(settings: Settings) -> References:
    """What ``meshvis render`` writes in place of the references: the webhook URL, if any, is
    ``alerting.WEBHOOK_PLACEHOLDER`` (a rendered file never holds the secret)."""
    configured = settings.alert_webhook_url is not None
    return References(alert_webhook_url=WEBHOOK_PLACEHOLDER if configured else None)


def _release(name: str, chart: str, version: str, repository: str, values: dict) -> dict:
    return {
        "name": name,
        "chart": chart,
        "version": version,
        "repositoryOpts": {"repo": repository},
        "namespace": MONITORING_NAMESPACE,
        "values": values,
        "timeout": RELEASE_TIMEOUT_SECONDS,
    }


def service_documents(settings: Settings, service: ServiceSpec, app_source: str) -> list[Document]:
    """The documents of one service's ``EksMeshService``, in apply order (``app_source``: the
    demo app's source, whose ConfigMap name its pods mount)."""
    return [
        Document(obj["kind"], SERVICE_PARTS[obj["kind"]], obj, service.name)
        for obj in service_objects(settings, service, app_source)
    ]


def namespace_document(namespace: str) -> str:
    """The logical name of the Namespace object ``namespace``."""
    return f"ns-{namespace}"


def _kubernetes(name: str, obj: dict) -> Document:
    return Document(obj["kind"], name, obj)


def stack_documents(settings: Settings, app_source: str, references: References) -> list[Document]:
    """Every document of the stack, in apply order: the StorageClass (the releases' volumes are
    claimed from it), the namespaces, the mesh's network policy, the demo app's source (if any
    service runs it), each service's documents, the dashboards, Tempo (with ``tracing``),
    Alertmanager's configuration Secret before the release that reads it, and the PrometheusRule
    last: its kind comes with the release."""
    secret_text = references.embed(
        partial(alertmanager_config_text, settings), references.alert_webhook_url
    )
    tracing = (
        [
            Document(
                HELM_RELEASE,
                "tempo",
                _release(
                    tempo.RELEASE_NAME,
                    tempo.CHART,
                    tempo.CHART_VERSION,
                    tempo.CHART_REPOSITORY,
                    tempo_values(),
                ),
            ),
            _kubernetes("tempo-network-policy", tempo_network_policy(settings)),
        ]
        if settings.tracing
        else []
    )
    return [
        _kubernetes(STORAGE_CLASS_DOCUMENT, storage_class()),
        *(
            _kubernetes(namespace_document(obj["metadata"]["name"]), obj)
            for obj in namespaces(settings)
        ),
        _kubernetes("network-policy", network_policy(settings)),
        *(_kubernetes(DEMO_APP_DOCUMENT, obj) for obj in demo_app_objects(settings, app_source)),
        *(
            document
            for service in settings.services
            for document in service_documents(settings, service, app_source)
        ),
        *(_kubernetes(obj["metadata"]["name"], obj) for obj in dashboard_config_maps(settings)),
        *tracing,
        _kubernetes(ALERTMANAGER_CONFIG_DOCUMENT, config_secret(settings, secret_text)),
        Document(
            HELM_RELEASE,
            MONITORING_RELEASE_DOCUMENT,
            _release(
                monitoring.RELEASE_NAME,
                monitoring.CHART,
                monitoring.CHART_VERSION,
                monitoring.CHART_REPOSITORY,
                monitoring_values(settings),
            ),
        ),
        _kubernetes(ALERT_RULES_DOCUMENT, prometheus_rule(settings)),
    ]
