"""What each caller's Envoy resolved for its upstreams, next to the replicas configured.

Every sidecar with upstreams is asked ``GET /clusters`` on its admin port; its lines
``<cluster>::<ip>:<port>::<stat>::<value>`` list the hosts its STRICT_DNS cluster resolved.
Configured is what the DNS answers when every replica is healthy (on ECS at most 8 of them:
Cloud Map MULTIVALUE). A caller whose hosts differ is a mismatch: during a fault, until DNS
catches up; after it, a defect.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.request
from collections.abc import Callable

from components.settings.ports import INGRESS_PORT
from meshvis.local.dns import DiscoveryRules
from meshvis.local.plan import LocalPlan

HOST_LINE = re.compile(r"^([A-Za-z0-9_.-]+)::(\d+\.\d+\.\d+\.\d+:\d+)::")


def resolved_hosts(clusters: str) -> dict[str, list[str]]:
    """cluster -> its hosts (``ip:port``, in address order), from ``/clusters`` text."""
    found: dict[str, set[str]] = {}
    for line in clusters.splitlines():
        match = HOST_LINE.match(line)
        if match:
            found.setdefault(match.group(1), set()).add(match.group(2))
    return {cluster: _ordered(hosts) for cluster, hosts in found.items()}


def _ordered(hosts: set[str] | list[str]) -> list[str]:
    return sorted(hosts, key=lambda h: (ipaddress.ip_address(h.split(":")[0]), h))


def _admin_clusters(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.read().decode()


def discovery_report(
    plan: LocalPlan, rules: DiscoveryRules, read: Callable[[str], str] = _admin_clusters
) -> dict:
    """``upstreams``: per upstream the hosts ``configured`` and, per caller replica, the hosts
    it ``resolved`` (None: its admin interface did not answer); ``mismatches``: one line each.
    """
    upstreams: dict[str, dict] = {}
    mismatches = []
    for caller in plan.replicas:
        if not caller.service.upstreams:
            continue
        try:
            resolved = resolved_hosts(read(caller.admin_url("/clusters")))
        except OSError:
            resolved = None
        for upstream in caller.service.upstreams:
            entry = upstreams.setdefault(
                upstream,
                {
                    "configured": _ordered(
                        [f"{r.address}:{INGRESS_PORT}" for r in plan.of(upstream)]
                    )[: rules.max_answers],
                    "resolved": {},
                },
            )
            hosts = None if resolved is None else resolved.get(upstream, [])
            entry["resolved"][caller.instance] = hosts
            if hosts is None:
                mismatches.append(
                    f"{caller.instance} -> {upstream}: its admin interface did not answer"
                )
            elif hosts != entry["configured"]:
                mismatches.append(
                    f"{caller.instance} -> {upstream}: resolved "
                    f"{', '.join(hosts) or 'nothing'}; configured "
                    f"{', '.join(entry['configured'])}"
                )
    return {"upstreams": upstreams, "mismatches": mismatches}


def discovery_lines(report: dict) -> list[str]:
    """The report in a few lines: all good in one, else one per mismatch."""
    pairs = sum(len(u["resolved"]) for u in report["upstreams"].values())
    if not report["mismatches"]:
        return [
            f"DNS discovery: every caller resolved exactly the configured replicas "
            f"({pairs} caller -> upstream pairs, {len(report['upstreams'])} upstreams)"
        ]
    return [
        f"DNS discovery: {len(report['mismatches'])} of {pairs} caller -> upstream pairs "
        "differ from the configured replicas:",
        *(f"  {line}" for line in report["mismatches"]),
    ]
