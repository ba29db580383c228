"""The order in which a change rolls through the mesh: upstreams before their callers.

A caller's new tasks or pods call its upstreams at once, so an upstream that is new or changed
must be up before its callers roll; the topologies make each service's workload depend on its
upstreams' workloads in this order.
"""

from __future__ import annotations

from components.settings.model import ServiceSpec, Settings


def upstreams_first(settings: Settings) -> list[tuple[ServiceSpec, tuple[str, ...]]]:
    """Every service with the upstreams it waits for, each service after those upstreams.

    A call cycle (allowed only between custom images) cannot be ordered: the upstream that
    closes it is not waited for. Otherwise the order follows ``services``.
    """
    by_name = {s.name: s for s in settings.services}
    placed: dict[str, tuple[str, ...]] = {}
    visiting: set[str] = set()

    def place(name: str) -> None:
        # Iterative depth-first search: a long chain of services is no deeper than a short one.
        stack = [(name, iter(by_name[name].upstreams))]
        visiting.add(name)
        while stack:
            current, pending = stack[-1]
            upstream = next(pending, None)
            if upstream is None:
                stack.pop()
                visiting.discard(current)
                placed[current] = tuple(u for u in by_name[current].upstreams if u in placed)
            elif upstream not in placed and upstream not in visiting:
                visiting.add(upstream)
                stack.append((upstream, iter(by_name[upstream].upstreams)))

    for service in settings.services:
        if service.name not in placed:
            place(service.name)
    return [(by_name[name], waits) for name, waits in placed.items()]
