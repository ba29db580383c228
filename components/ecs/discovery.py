"""Cloud Map discovery as the ECS services deploy it: one private DNS record per healthy task.

Pure data, so that the local mesh's DNS server (meshvis/local/dns.py) answers with the TTL and
the answer limit that the deployed records have.
"""

from __future__ import annotations

# Cloud Map answers with every healthy task's address; a short TTL lets Envoy's STRICT_DNS
# clusters follow tasks that come and go within seconds.
DNS_TTL = 10
ROUTING_POLICY = "MULTIVALUE"
# MULTIVALUE: "Route 53 responds to DNS queries with IP addresses for up to eight healthy
# instances" (docs.aws.amazon.com/cloud-map/latest/api/API_DnsConfig.html).
MAX_ANSWERS = 8


def dns_config(namespace_id: object) -> dict:
    """The Cloud Map service's ``dns_config``: MULTIVALUE A records with ``DNS_TTL``."""
    return {
        "namespace_id": namespace_id,
        "routing_policy": ROUTING_POLICY,
        "dns_records": [{"type": "A", "ttl": DNS_TTL}],
    }
