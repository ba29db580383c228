"""``meshvis dns``: what the running local mesh's DNS server answers, as the sidecars ask it.

The run publishes its DNS server (dnsmasq on the run's own loopback block, a high port) and
its sidecars' addresses in its run folder (``publish_sidecars``); this asks that server for A
records with one UDP query per name (``dns.query_a``, the query the runner's own checks send),
so nobody needs ``dig``.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from components.settings.model import Settings
from meshvis.local.dns import dns_name, query_a
from meshvis.local.faults import FaultError, published_run


def lookup_names(settings: Settings, names: list[str]) -> list[str]:
    """The DNS names to ask for: a service's name becomes its deployed name (as the sidecars'
    clusters resolve it); any other name is asked as given. No names: every app service."""
    services = {s.name for s in settings.app_services}
    return [
        dns_name(settings, name) if name in services else name.rstrip(".")
        for name in (names or sorted(services))
    ]


def answer_line(name: str, addresses: list[str], instances: dict[str, str]) -> str:
    """One line: the name and every address it answers, with the replica at that address."""
    if not addresses:
        return f"{name}: no address (NXDOMAIN or no healthy replica)"
    found = ", ".join(
        f"{a} ({instances[a]})" if a in instances else a
        for a in sorted(addresses, key=socket.inet_aton)
    )
    return f"{name}: {found}"


def dns_command(run_dir: Path, settings: Settings, names: list[str]) -> int:
    """Print what the DNS server of the run holding ``run_dir`` answers for each of ``names``
    (see ``lookup_names``), one line each. Returns 0, or 1 with one line on stderr when no run
    is there or its DNS server does not answer."""
    try:
        published = published_run(run_dir)
    except FaultError as err:
        print(f"error: {err} (start one with `meshvis run`)", file=sys.stderr)
        return 1
    if "dns" not in published:
        print(f"error: the run in {run_dir} did not publish its DNS server", file=sys.stderr)
        return 1
    server = (published["dns"][0], int(published["dns"][1]))
    instances = {s["admin"][0]: s["instance"] for s in published["sidecars"]}
    print(f"DNS server {server[0]}:{server[1]} (the run in {run_dir})")
    for name in lookup_names(settings, names):
        try:
            addresses = query_a(name, server)
        except OSError as err:
            known = ", ".join(lookup_names(settings, []))
            print(
                f"error: {server[0]}:{server[1]} did not answer for {name} ({err}); it answers "
                f"the mesh's names only: {known}",
                file=sys.stderr,
            )
            return 1
        print(answer_line(name, addresses, instances))
    return 0
