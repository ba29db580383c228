"""Plan the local mesh: which replicas run, at which loopback address, with which documents.

On AWS every replica is a host of its own: a task or pod with its own network namespace and
the sidecar contract's fixed ports (15000, 9001.., 9901, 9902, 8125, the app's port). Locally
every replica is a host too: an address of its own on loopback (all of 127.0.0.0/8 reaches
``lo`` on Linux, no privileges needed) with exactly those ports. A run claims a /16 of its
own (``claim_block``), so two runs never share an address.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from components.settings.model import ServiceSpec, Settings
from components.settings.ports import (
    ADMIN_PORT,
    INGRESS_PORT,
    METRICS_PORT,
    OTLP_HTTP_PORT,
    STATSD_PORT,
)
from components.sidecar.bootstrap import dog_statsd_sink, envoy_bootstrap
from components.sidecar.demo_app import demo_app_environment
from meshvis.local.localize import localize
from meshvis.local.traces import with_collector

# A run's block is 127.<block>.0.0/16: 127.<block>.0.1 is the run's own (its DNS server, its
# receivers), replicas count from 127.<block>.1.1. Block 0 (127.0.0.1) stays the
# machine's; a run takes the first free one of the rest.
BLOCKS = range(1, 255)
HOSTS_PER_OCTET = 254
# The lock that claims a block: a Unix socket bound to this name in the abstract namespace
# (unix(7)), one per network namespace as loopback addresses are. Only one socket can hold a
# name; the kernel frees it when the run ends, however it ends. (A TCP port on the block's
# first address, as before, was refused for every block while any program listened on that
# port on all interfaces.)
LOCK_NAME = "\0meshvis-loopback-block-{block}"
# The local DNS server's port on the block's first address (high: no privileges needed).
DNS_PORT = 10053


class NoFreeBlock(RuntimeError):
    """Every loopback block is held by another run."""


@dataclass(frozen=True)
class LocalReplica:
    """One replica of a service: a host at ``address`` with the deployed ports."""

    service: ServiceSpec
    index: int
    address: str

    @property
    def instance(self) -> str:
        """Its name in logs, answers (``From greeter-1: ...``) and Prometheus labels."""
        return f"{self.service.name}-{self.index}"

    @property
    def app_port(self) -> int | None:
        """The app's own port (None for a load generator, which only calls out)."""
        return None if self.service.is_load else self.service.app_port

    def url(self, port: int, path: str = "/") -> str:
        """``http://<address>:<port><path>``."""
        return f"http://{self.address}:{port}{path}"

    def admin_url(self, path: str) -> str:
        """A path of its sidecar's admin interface (on its own loopback, as deployed)."""
        return self.url(ADMIN_PORT, path)

    def egress_url(self, upstream: str) -> str:
        """Its sidecar's egress listener for ``upstream``: what its app calls."""
        return self.url(self.service.egress_port(upstream))

    @property
    def ingress_url(self) -> str | None:
        return None if self.service.is_load else self.url(INGRESS_PORT)


@dataclass(frozen=True)
class LocalPlan:
    """Every replica of the mesh with its address, the entry service and the DNS server."""

    settings: Settings
    replicas: tuple[LocalReplica, ...]
    entry_service: str
    dns_server: tuple[str, int]

    def of(self, service: str) -> list[LocalReplica]:
        return [r for r in self.replicas if r.service.name == service]

    @property
    def entry_urls(self) -> list[str]:
        """Ingress URLs of every entry replica."""
        return [r.ingress_url for r in self.of(self.entry_service) if r.ingress_url]

    def bootstrap(self, replica: LocalReplica) -> dict:
        """The deployed bootstrap of the replica's service, localized to its address.

        It is the stack's own topology's bootstrap, stats matcher included, so a run proves
        that topology's dashboards against what its sidecars really keep. An eks sidecar has
        no DogStatsD sink; here it gets the ECS one (to the task's agent on 8125) all the
        same (a sink changes no stat, it only sends what the matcher kept), so that every run
        can report what its sidecars would send to CloudWatch.
        """
        deployed = envoy_bootstrap(self.settings, replica.service)
        deployed.setdefault("stats_sinks", [dog_statsd_sink(STATSD_PORT)])
        return with_collector(
            localize(deployed, replica.address, self.dns_server), self.trace_collector
        )

    @property
    def trace_collector(self) -> tuple[str, int]:
        """Where every sidecar's tracer sends (the run's own address, OTLP/HTTP's port): the
        one receiver standing for each task's CloudWatch agent, or for Tempo."""
        return self.dns_server[0], OTLP_HTTP_PORT

    def app_environment(self, replica: LocalReplica) -> dict[str, str]:
        """The demo app's environment as deployed, at the replica's address, with its name.

        A service with its own image runs the demo app as a stand-in on its port, so the
        mesh around it (its sidecar, its callers, its metrics) is still the deployed one.
        """
        env = {
            **demo_app_environment(replica.service, replica.address),
            "INSTANCE": replica.instance,
        }
        if "UPSTREAMS" in env:
            # The deployed `name=url` list; only the task's loopback becomes the replica's.
            env["UPSTREAMS"] = env["UPSTREAMS"].replace(
                "http://127.0.0.1:", f"http://{replica.address}:"
            )
        return env

    def scrape_targets(self) -> list[tuple[str, dict[str, str]]]:
        """Every sidecar's metrics listener with its target labels (mesh, service, replica:
        ``up`` carries only target labels, and EKS's scrape job gives it the first two)."""
        mesh = self.settings.mesh_name
        return [
            (
                f"{r.address}:{METRICS_PORT}",
                {"mesh": mesh, "service": r.service.name, "replica": r.instance},
            )
            for r in self.replicas
        ]

    def statsd_addresses(self) -> list[tuple[str, int]]:
        """Where each replica's DogStatsD sink sends: the task's own agent, on its loopback."""
        return [(r.address, STATSD_PORT) for r in self.replicas]


def entry_service(settings: Settings) -> str:
    """The configured entry service, else the first app service that no app calls (load
    generators are clients from outside, like the users behind the ALB)."""
    if settings.entry_service:
        return settings.entry_service
    called = {u for s in settings.app_services for u in s.upstreams}
    apps = settings.app_services
    return next((s.name for s in apps if s.name not in called), apps[0].name)


def block_address(block: int, host: int) -> str:
    """The ``host``-th address (0: the run's own) of loopback block ``block``."""
    if host == 0:
        return f"127.{block}.0.1"
    high, low = divmod(host - 1, HOSTS_PER_OCTET)
    return f"127.{block}.{high + 1}.{low + 1}"


def plan_mesh(settings: Settings, block: int = BLOCKS[0]) -> LocalPlan:
    """Every replica of ``settings`` at its own address of loopback block ``block``."""
    per_replica = [(svc, i) for svc in settings.services for i in range(1, svc.replicas + 1)]
    replicas = tuple(
        LocalReplica(svc, index, block_address(block, n))
        for n, (svc, index) in enumerate(per_replica, start=1)
    )
    return LocalPlan(
        settings, replicas, entry_service(settings), (block_address(block, 0), DNS_PORT)
    )


def claim_block() -> tuple[int, socket.socket]:
    """The first loopback block no other run holds, and the lock that holds it (close it to
    give the block back)."""
    for block in BLOCKS:
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lock.bind(LOCK_NAME.format(block=block))
        except OSError:
            lock.close()
            continue
        return block, lock
    raise NoFreeBlock(
        f"every loopback block 127.{BLOCKS[0]}-{BLOCKS[-1]}.0.0/16 is held by another run"
    )
