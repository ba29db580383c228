"""Rewrite a deployed sidecar bootstrap so that many sidecars share one host (127.0.0.1).

Only addresses and ports change: every listener binds 127.0.0.1 on a port of its own, the
upstream clusters list each replica's ingress port instead of a DNS name, and the DogStatsD
sink points at the local receiver. Routes, retries, timeouts, outlier detection, stats tags
and the stats matcher are left exactly as deployed, which is what makes the local mesh a test
of the real configuration.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from components.sidecar.names import (
    ADMIN_CLUSTER,
    INGRESS_PREFIX,
    LOCAL_APP_CLUSTER,
    METRICS_PREFIX,
    egress_prefix,
)

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class SidecarPorts:
    """The host ports one local sidecar uses in place of the contract's fixed ports."""

    admin: int
    metrics: int
    ingress: int | None = None
    egress: Mapping[str, int] = field(default_factory=dict)

    def listener_port(self, listener: str) -> int:
        if listener == INGRESS_PREFIX and self.ingress is not None:
            return self.ingress
        if listener == METRICS_PREFIX:
            return self.metrics
        for upstream, port in self.egress.items():
            if listener == egress_prefix(upstream):
                return port
        raise KeyError(f"no local port for listener {listener!r}")


def localize(bootstrap: Mapping, ports: SidecarPorts, *, app_port: int | None,
             upstream_endpoints: Mapping[str, Sequence[int]],
             statsd_port: int | None) -> dict:
    """A copy of ``bootstrap`` for one host.

    ``upstream_endpoints`` maps each upstream cluster to the 127.0.0.1 ingress ports of its
    replicas; ``statsd_port`` is the DogStatsD receiver's UDP port (None drops the sink).
    """
    local = copy.deepcopy(dict(bootstrap))
    local["admin"]["address"] = _address(ports.admin)
    resources = local["static_resources"]
    for listener in resources["listeners"]:
        listener["address"] = _address(ports.listener_port(listener["name"]))
    for cluster in resources["clusters"]:
        name = cluster["name"]
        if name == ADMIN_CLUSTER:
            targets = [ports.admin]
        elif name == LOCAL_APP_CLUSTER:
            if app_port is None:
                raise ValueError("the bootstrap has an ingress listener but no app port was given")
            targets = [app_port]
        else:
            targets = list(upstream_endpoints[name])
        cluster["load_assignment"]["endpoints"] = [{"lb_endpoints": [
            {"endpoint": {"address": _address(port)}} for port in targets
        ]}]
    sinks = local.pop("stats_sinks", [])
    if statsd_port is not None and sinks:
        for sink in sinks:
            sink["typed_config"]["address"] = _address(statsd_port, "UDP")
        local["stats_sinks"] = sinks
    return local


def _address(port: int, protocol: str | None = None) -> dict:
    socket: dict = {"address": LOOPBACK, "port_value": port}
    if protocol:
        socket["protocol"] = protocol
    return {"socket_address": socket}
