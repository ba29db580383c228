"""Plan the local mesh: which processes run, on which 127.0.0.1 ports, with which documents.

On AWS every replica has its own network namespace and the sidecar contract's fixed ports
(15000, 9001.., 9901, 9902). On one host each replica gets free ports instead; the plan is
the single place that knows them, so the apps' environment, the localized bootstraps and the
Prometheus targets always agree.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from components.settings.model import ServiceSpec, Settings
from components.sidecar.bootstrap import dog_statsd_sink, envoy_bootstrap
from components.sidecar.demo_app import demo_app_environment
from meshvis.local.localize import LOOPBACK, SidecarPorts, localize
from meshvis.local.processes import free_ports


class PortInUse(RuntimeError):
    """A port the user asked for is already taken on 127.0.0.1."""


@dataclass(frozen=True)
class LocalReplica:
    """One replica of a service: its demo app's port (None for a load generator, which only
    calls out) and its sidecar's ports."""

    service: ServiceSpec
    index: int
    app_port: int | None
    sidecar: SidecarPorts

    @property
    def instance(self) -> str:
        """Its name in logs, answers (``From greeter-1: ...``) and Prometheus labels."""
        return f"{self.service.name}-{self.index}"

    @property
    def ingress_url(self) -> str | None:
        return None if self.sidecar.ingress is None else \
            f"http://{LOOPBACK}:{self.sidecar.ingress}/"


@dataclass(frozen=True)
class LocalPlan:
    """Every replica of the mesh with its ports, and the entry service."""

    settings: Settings
    replicas: tuple[LocalReplica, ...]
    entry_service: str

    def of(self, service: str) -> list[LocalReplica]:
        return [r for r in self.replicas if r.service.name == service]

    @property
    def entry_urls(self) -> list[str]:
        """Ingress URLs of every entry replica; the first one is what the user is told to curl."""
        return [r.ingress_url for r in self.of(self.entry_service) if r.ingress_url]

    def upstream_endpoints(self, service: ServiceSpec) -> dict[str, list[int]]:
        """Each upstream's replicas' ingress ports: the endpoints of its sidecar cluster."""
        return {u: [r.sidecar.ingress for r in self.of(u) if r.sidecar.ingress is not None]
                for u in service.upstreams}

    def bootstrap(self, replica: LocalReplica, statsd_port: int | None) -> dict:
        """The deployed bootstrap of the replica's service, localized to its ports.

        It is the stack's own topology's bootstrap, stats matcher included, so a run proves
        that topology's dashboards against what its sidecars really keep. An eks sidecar has
        no DogStatsD sink; here it gets one to ``statsd_port`` all the same (a sink changes
        no stat, it only sends what the matcher kept), so that every run can report what
        its sidecars would send to CloudWatch.
        """
        deployed = envoy_bootstrap(self.settings, replica.service)
        if statsd_port is not None and "stats_sinks" not in deployed:
            deployed["stats_sinks"] = [dog_statsd_sink(statsd_port)]
        return localize(deployed, replica.sidecar,
                        app_port=replica.app_port,
                        upstream_endpoints=self.upstream_endpoints(replica.service),
                        statsd_port=statsd_port)

    def app_environment(self, replica: LocalReplica) -> dict[str, str]:
        """The demo app's environment as deployed, with this host's ports and a replica name.

        A service with its own image runs the demo app as a stand-in on its port, so the
        mesh around it (its sidecar, its callers, its metrics) is still the deployed one.
        """
        env = {**demo_app_environment(replica.service, LOOPBACK), "INSTANCE": replica.instance}
        if replica.app_port is not None:
            env["PORT"] = str(replica.app_port)
        if replica.service.upstreams:
            # The same `name=url` list as deployed; only the egress ports differ.
            env["UPSTREAMS"] = ",".join(f"{u}=http://{LOOPBACK}:{replica.sidecar.egress[u]}"
                                        for u in replica.service.upstreams)
        return env

    def scrape_targets(self) -> list[tuple[str, dict[str, str]]]:
        """Every sidecar's metrics listener with its target labels (service, replica)."""
        return [(f"{LOOPBACK}:{r.sidecar.metrics}",
                 {"service": r.service.name, "replica": r.instance}) for r in self.replicas]


def entry_service(settings: Settings) -> str:
    """The configured entry service, else the first app service that no app calls (load
    generators are clients from outside, like the users behind the ALB)."""
    if settings.entry_service:
        return settings.entry_service
    called = {u for s in settings.app_services for u in s.upstreams}
    apps = settings.app_services
    return next((s.name for s in apps if s.name not in called), apps[0].name)


def plan_mesh(settings: Settings, entry_port: int | None = None) -> LocalPlan:
    """Pick free ports for every replica; ``entry_port`` fixes the first entry replica's ingress.

    Raises ``PortInUse`` if ``entry_port`` is taken. The ports are free when chosen; a process
    that takes one before its Envoy binds makes that Envoy exit, which the runner reports.
    """
    entry = entry_service(settings)
    per_replica = [(svc, i) for svc in settings.services for i in range(1, svc.replicas + 1)]
    # admin + metrics + one per upstream, and for an app: its ingress and the app's own port.
    needed = sum(2 + len(svc.upstreams) + (0 if svc.is_load else 2) for svc, _ in per_replica)
    with _held(entry_port):
        ports = iter(free_ports(needed))
    replicas = []
    for svc, index in per_replica:
        admin, metrics = next(ports), next(ports)
        egress = {u: next(ports) for u in svc.upstreams}
        ingress = app_port = None
        if not svc.is_load:
            ingress, app_port = next(ports), next(ports)
            if entry_port is not None and svc.name == entry and index == 1:
                ingress = entry_port
        replicas.append(LocalReplica(svc, index, app_port,
                                     SidecarPorts(admin, metrics, ingress, egress)))
    return LocalPlan(settings, tuple(replicas), entry)


@contextmanager
def _held(port: int | None) -> Iterator[None]:
    """Hold ``port`` while other ports are chosen, so none of them can be the same one."""
    if port is None:
        yield
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Envoy binds: a port whose old connections linger in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as err:
            raise PortInUse(f"port {port} on {LOOPBACK} is already in use ({err.strerror})") \
                from None
        yield
