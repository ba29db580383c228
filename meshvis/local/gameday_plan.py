"""A game day's scenarios and what each must show, written down before anything runs (pure).

Each scenario names the service at fault (its culprit), the alerts and alarms that must fire
for it, and those that must stay quiet, from the stack's own generated Prometheus rules and
CloudWatch alarms (an expectation never names an alert the stack does not have:
tests/unit/meshvis/test_gameday_plan.py). An alert is pinned on a service by its labels: an
edge alert (a caller's view of an upstream cluster, ``envoy_cluster_name``) on the upstream,
any other on its ``service``; an alarm by its ``service`` tag.

Paging: a Prometheus alert of severity ``critical`` or ``page`` pages, as does every CloudWatch
alarm but a ``ticket`` one. A game day's time scale divides every window, ``for`` and period
by N (``scale_rules``, alarm_eval.scaled): the logic stays the same, minutes become seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from components.settings.model import FaultSpec, Settings
from dashboards.prometheus import rules as prometheus_rules

PROMETHEUS = "prometheus"
CLOUDWATCH = "cloudwatch"
SOURCES = (PROMETHEUS, CLOUDWATCH)
# In an expectation's ``alert``: any one of these names.
ANY_OF = "|"
PAGING_SEVERITIES = ("critical", "page")
TICKET = "ticket"
# The injected faults: the 10 % of 503s, and half the requests held well past the
# latency threshold (twice it; below the callers' 3 s per-try timeout at the default 1 s).
ERROR_PERCENT = 10.0
ERROR_STATUS = 503
DELAY_PERCENT = 50.0


@dataclass(frozen=True)
class Alert:
    """One alert or alarm the stack defines: where it comes from, its name, its severity, and
    whether it is pinned on the upstream of an edge (``envoy_cluster_name``)."""

    source: str
    name: str
    severity: str
    edge: bool = False
    # The one service it watches, if it names one (an alarm's ``service`` tag, a rule's
    # ``service`` label, as the SLO rules have); None: any service its series carry.
    service: str | None = None
    # The SLO it guards (an SLO alert's ``slo`` label: availability, latency), if any.
    slo: str | None = None
    # False for an alert about no service in particular (Prometheus' ``absent()``).
    per_service: bool = True

    @property
    def pages(self) -> bool:
        if self.source == CLOUDWATCH:
            return self.severity != TICKET
        return self.severity in PAGING_SEVERITIES


@dataclass(frozen=True)
class Scenario:
    """One fault: what is done (``kind`` on ``culprit``), then what must and must not fire."""

    name: str
    kind: str
    culprit: str
    description: str
    expected_fire: tuple[dict, ...]
    expected_quiet: tuple[dict, ...]
    fault: dict = field(default_factory=dict)


def expectation(source: str, alert: str, service: str, slo: str | None = None) -> dict:
    """One alert that must fire, or stay quiet, for ``service`` (an SLO alert: for ``slo``)."""
    return {"source": source, "alert": alert, "service": service, **({"slo": slo} if slo else {})}


def matches(event: Mapping, wanted: Mapping) -> bool:
    """Whether an observed alert is the expected one (same source, name, service and, for an
    SLO alert, SLO)."""
    return all(
        event.get(key) in value.split(ANY_OF) if key == "alert" else event.get(key) == value
        for key, value in wanted.items()
    )


def prometheus_alerts(rules: Mapping) -> list[Alert]:
    """Every alerting rule of a rule file document."""
    return [
        Alert(
            PROMETHEUS,
            rule["alert"],
            rule.get("labels", {}).get("severity", ""),
            edge=_by_cluster(rule["expr"]),
            service=rule.get("labels", {}).get("service"),
            slo=rule.get("labels", {}).get("slo"),
            per_service="absent(" not in rule["expr"],
        )
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def _by_cluster(expr: str) -> bool:
    """Whether the alert's series keep ``envoy_cluster_name`` (one per caller and upstream)."""
    return any("envoy_cluster_name" in by for by in re.findall(r"by \(([^)]*)\)", expr))


def cloudwatch_alarms(specs: Iterable[Mapping]) -> list[Alert]:
    """The alarms of the ECS program someone would see (metric alarms by ``name``, composite
    alarms by ``alarm_name``, with their tags); an SLO's window alarms (tagged ``window``) are
    only their composite's inputs, without an action of their own."""
    return [
        Alert(
            CLOUDWATCH,
            spec.get("alarm_name") or spec["name"],
            spec.get("tags", {}).get("severity", "page"),
            service=spec.get("tags", {}).get("service"),
            slo=spec.get("tags", {}).get("slo"),
        )
        for spec in specs
        if "window" not in spec.get("tags", {})
    ]


def pinned_service(labels: Mapping[str, str]) -> str:
    """The service a firing Prometheus alert blames: the upstream of an edge alert, else its
    ``service`` label."""
    return labels.get("envoy_cluster_name") or labels.get("service", "")


def _applies(alert: Alert, service: str, settings: Settings) -> bool:
    """Whether ``alert`` can fire for ``service`` at all (a Prometheus edge alert only for a
    service someone calls; an alarm only for its own service)."""
    if not alert.per_service:
        return False
    if alert.service is not None or alert.source == CLOUDWATCH:
        return alert.service == service
    if alert.edge:
        return any(service in s.upstreams for s in settings.services)
    return True


def _unique(items: Iterable[dict]) -> tuple[dict, ...]:
    return tuple({tuple(i.values()): i for i in items}.values())


def _named(
    alerts: Iterable[Alert], service: str, settings: Settings, names: Iterable[str]
) -> tuple[dict, ...]:
    """Expectations of the alerts called ``names`` (an alarm by its name after
    ``<service>-``) that can fire for ``service``."""
    wanted = set(names)
    return _unique(
        expectation(a.source, a.name, service)
        for a in alerts
        if (a.name in wanted or a.name.removeprefix(f"{service}-") in wanted)
        and _applies(a, service, settings)
    )


def _slo_pages(alerts: Iterable[Alert], service: str, slo: str) -> tuple[dict, ...]:
    """A page of ``service``'s ``slo`` on each side, as expectations: on Prometheus one of its
    page alerts (``|``-separated: either burn-rate pair may be the first to fire, as a short
    run's long windows hold all of its history), on CloudWatch its page composite; none when
    the service has no such SLO."""
    pages = [a for a in alerts if a.service == service and a.slo == slo and a.severity == "page"]
    out = []
    for source in SOURCES:
        names = list(dict.fromkeys(a.name for a in pages if a.source == source))
        if names:
            out.append(expectation(source, ANY_OF.join(names), service, slo))
    return tuple(out)


def _quiet(
    alerts: Iterable[Alert], services: Iterable[str], settings: Settings, paging_only: bool
) -> tuple[dict, ...]:
    return _unique(
        expectation(a.source, a.name, service, a.slo)
        for service in services
        for a in alerts
        if a.severity != TICKET and (a.pages or not paging_only) and _applies(a, service, settings)
    )


def direct_callers(settings: Settings, service: str) -> set[str]:
    """The services that call ``service`` themselves."""
    return {s.name for s in settings.services if service in s.upstreams}


def callers_of(settings: Settings, service: str) -> set[str]:
    """Every service that calls ``service``, directly or through others."""
    found: set[str] = set()
    todo = [service]
    while todo:
        current = todo.pop()
        for s in settings.services:
            if current in s.upstreams and s.name not in found:
                found.add(s.name)
                todo.append(s.name)
    return found


def pick_services(settings: Settings) -> dict[str, str]:
    """The culprits: a leaf (called, calls nothing), a mid-tier service (calls and is called;
    the leaf where there is none), and a service with two replicas or more for the replica
    loss (another leaf than the errors' when there is one)."""
    apps = settings.app_services
    called = {u for s in settings.services for u in s.upstreams}
    leaves = [s.name for s in apps if not s.upstreams and s.name in called] or [apps[0].name]
    mid = next((s.name for s in apps if s.upstreams and s.name in called), leaves[0])
    replicated = [s.name for s in apps if s.replicas >= 2]
    spare = next((n for n in replicated if n != leaves[0] and n in leaves), None)
    return {
        "leaf": leaves[0],
        "mid": mid,
        "replicated": spare or (replicated[0] if replicated else ""),
    }


def scenarios(settings: Settings, rules: Mapping, alarm_specs: Iterable[Mapping]) -> list[Scenario]:
    """The game day's scenarios for ``settings``' mesh, in the order they run."""
    alerts = prometheus_alerts(rules) + cloudwatch_alarms(alarm_specs)
    apps = [s.name for s in settings.app_services]
    picked = pick_services(settings)
    leaf, mid, replicated = picked["leaf"], picked["mid"], picked["replicated"]

    def others(culprit: str) -> list[str]:
        return [s for s in apps if s != culprit]

    out = [
        Scenario(
            "errors",
            "abort",
            leaf,
            f"{leaf} answers {ERROR_PERCENT:g} % of its requests {ERROR_STATUS} "
            "(its sidecar's fault filter); its callers' retries hide them from their users",
            # Its own ingress shows them (SLO page, or the 5xx alarm without an SLO); its
            # callers' upstream 5xx alert rightly does not: Envoy counts an upstream response
            # code only for the attempt it returns, and the retries return a 2xx.
            _named(alerts, leaf, settings, ["5xx-rate"]) + _slo_pages(alerts, leaf, "availability"),
            _quiet(alerts, others(leaf), settings, paging_only=False),
            {"abort_percent": ERROR_PERCENT, "abort_status": ERROR_STATUS},
        ),
        Scenario(
            "latency",
            "delay",
            mid,
            f"{mid} holds {DELAY_PERCENT:g} % of its requests "
            f"{2 * settings.latency_alarm_ms} ms (twice latencyAlarmMs) in its sidecar",
            _named(alerts, mid, settings, [prometheus_rules.HIGH_LATENCY, "p99-latency"])
            + _slo_pages(alerts, mid, "latency"),
            _quiet(alerts, others(mid), settings, paging_only=False),
            {"delay_percent": DELAY_PERCENT, "delay_ms": 2 * settings.latency_alarm_ms},
        ),
    ]
    if replicated:
        out.append(
            Scenario(
                "replica-loss",
                "kill-one",
                replicated,
                f"one replica of {replicated} (its app and its sidecar) is killed; the others, "
                "the callers' retries and outlier detection cover it: seen, not paged",
                _named(alerts, replicated, settings, [prometheus_rules.SIDECAR_DOWN]),
                _quiet(alerts, [replicated], settings, paging_only=True)
                + _quiet(alerts, others(replicated), settings, paging_only=False),
            )
        )
    out += [
        Scenario(
            "outage",
            "kill-all",
            leaf,
            f"every replica of {leaf} (apps and sidecars) is killed; its callers fail with it",
            _named(
                alerts,
                leaf,
                settings,
                [
                    prometheus_rules.NO_HEALTHY_HOSTS,
                    prometheus_rules.UPSTREAM_5XX,
                    prometheus_rules.SIDECAR_DOWN,
                    "no-healthy-hosts",
                ],
            )
            # The users' SLO pages: its direct callers' answers fail (its own SLO cannot see
            # a service that sends nothing; the no-healthy-hosts alert and alarm name it).
            + tuple(
                x
                for caller in sorted(direct_callers(settings, leaf))
                for x in _slo_pages(alerts, caller, "availability")
            ),
            # Its callers rightly fail with it; every other service must stay quiet.
            _quiet(
                alerts,
                [s for s in others(leaf) if s not in callers_of(settings, leaf)],
                settings,
                paging_only=False,
            ),
        ),
        Scenario(
            "dns-outage",
            "stop-dns",
            "dns",
            "the DNS server is stopped for longer than its records' TTL, then restarted: every "
            "sidecar keeps the hosts it resolved last",
            (),
            _quiet(alerts, apps, settings, paging_only=False),
        ),
    ]
    return out


def with_fault_filters(settings: Settings, services: Iterable[str]) -> Settings:
    """``settings`` with a zero ``faults`` key (a fault filter that injects nothing until the
    game day raises it) on each of ``services`` that has none."""
    wanted = set(services)
    updated = tuple(
        s.model_copy(update={"faults": FaultSpec()}) if s.name in wanted and s.faults is None else s
        for s in settings.services
    )
    return settings.model_copy(update={"services": updated})


def scaled_load(settings: Settings, scale: float) -> Settings:
    """``settings`` with every load generator's rate multiplied by ``scale``: a window divided
    by the time scale then holds as many requests as the real one, so a ratio over it (an SLO's
    99.9 %, a 5xx share) is as steady as it is in real time, not ``scale`` times noisier."""
    updated = tuple(
        s.model_copy(update={"rate": s.request_rate * scale}) if s.is_load else s
        for s in settings.services
    )
    return settings.model_copy(update={"services": updated})


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_RANGE = re.compile(r"\[((?:\d+(?:ms|s|m|h|d|w|y))+)(?::((?:\d+(?:ms|s|m|h|d|w|y))+))?\]")


def seconds(duration: str) -> float:
    """A Prometheus duration (``1h30m``) in seconds."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))


def scaled_duration(duration: str, scale: float) -> str:
    """``duration`` divided by ``scale``, in whole milliseconds (Prometheus' finest unit)."""
    return f"{max(1, round(seconds(duration) * 1000 / scale))}ms"


def scale_rules(rules: Mapping, scale: float) -> dict:
    """The rule file with every range selector, subquery step, ``for`` and
    ``keep_firing_for`` divided by ``scale``; expressions and labels otherwise untouched."""

    def expr(text: str) -> str:
        def one(match: re.Match) -> str:
            step = f":{scaled_duration(match[2], scale)}" if match[2] else ""
            return f"[{scaled_duration(match[1], scale)}{step}]"

        return _RANGE.sub(one, text)

    groups = []
    for group in rules["groups"]:
        new_rules = []
        for rule in group["rules"]:
            rule = {**rule, "expr": expr(rule["expr"])}
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = scaled_duration(rule[key], scale)
            new_rules.append(rule)
        new_group = {**group, "rules": new_rules}
        if "interval" in group:
            new_group["interval"] = scaled_duration(group["interval"], scale)
        groups.append(new_group)
    return {**rules, "groups": groups}
