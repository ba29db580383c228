"""Rewrite a deployed sidecar bootstrap for one replica of the local mesh.

On AWS every task or pod has its own network namespace: its loopback (127.0.0.1) and "all
interfaces" (0.0.0.0) are its own. Locally every replica gets its own loopback address
(127.x.y.z; all of 127.0.0.0/8 reaches ``lo`` on Linux) instead, so only those two addresses
change: ports, DNS names, routes, retries, timeouts, outlier detection, stats tags and the
stats matcher stay exactly as deployed. The one addition is Envoy's DNS resolver, pointed at
the local DNS server, which answers the deployed names (meshvis/local/dns.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

# The addresses that mean "this task or pod" in a deployed bootstrap.
TASK_ADDRESSES = ("127.0.0.1", "0.0.0.0")
CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"
RESOLVER_KEY = "typed_dns_resolver_config"


def localize(bootstrap: Mapping, address: str, resolver: tuple[str, int]) -> dict:
    """A copy of ``bootstrap`` for the replica at ``address`` whose DNS server is ``resolver``
    (host, port): every socket address on the task's loopback or on all interfaces moves to
    ``address``; everything else is left as deployed."""
    local = copy.deepcopy(dict(bootstrap))
    _readdress(local, address)
    local[RESOLVER_KEY] = dns_resolver(*resolver)
    return local


def dns_resolver(host: str, port: int) -> dict:
    """Envoy's c-ares resolver asking only ``host:port``: never the machine's own resolvers,
    and no search domains (the deployed names are fully qualified)."""
    return {
        "name": "envoy.network.dns_resolver.cares",
        "typed_config": {
            "@type": CARES,
            "resolvers": [{"socket_address": {"address": host, "port_value": port}}],
            "use_resolvers_as_fallback": False,
            "dns_resolver_options": {"no_default_search_domain": True},
        },
    }


def _readdress(node: object, address: str) -> None:
    """Move, in place, every task-local socket address under ``node`` to ``address``."""
    if isinstance(node, dict):
        if node.get("address") in TASK_ADDRESSES and "port_value" in node:
            node["address"] = address
        for value in node.values():
            _readdress(value, address)
    elif isinstance(node, list):
        for value in node:
            _readdress(value, address)
