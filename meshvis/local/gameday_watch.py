"""What a game day observes while it runs: Prometheus' alerts and the ECS CloudWatch alarms.

``Watch.poll`` reads ``/api/v1/alerts`` (pending and firing, with ``activeAt``) and evaluates
every alarm by its own definition (meshvis/local/alarm_eval.py) over the samples the
CloudWatch agent's stand-in received; both are kept as events with times, from which each
scenario's fired alerts are read (``fired_between``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from dashboards.cloudwatch.slo import rule_alarm_names
from meshvis.local.alarm_eval import (
    ALARM,
    INSUFFICIENT_DATA,
    MetricKey,
    Sample,
    composite_state,
    timeline,
    transitions,
)
from meshvis.local.gameday_plan import CLOUDWATCH, PROMETHEUS, TICKET, matches, pinned_service

# How often the game day polls (gameday.py): alarm evaluations since the last poll are
# recomputed with the samples that arrived since.
POLL_SECONDS = 2.0


class AlertSource(Protocol):
    """What a watch reads of Prometheus (meshvis/local/prometheus.py)."""

    def alerts(self) -> list[dict]:
        """Every pending and firing alert (``/api/v1/alerts``: labels, state, activeAt)."""
        ...


class SampleSource(Protocol):
    """What a watch reads of the CloudWatch agent's stand-in (``DogStatsdReceiver``)."""

    def timed_samples(self) -> Mapping[MetricKey, Iterable[Sample]]:
        """(metric name, dimension pairs) -> every sample received for it."""
        ...


def _unix(stamp: str) -> float:
    """Prometheus' RFC 3339 ``activeAt`` (nanoseconds, ``Z``) as unix time."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    fraction = float(f"0.{rest}") if rest else 0.0
    return datetime.fromisoformat(head + "+00:00").timestamp() + fraction


class Watch:
    """Alert and alarm events of one game day (``poll`` it every few seconds)."""

    def __init__(
        self,
        prometheus: AlertSource,
        receiver: SampleSource,
        alarms: Sequence[Mapping],
        composites: Sequence[Mapping] = (),
        every: float = 60.0,
    ) -> None:
        """``alarms``: metric alarms (``MetricAlarm`` arguments, ``name`` the alarm's name),
        evaluated every ``every`` seconds; ``composites``: ``CompositeAlarm`` arguments over
        them (``alarm_name``, ``alarm_rule``)."""
        self.prometheus = prometheus
        self.receiver = receiver
        self.alarms = list(alarms)
        self.composites = list(composites)
        self.every = every
        # (alertname, labels, activeAt) -> event
        self.alerts: dict[tuple, dict] = {}
        # alarm name -> {evaluation time: state}
        self.alarm_states: dict[str, dict[float, str]] = {a["name"]: {} for a in self.alarms}
        for composite in self.composites:
            self.alarm_states[composite["alarm_name"]] = {}

    def poll(self) -> None:
        """One look at Prometheus' alerts and one evaluation of every alarm, now."""
        now = time.time()
        seen = set()
        for alert in self.prometheus.alerts():
            labels = dict(alert["labels"])
            key = (labels["alertname"], tuple(sorted(labels.items())), alert["activeAt"])
            seen.add(key)
            event = self.alerts.setdefault(
                key,
                {
                    "source": PROMETHEUS,
                    "alert": labels["alertname"],
                    "service": pinned_service(labels),
                    "severity": labels.get("severity", ""),
                    "slo": labels.get("slo"),
                    "labels": labels,
                    "active_at": _unix(alert["activeAt"]),
                    "firing_at": None,
                    "resolved_at": None,
                },
            )
            if alert["state"] == "firing" and event["firing_at"] is None:
                event["firing_at"] = now
        for key, event in self.alerts.items():
            if key not in seen and event["resolved_at"] is None:
                event["resolved_at"] = now
        if self.alarms:
            self._evaluate_alarms(now)

    def _evaluate_alarms(self, now: float) -> None:
        """Every alarm at every evaluation time since the last poll (and a little before:
        samples arrive late), then the composites at the same times."""
        samples = {key: sorted(kept) for key, kept in self.receiver.timed_samples().items()}
        since = now - 3 * max(self.every, POLL_SECONDS)
        times: set[float] = set()
        for spec in self.alarms:
            for at, state, _ in timeline(spec, samples, since, now, self.every):
                self.alarm_states[spec["name"]][at] = state
                times.add(at)
        for composite in self.composites:
            for at in sorted(times):
                states = {
                    name: self.alarm_states[name].get(at, INSUFFICIENT_DATA)
                    for name in rule_alarm_names(composite["alarm_rule"])
                }
                self.alarm_states[composite["alarm_name"]][at] = composite_state(
                    composite["alarm_rule"], states
                )

    def alarm_events(self) -> list[dict]:
        """Every time an alarm went to ALARM, and when it left it (None: still in ALARM)."""
        events = []
        # An SLO's window alarms only feed its composites: no one sees them on their own.
        named = [(a["name"], a) for a in self.alarms if "window" not in a.get("tags", {})]
        named += [(c["alarm_name"], c) for c in self.composites]
        for name, spec in named:
            changes = transitions(sorted(self.alarm_states[name].items()))
            for (at, state), after in zip(changes, [*changes[1:], None], strict=True):
                if state == ALARM:
                    events.append(
                        {
                            "source": CLOUDWATCH,
                            "alert": name,
                            "service": spec.get("tags", {}).get("service", ""),
                            "severity": spec.get("tags", {}).get("severity", "page"),
                            "slo": spec.get("tags", {}).get("slo"),
                            "active_at": at,
                            "firing_at": at,
                            "resolved_at": after[0] if after else None,
                        }
                    )
        return events

    def events(self) -> list[dict]:
        """Every alert and alarm event so far, in the order they became active."""
        return sorted([*self.alerts.values(), *self.alarm_events()], key=lambda e: e["active_at"])

    def fired_between(self, start: float, end: float) -> list[dict]:
        """Alerts that became active from ``start`` on and fired by ``end`` (an alert active
        since before ``start`` belongs to an earlier scenario)."""
        return [
            e
            for e in self.events()
            if e["active_at"] >= start and e["firing_at"] is not None and e["firing_at"] <= end
        ]

    def pending_between(self, start: float, end: float) -> list[dict]:
        """Alerts that became pending in the window and never fired in it."""
        return [
            e
            for e in self.events()
            if start <= e["active_at"] <= end and (e["firing_at"] is None or e["firing_at"] > end)
        ]

    def unresolved(self, since: float, wanted: Sequence[Mapping]) -> list[dict]:
        """The ``wanted`` alerts (expectations, matched as the report matches them) active
        since ``since`` that have not resolved."""
        return [
            e
            for e in self.events()
            if e["active_at"] >= since
            and e["resolved_at"] is None
            and any(matches(e, w) for w in wanted)
        ]

    def firing_now(self) -> int:
        """How many alerts fire and alarms are in ALARM now (a scenario's worst moment is
        where this peaks)."""
        return sum(
            1
            for e in self.events()
            if e["firing_at"] is not None and e["resolved_at"] is None and e["severity"] != TICKET
        )
