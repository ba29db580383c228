"""The local mesh's DNS: the deployed service names, answered as production answers them.

A real DNS server (Debian's ``dnsmasq``, unprivileged, on a high port of the run's own
loopback address) answers every app service's deployed name (``Settings.upstream_host``):

- ecs: Cloud Map MULTIVALUE A records, one per healthy task, at most 8 (the first 8 here;
  Route 53 picks 8 of them per answer), with the deployed TTL (components/ecs/discovery.py);
- eks: the headless Service's name, one A record per ready pod, with CoreDNS's TTL.

Envoy's STRICT_DNS clusters resolve these names for real (the localized bootstraps point
Envoy's resolver here). ``HealthWatch`` plays Cloud Map's health status or the endpoints
controller: it checks every replica at exactly the endpoints the deployed health checks
(ecs: every container's ``healthCheck`` in the task definition) or readiness probes (eks)
ask for, at their interval, and takes a replica out of DNS after as many consecutive failures
as they allow (back in after one success); dnsmasq rereads its hosts file on SIGHUP.
"""

from __future__ import annotations

import getpass
import grp
import os
import random
import signal
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from components.ecs.containers import ENVOY, container_definitions, health_probes
from components.ecs.discovery import DNS_TTL, MAX_ANSWERS
from components.eks.objects import deployment
from components.settings.model import ServiceSpec, Settings
from components.sidecar.demo_app import demo_app_source
from meshvis.local.plan import LocalPlan, LocalReplica
from meshvis.local.processes import Child, ProcessGroup

DNSMASQ = Path("/usr/sbin/dnsmasq")
# The kubernetes plugin's default answer TTL ("The default (and allowed minimum) is to use 5
# seconds"; coredns/coredns plugin/kubernetes/README.md @12cdb0c8e144); EKS's Corefile
# leaves it so.
COREDNS_TTL = 5


@dataclass(frozen=True)
class DiscoveryRules:
    """How the topology's DNS follows replicas: its answers' TTL and size, and the health
    checks (interval, timeout, consecutive failures) after which a replica leaves DNS."""

    ttl: int
    max_answers: int | None
    interval: float
    timeout: float
    failures: int


def discovery_rules(settings: Settings) -> DiscoveryRules:
    """The rules read from the documents the stack deploys.

    ecs: the Envoy container's health check; the task leaves Cloud Map when it fails (ECS
    replaces the task, and an essential app that exits stops it). eks: the pod's readiness
    probes (the sidecar's and the app's); a pod leaves the Service's endpoints when one fails.
    """
    service = settings.app_services[0]
    if settings.topology == "ecs":
        check = next(c for c in container_definitions(settings, service) if c["name"] == ENVOY)[
            "healthCheck"
        ]
        return DiscoveryRules(
            DNS_TTL, MAX_ANSWERS, check["interval"], check["timeout"], check["retries"]
        )
    pod = _pod_spec(settings, service)
    probes = [
        c["readinessProbe"]
        for c in [*pod.get("initContainers", []), *pod["containers"]]
        if "readinessProbe" in c
    ]
    return DiscoveryRules(
        COREDNS_TTL,
        None,
        max(p["periodSeconds"] for p in probes),
        max(p["timeoutSeconds"] for p in probes),
        max(p["failureThreshold"] for p in probes),
    )


def _pod_spec(settings: Settings, service: ServiceSpec) -> dict:
    return deployment(settings, service, demo_app_source())["spec"]["template"]["spec"]


def health_endpoints(settings: Settings, service: ServiceSpec) -> tuple[tuple[int, str], ...]:
    """(port, path) of every check that decides whether a replica of ``service`` is in DNS:
    ecs, the health checks of its task definition's containers (any essential container
    UNHEALTHY makes the task UNHEALTHY, and ECS reports that to Cloud Map); eks, the readiness
    probes of its pod's containers (one failing takes the pod out of the Service)."""
    if settings.topology == "ecs":
        return tuple((probe.port, probe.path) for probe in health_probes(service))
    pod = _pod_spec(settings, service)
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
    return tuple(
        (ports.get(get["port"], get["port"]), get["path"])
        for c in containers
        if (get := c.get("readinessProbe", {}).get("httpGet"))
    )


def dns_name(settings: Settings, service: str) -> str:
    """The deployed name of ``service`` (absolute; a hosts file has no trailing dot)."""
    return settings.upstream_host(service).rstrip(".")


def answers(plan: LocalPlan, rules: DiscoveryRules, healthy: Iterable[str]) -> dict[str, list[str]]:
    """Each app service's DNS name -> the addresses it answers: its healthy replicas (by
    instance name), at most ``rules.max_answers``."""
    up = set(healthy)
    found = {}
    for service in plan.settings.app_services:
        addresses = [r.address for r in plan.of(service.name) if r.instance in up]
        found[dns_name(plan.settings, service.name)] = addresses[: rules.max_answers]
    return found


def hosts_file(records: dict[str, list[str]]) -> str:
    """``records`` in /etc/hosts form (dnsmasq's ``--addn-hosts``)."""
    return "".join(
        f"{address} {name}\n" for name, addresses in records.items() for address in addresses
    )


def dnsmasq_command(
    server: tuple[str, int], hosts: Path, ttl: int, zones: Iterable[str]
) -> list[str]:
    """dnsmasq answering only from ``hosts`` on ``server`` (host, port), nothing else.

    No upstream servers, no /etc/hosts, no config file, no pid file; in the foreground,
    logging to stderr. Names under ``zones`` that are not in ``hosts`` get NXDOMAIN, as from
    the real zone. It runs as the current user: as root it would otherwise switch to its
    own user, which cannot read a run folder that only its owner may read.
    """
    host, port = server
    return [
        str(DNSMASQ),
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        f"--port={port}",
        f"--listen-address={host}",
        "--bind-interfaces",
        f"--addn-hosts={hosts}",
        f"--local-ttl={ttl}",
        "--pid-file",
        "--log-facility=-",
        f"--user={getpass.getuser()}",
        f"--group={grp.getgrgid(os.getgid()).gr_name}",
        *(f"--local=/{zone}/" for zone in sorted(set(zones))),
    ]


class LocalDns:
    """The run's DNS server: ``start`` it in a process group, ``publish`` who is healthy."""

    def __init__(self, plan: LocalPlan, run_dir: Path) -> None:
        self.plan = plan
        self.rules = discovery_rules(plan.settings)
        # Absolute: dnsmasq changes its working directory.
        self.hosts = (run_dir / "dns-hosts").absolute()
        self.child: Child | None = None
        self.healthy = {r.instance for r in plan.replicas if not r.service.is_load}
        # (seconds since start, instance, "removed" | "added"): what DNS did during the run.
        self.events: list[tuple[float, str, str]] = []
        # Seconds since start at which the server did not answer a check (``answering``).
        self.unanswered: list[float] = []
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def records(self) -> dict[str, list[str]]:
        """What the server answers now: name -> addresses."""
        with self._lock:
            return answers(self.plan, self.rules, self.healthy)

    def start(self, group: ProcessGroup, log_path: Path, timeout: float) -> None:
        """Start dnsmasq with every app replica published; return once it answers with them."""
        self.hosts.parent.mkdir(parents=True, exist_ok=True)
        self.hosts.write_text(hosts_file(self.records()))
        zones = [name.split(".", 1)[1] for name in self.records()]
        self.child = group.start(
            "dns",
            dnsmasq_command(self.plan.dns_server, self.hosts, self.rules.ttl, zones),
            log_path,
        )
        name = next(iter(self.records()))
        deadline = time.monotonic() + timeout
        while True:
            group.check_alive()
            try:
                if query_a(name, self.plan.dns_server, timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the DNS server on {self.plan.dns_server[0]}:"
                    f"{self.plan.dns_server[1]} did not answer {name} within "
                    f"{timeout:.0f}s"
                )
            time.sleep(0.05)

    def answering(self, timeout: float = 1.0) -> bool:
        """Whether the server answers a query for the first name now; a silence (a stopped
        or hung dnsmasq: its process still exists) is recorded in ``unanswered``."""
        name = next(iter(self.records()))
        try:
            query_a(name, self.plan.dns_server, timeout=timeout)
            return True
        except OSError:
            self.unanswered.append(round(time.monotonic() - self._started, 1))
            return False

    def publish(self, instance: str, healthy: bool) -> None:
        """Add ``instance`` to DNS or take it out; dnsmasq rereads the file on SIGHUP."""
        with self._lock:
            if (instance in self.healthy) == healthy:
                return
            (self.healthy.add if healthy else self.healthy.discard)(instance)
            self.events.append(
                (
                    round(time.monotonic() - self._started, 1),
                    instance,
                    "added" if healthy else "removed",
                )
            )
            records = answers(self.plan, self.rules, self.healthy)
            # Written whole, then renamed: dnsmasq never reads half a file.
            partial = self.hosts.with_suffix(".new")
            partial.write_text(hosts_file(records))
            partial.replace(self.hosts)
            if self.child is not None and self.child.alive():
                os.kill(self.child.pid, signal.SIGHUP)


def replica_healthy(replica: LocalReplica, timeout: float, settings: Settings) -> bool:
    """What the deployed checks see: every endpoint of ``health_endpoints`` answers 200."""
    urls = [replica.url(port, path) for port, path in health_endpoints(settings, replica.service)]
    try:
        for url in urls:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                if response.status != 200:
                    return False
    except OSError:
        return False
    return True


class HealthWatch:
    """Checks every app replica at the rules' interval and publishes changes to ``dns``
    (a background thread; ``stop`` ends it)."""

    def __init__(
        self, dns: LocalDns, check: Callable[[LocalReplica, float], bool] | None = None
    ) -> None:
        self.dns = dns
        settings = dns.plan.settings
        self.check = check or (lambda replica, timeout: replica_healthy(replica, timeout, settings))
        self.replicas = [r for r in dns.plan.replicas if not r.service.is_load]
        self.failures = {r.instance: 0 for r in self.replicas}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dns-health", daemon=True)

    def start(self) -> HealthWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def check_all(self, pool: ThreadPoolExecutor) -> None:
        """One round of checks, and what it changes in DNS."""
        rules = self.dns.rules
        results = pool.map(lambda r: self.check(r, rules.timeout), self.replicas)
        for replica, ok in zip(self.replicas, results, strict=True):
            self.failures[replica.instance] = 0 if ok else self.failures[replica.instance] + 1
            if ok:
                self.dns.publish(replica.instance, True)
            elif self.failures[replica.instance] >= rules.failures:
                self.dns.publish(replica.instance, False)

    def _run(self) -> None:
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="dns-check") as pool:
            while not self._stop.wait(self.dns.rules.interval):
                self.check_all(pool)


def query_a(name: str, server: tuple[str, int], timeout: float = 2.0) -> list[str]:
    """The A records ``server`` answers for ``name`` (one UDP query; raises OSError on no
    answer, and for an error code other than NXDOMAIN, which is an empty list)."""
    ident = random.randrange(1 << 16)
    question = (
        b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
        + b"\0"
    )
    query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, server)
        reply = sock.recv(4096)
    got, flags, _, count = struct.unpack(">HHHH", reply[:8])
    code = flags & 0xF
    if got != ident or code not in (0, 3):
        raise OSError(f"DNS answer {code} for {name}")
    offset = 12 + len(question) + 4
    addresses = []
    for _ in range(count):
        offset = _skip_name(reply, offset)
        kind, _, _, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if kind == 1:
            addresses.append(socket.inet_ntoa(reply[offset : offset + length]))
        offset += length
    return addresses


def _skip_name(message: bytes, offset: int) -> int:
    while message[offset]:
        if message[offset] >= 0xC0:  # a compression pointer ends the name
            return offset + 2
        offset += message[offset] + 1
    return offset + 1
