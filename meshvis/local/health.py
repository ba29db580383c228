"""Per-service health, pinned on the service that fails (pure; docs/health.md).

Each app service is ``ok``, ``degraded`` or ``down``, with the reasons, from what was measured
over one window: its ingress 5xx share and p99 against the stack's alarm thresholds
(``errorRateAlarmPercent``, ``latencyAlarmMs``), how many of its sidecars answer their
Prometheus scrape against its configured replicas, and every caller -> upstream edge as the
caller's sidecar sees it (its egress cluster's 5xx share and p99).

Attribution: a service that answers badly while one of its upstreams fails is ``degraded`` and
names that edge (and the service at the end of the failing chain) as the cause; the service
its callers get failures from carries the blame, even when it has no figures of its own (a
frozen service answers neither requests nor scrapes).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.model import Settings

OK, DEGRADED, DOWN = "ok", "degraded", "down"
_RANK = {OK: 0, DEGRADED: 1, DOWN: 2}
# A share this close to 1 means every request of the window failed (the 5xx and total rates
# are separate series; their extrapolation may differ in the last digits).
ALL = 0.999

Edge = tuple[str, str]


@dataclass(frozen=True)
class Observed:
    """One app service over a window; None where there were no samples."""

    error_ratio: float | None = None  # share (0..1) of what its ingress answered that was 5xx
    p99_ms: float | None = None  # its ingress p99
    sidecars_up: int | None = None  # its sidecars that answered their last scrape


def _pct(ratio: float) -> str:
    percent = ratio * 100
    return f"{percent:.0f} %" if percent >= 1 else f"{percent:.2g} %"


def worst(states: list[str]) -> str:
    """The most severe of ``states`` (``ok`` for none)."""
    return max(states, key=_RANK.__getitem__, default=OK)


def assess(settings: Settings, observed: dict[str, Observed], edges: list[dict]) -> dict[str, dict]:
    """service -> ``{"state", "reasons", "culprit_edges"}`` for every app service.

    ``edges``: the service map's edges (``source``, ``target``, ``error_ratio`` 0..1,
    ``p99_ms``; None for no calls in the window). ``culprit_edges`` are the failing edges a
    degraded caller blames, followed down to the service that fails.
    """
    judge = _Judge(settings, observed, edges)
    for name in judge.apps:
        judge.verdict(name, frozenset())
    return {name: judge.results[name] for name in judge.apps}


class _Judge:
    """The verdicts of one window; each service is judged once, an upstream before the caller
    that blames it."""

    def __init__(
        self, settings: Settings, observed: dict[str, Observed], edges: list[dict]
    ) -> None:
        self.settings = settings
        self.observed = observed
        self.edges = edges
        self.error_limit = settings.error_rate_alarm_percent / 100
        self.latency_limit = settings.latency_alarm_ms
        self.apps = [s.name for s in settings.app_services]
        self.results: dict[str, dict] = {}

    def failing(self, edge: dict) -> bool:
        return edge.get("error_ratio") is not None and edge["error_ratio"] >= self.error_limit

    def slow(self, edge: dict) -> bool:
        return edge.get("p99_ms") is not None and edge["p99_ms"] >= self.latency_limit

    def verdict(self, name: str, visiting: frozenset[str]) -> dict:
        """``name``'s verdict: its scrapes, then the upstreams it blames or else its own
        figures and what its callers see of it."""
        if name in self.results:
            return self.results[name]
        seen = self.observed.get(name, Observed())
        states, reasons = _scrape_findings(seen, self.settings.service(name).replicas)
        culprits: list[Edge] = []
        edges = self.edges
        calls_in = [e for e in edges if e["target"] == name and e.get("error_ratio") is not None]
        failed_in = [e for e in calls_in if self.failing(e)]
        own_errors = seen.error_ratio is not None and seen.error_ratio >= self.error_limit
        own_slow = seen.p99_ms is not None and seen.p99_ms >= self.latency_limit
        out = [e for e in edges if e["source"] == name and e["target"] in self.apps]
        # An upstream that is down fails its callers' calls without an answer of its own: once
        # the callers' outlier detection ejects it, their Envoys answer 503 locally (no
        # healthy upstream), which no edge's 5xx share counts.
        blamed = (
            [e for e in out if self.failing(e) or self._down(e["target"], visiting | {name})]
            if own_errors or failed_in
            else []
        )
        if own_slow and not blamed:
            blamed = [e for e in out if self.slow(e)]
        for edge in blamed:
            reasons.append(self._blame(name, edge, visiting, culprits))
            states.append(DEGRADED)
        if not blamed:
            own_states, own_reasons = self._own_findings(name, seen, calls_in, failed_in)
            states += own_states
            reasons += own_reasons
        self.results[name] = {"state": worst(states), "reasons": reasons, "culprit_edges": culprits}
        return self.results[name]

    def _down(self, upstream: str, visiting: frozenset[str]) -> bool:
        """Whether ``upstream`` is judged down (never through a cycle)."""
        return upstream not in visiting and self.verdict(upstream, visiting)["state"] == DOWN

    def _blame(self, name: str, edge: dict, visiting: frozenset[str], culprits: list[Edge]) -> str:
        """The reason ``name`` blames ``edge``'s upstream; adds the edge and those the upstream
        blames in turn to ``culprits``."""
        upstream = edge["target"]
        # A cycle cannot be configured; the guard only keeps a bad input from recursing.
        behind = {} if upstream in visiting else self.verdict(upstream, visiting | {name})
        culprits.append((name, upstream))
        culprits += [c for c in behind.get("culprit_edges", []) if c not in culprits]
        roots = sorted({b for _, b in behind.get("culprit_edges", [])} - {name})
        roots = [r for r in roots if not self.results.get(r, {}).get("culprit_edges")]
        if self.failing(edge):
            how, what = "failing", f"{_pct(edge['error_ratio'])} 5xx"
        elif behind.get("state") == DOWN:
            how, what = "down", "no answer"
        else:
            how, what = "slow", f"p99 {edge['p99_ms']:.0f} ms (alarm at {self.latency_limit} ms)"
        cause = f" (caused by {', '.join(roots)})" if roots else ""
        return f"upstream {upstream} {how}: {what} on {name} -> {upstream}{cause}"

    def _own_findings(
        self, name: str, seen: Observed, calls_in: list[dict], failed_in: list[dict]
    ) -> tuple[list[str], list[str]]:
        """States and reasons from ``name``'s own figures, else from what its callers get."""
        states: list[str] = []
        reasons: list[str] = []
        if seen.error_ratio is not None and seen.error_ratio >= self.error_limit:
            states.append(DOWN if seen.error_ratio >= ALL else DEGRADED)
            reasons.append(
                f"answers {_pct(seen.error_ratio)} 5xx "
                f"(alarm at {self.settings.error_rate_alarm_percent:g} %)"
            )
        elif failed_in:
            # Its own sidecar does not show it (no answers counted, or it does not
            # answer at all): the callers' sidecars do.
            every = all(e["error_ratio"] >= ALL for e in calls_in)
            states.append(DOWN if every and seen.error_ratio is None else DEGRADED)
            reasons += [
                f"{e['source']} gets {_pct(e['error_ratio'])} 5xx from it ({e['source']} -> {name})"
                for e in failed_in
            ]
        if seen.p99_ms is not None and seen.p99_ms >= self.latency_limit:
            states.append(DEGRADED)
            reasons.append(f"p99 {seen.p99_ms:.0f} ms (alarm at {self.latency_limit} ms)")
        return states, reasons


def _scrape_findings(seen: Observed, replicas: int) -> tuple[list[str], list[str]]:
    """States and reasons from how many of a service's sidecars answer their scrape."""
    if not seen.sidecars_up:
        return [DOWN], [
            "Prometheus has no scrape of its sidecars"
            if seen.sidecars_up is None
            else f"no sidecar answers its scrape (0 of {replicas} up)"
        ]
    if seen.sidecars_up < replicas:
        return [DEGRADED], [f"{seen.sidecars_up} of {replicas} sidecars answer their scrape"]
    return [], []


def causes(health: dict[str, dict]) -> set[str]:
    """The services at the end of some caller's failing chain: blamed, blaming no one."""
    return {
        upstream
        for verdict in health.values()
        for _, upstream in verdict["culprit_edges"]
        if not health.get(upstream, {}).get("culprit_edges")
    }


def observed_live(values: dict[str, dict[str, float]]) -> dict[str, Observed]:
    """The live view's values (``success_pct``, ``p99_ms``, ``sidecars_up``) as observations."""
    return {
        name: Observed(
            error_ratio=None if "success_pct" not in row else 1 - row["success_pct"] / 100,
            p99_ms=row.get("p99_ms"),
            sidecars_up=None if "sidecars_up" not in row else round(row["sidecars_up"]),
        )
        for name, row in values.items()
    }


def observed_run(services: dict[str, dict]) -> dict[str, Observed]:
    """The run summary's ``services`` rows (``success_rate``, ``p99_ms``, ``sidecars_up``)."""
    return {
        name: Observed(
            error_ratio=None if row["success_rate"] is None else 1 - row["success_rate"],
            p99_ms=row["p99_ms"],
            sidecars_up=row.get("sidecars_up"),
        )
        for name, row in services.items()
    }
