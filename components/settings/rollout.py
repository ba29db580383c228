"""The order in which a change rolls through the mesh: upstreams before their callers.

A caller's new tasks or pods call its upstreams at once, so an upstream that is new or changed
must be up before its callers roll; the topologies make each service's workload depend on its
upstreams' workloads in this order.
"""

from __future__ import annotations

from components.settings.graph import DONE, depth_first
from components.settings.model import ServiceSpec, Settings


def upstreams_first(settings: Settings) -> list[tuple[ServiceSpec, tuple[str, ...]]]:
    """Every service with the upstreams it waits for, each service after those upstreams.

    A call cycle (allowed only between custom images) cannot be ordered: the upstream that
    closes it is not waited for. Otherwise the order follows ``services``.
    """
    by_name = {s.name: s for s in settings.services}
    placed: dict[str, tuple[str, ...]] = {}
    calls = {s.name: s.upstreams for s in settings.services}
    for event, [name, *_] in depth_first(calls):
        if event == DONE:
            # An upstream still on the path closes a cycle and is not waited for.
            placed[name] = tuple(u for u in by_name[name].upstreams if u in placed)
    return [(by_name[name], waits) for name, waits in placed.items()]
