"""Walks of the service call graph (service -> the services it calls), shared by the rules
that look for call cycles and the rollout order (upstreams first)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

DONE = "done"
CYCLE = "cycle"


def depth_first(calls: Mapping[str, Sequence[str]]) -> Iterator[tuple[str, list[str]]]:
    """Every service of ``calls`` visited depth first, roots in ``calls`` order; yields
    ``(CYCLE, path)`` for a call back into the current path (``path`` starts and ends with the
    called service) and ``(DONE, [service])`` once everything a service calls was visited.

    Iterative: a chain of a thousand services is as fine as a short one.
    """
    done: set[str] = set()
    for root in calls:
        if root in done:
            continue
        # The path from root, each service with an iterator over what it calls.
        path = [root]
        on_path = {root}
        pending = [iter(calls.get(root, ()))]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                done.add(path[-1])
                yield DONE, [path[-1]]
                on_path.discard(path.pop())
                pending.pop()
            elif nxt in on_path:
                yield CYCLE, [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                pending.append(iter(calls.get(nxt, ())))
