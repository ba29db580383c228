"""One service of the mesh on EKS: its sidecar's bootstrap, its pods and its Service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.eks.objects import deployment, envoy_config_map, service_object
from components.settings.model import ServiceSpec, Settings
from components.settings.ports import INGRESS_PORT


@dataclass
class EksMeshServiceArgs:
    """Inputs of an ``EksMeshService``.

    ``app_source`` is the demo app's source (``components.sidecar.demo_app.demo_app_source``); ``depends_on``
    names what must exist before the pods can start (the namespace, the demo app's
    ConfigMap, the nodes): the objects carry their namespace as a plain name, so Pulumi
    cannot see that dependency by itself.
    """

    settings: Settings
    service: ServiceSpec
    provider: k8s.Provider
    app_source: str
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class EksMeshService(pulumi.ComponentResource):
    """ConfigMap (Envoy bootstrap), Deployment (app + native Envoy sidecar) and, unless the
    service is a load generator, a Service on the sidecars' ingress port 15000."""

    config_map: k8s.core.v1.ConfigMap
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service | None
    address: str | None

    def __init__(self, name: str, args: EksMeshServiceArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meshvis:eks:MeshService", name, None, opts)
        settings, spec = args.settings, args.service
        placed = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                        depends_on=list(args.depends_on))

        config = envoy_config_map(settings, spec)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-envoy", metadata=config["metadata"], data=config["data"], opts=placed)
        pods = deployment(settings, spec, args.app_source)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment", metadata=pods["metadata"], spec=pods["spec"],
            opts=pulumi.ResourceOptions.merge(
                placed, pulumi.ResourceOptions(depends_on=[self.config_map])))
        self.service = None
        self.address = None
        if not spec.is_load:
            front = service_object(settings, spec)
            self.service = k8s.core.v1.Service(
                f"{name}-service", metadata=front["metadata"], spec=front["spec"], opts=placed)
            self.address = f"{settings.upstream_host(spec.name)}:{INGRESS_PORT}"

        self.register_outputs({
            "configMap": self.config_map.metadata.name,
            "deployment": self.deployment.metadata.name,
            "address": self.address,
        })
