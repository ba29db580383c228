"""Rules an ``eks`` stack must meet beyond its settings, checked before any resource exists."""

from __future__ import annotations

from components.eks.objects import MONITORING_NAMESPACE
from components.settings.errors import ConfigError
from components.settings.model import Settings

# Namespaces the cluster or the monitoring stack own: the mesh cannot be created in them.
RESERVED_NAMESPACES = (MONITORING_NAMESPACE, "default", "kube-system", "kube-public",
                       "kube-node-lease")


def check_kubernetes_namespace(settings: Settings) -> None:
    """Raise ``ConfigError`` if the mesh's namespace is one the cluster already has or the
    monitoring stack uses (creating it would fail, or mix the mesh into it), or has the
    ``kube-`` prefix Kubernetes reserves for its system namespaces."""
    namespace = settings.kubernetes_namespace
    if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
        raise ConfigError("kubernetesNamespace",
                          f"{namespace!r} is reserved ({', '.join(RESERVED_NAMESPACES)} and "
                          "every kube-* name); choose another name")
