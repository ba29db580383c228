"""One service of the mesh on EKS: its sidecar's bootstrap, its pods and its Service.

``EksMeshService`` takes arguments of its own (``EksMeshServiceArgs``), so any program can add
a mesh service to a namespace of its own cluster, and the component package (``provider/``)
hosts it for every language. No ``from __future__ import annotations``: Pulumi's schema
inference reads the annotations of the arguments and outputs as objects.
"""

from collections.abc import Sequence
from typing import Required, TypedDict, cast

import pulumi
import pulumi_kubernetes as k8s

from components.eks.checks import check_env_sizes
from components.eks.documents import service_documents
from components.eks.register import register
from components.outputs import declared_outputs
from components.settings.ports import INGRESS_PORT
from components.settings.service_args import (
    ArgumentError,
    MeshArgs,
    ServiceArgs,
    component_settings,
)
from components.sidecar.demo_app import demo_app_source


class EksMeshServiceArgs(TypedDict, total=False):
    """Arguments of an ``EksMeshService``: the service, its mesh and the Kubernetes namespace it
    runs in, which must exist. The cluster is the one of the component's Kubernetes provider
    (the `providers` resource option). A service without `image` runs the built-in demo app,
    which mounts the demo app's ConfigMap (``components.eks.objects.demo_app_objects``) that
    the stack creates once per namespace: elsewhere, give every service an image."""

    service: Required[ServiceArgs]
    """The service."""
    mesh: Required[MeshArgs]
    """The settings every service of its mesh shares."""
    kubernetes_namespace: Required[str]
    """The namespace of its pods and Service: the sidecars reach an upstream at
    `<upstream>.<kubernetes_namespace>.svc.cluster.local.`"""


class EksMeshService(pulumi.ComponentResource):
    """ConfigMap (Envoy bootstrap), Deployment (app + native Envoy sidecar), unless the
    service is a load generator a Service on the sidecars' ingress port 15000, and with more
    than one replica a PodDisruptionBudget.

    Registered as ``meshvis:eks:MeshService`` wherever it is created (the type its deployed
    stacks' URNs carry), also when the package hosts it as ``meshvis:index:EksMeshService``.
    Python only: ``start_after`` names what every object waits for (the stack's namespace,
    demo app ConfigMap and nodes: the objects carry their namespace as a plain name, so Pulumi
    cannot see that dependency by itself), ``rollout_after`` what its Deployment waits for (its
    upstreams' Deployments: pulumi-kubernetes waits for a rollout, so its pods roll only once
    its upstreams' pods are ready). Other programs order whole components with `depends_on`.
    """

    config_map: k8s.core.v1.ConfigMap
    """The ConfigMap with the sidecar's Envoy bootstrap (content-addressed, immutable)."""
    deployment: k8s.apps.v1.Deployment
    """The Deployment: the app and its native Envoy sidecar."""
    kubernetes_service: k8s.core.v1.Service | None
    """The headless Service on the sidecars' ingress port 15000 (none for `load`)."""
    address: str | None
    """Where the mesh reaches it: `<name>.<namespace>.svc.cluster.local.:15000` (none for
    `load`)."""

    def __init__(
        self,
        name: str,
        args: EksMeshServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        start_after: Sequence[pulumi.Resource] = (),
        rollout_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        # Every argument checked before any resource (the component's own included) exists;
        # a RunError is reported as its one-line message, without a traceback.
        try:
            settings = component_settings(
                "EksMeshService", name, args, EksMeshServiceArgs, "eks", checks=[check_env_sizes]
            )
        except ArgumentError as err:
            raise pulumi.RunError(str(err)) from None
        spec = settings.services[0]
        super().__init__("meshvis:eks:MeshService", name, None, opts)
        # The objects' provider is the component's (`providers` or `provider`), by inheritance.
        placed = pulumi.ResourceOptions(parent=self, depends_on=list(start_after))
        created: dict[str, pulumi.CustomResource] = {}
        for document in service_documents(settings, spec, demo_app_source()):
            # The bootstrap's ConfigMap is content-addressed and immutable (objects.content_name):
            # a new bootstrap is a new ConfigMap, created before the Deployment that mounts it
            # rolls; the old one goes at the end of the update, when no pod mounts it any more.
            waits = [created["ConfigMap"], *rollout_after] if document.kind == "Deployment" else []
            created[document.kind] = register(
                name,
                document,
                pulumi.ResourceOptions.merge(placed, pulumi.ResourceOptions(depends_on=waits)),
            )
        self.config_map = cast(k8s.core.v1.ConfigMap, created["ConfigMap"])
        self.deployment = cast(k8s.apps.v1.Deployment, created["Deployment"])
        self.kubernetes_service = cast(k8s.core.v1.Service | None, created.get("Service"))
        self.address = (
            None if spec.is_load else f"{settings.upstream_host(spec.name)}:{INGRESS_PORT}"
        )
        self.register_outputs(declared_outputs(self))
