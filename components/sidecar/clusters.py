"""The small pieces every generated Envoy cluster is made of: an address, a cluster's endpoint
list, and a static cluster at one host and port (the sidecar's own app and admin, the trace
collector and sampler; the benches' upstreams)."""

from __future__ import annotations

CONNECT_TIMEOUT = "1s"


def address(host: str, port: int, protocol: str = "TCP") -> dict:
    """An Envoy ``Address`` (``protocol`` written only when it is not Envoy's default, TCP)."""
    socket = {"address": host, "port_value": port}
    if protocol != "TCP":
        socket["protocol"] = protocol
    return {"socket_address": socket}


def endpoints(cluster: str, hosts: list[tuple[str, int]]) -> dict:
    """A cluster's ``load_assignment``: one locality holding every ``(host, port)``."""
    return {
        "cluster_name": cluster,
        "endpoints": [
            {
                "lb_endpoints": [
                    {"endpoint": {"address": address(host, port)}} for host, port in hosts
                ]
            }
        ],
    }


def static_cluster(name: str, host: str, port: int) -> dict:
    """A STATIC cluster of one endpoint."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": CONNECT_TIMEOUT,
        "load_assignment": endpoints(name, [(host, port)]),
    }
