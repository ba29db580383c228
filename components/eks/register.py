"""How the EKS components register a document (components/eks/documents.py): the one mapping
from a document's kind to the pulumi-kubernetes class that registers it, and the references as
the program holds them (Pulumi outputs)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.eks.documents import HELM_RELEASE, Document, References
from components.settings.model import Settings

RESOURCE_CLASSES: dict[str, Callable[..., pulumi.CustomResource]] = {
    "Namespace": k8s.core.v1.Namespace,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "Secret": k8s.core.v1.Secret,
    "Service": k8s.core.v1.Service,
    "Deployment": k8s.apps.v1.Deployment,
    "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "StorageClass": k8s.storage.v1.StorageClass,
    # Its kind is defined by the monitoring release's CRDs: no typed class.
    "PrometheusRule": k8s.apiextensions.CustomResource,
    HELM_RELEASE: k8s.helm.v3.Release,
}


def _keyword(input_name: str) -> str:
    # The classes take their inputs as snake_case keywords and register them camelCase.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", input_name).lower()


def register(
    prefix: str, document: Document, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """``document`` as a resource named ``<prefix>-<its name>``, its inputs exactly its args."""
    arguments = {_keyword(key): value for key, value in document.args.items()}
    return RESOURCE_CLASSES[document.kind](f"{prefix}-{document.name}", opts=opts, **arguments)


def _embed(function: Callable[..., str], *values: Any) -> pulumi.Output[str]:
    # Only the string is computed inside apply, never a resource.
    return pulumi.Output.all(*values).apply(lambda resolved: function(*resolved))


def program_references(settings: Settings) -> References:
    """The references as the program passes them: the webhook URL a Pulumi secret end to end
    (the Secret's data is secret in the state and the engine's messages)."""
    return References(
        alert_webhook_url=pulumi.Output.secret(settings.alert_webhook_url), embed=_embed
    )
