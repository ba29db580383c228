"""Prometheus' pending and firing alerts as the live view shows them (pure): per service, a
short coloured cell ("PAGE availability 1h+6h (firing 12 s)"), and one line per firing alert
under the table, from the answer of ``/api/v1/alerts``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text

from dashboards.prometheus.slo import ALERT_PREFIX
from meshvis.local.gameday_plan import PAGING_SEVERITIES, pinned_service, seconds

FIRING = "firing"
PENDING = "pending"
# A cell names this many groups of alerts at most, then "+N more" (the lines under the table
# name every firing alert).
CELL_ALERTS = 3
# The threshold alerts' shared prefix (dashboards/prometheus/rules.py), left out of a label.
THRESHOLD_PREFIX = "Mesh"


@dataclass(frozen=True)
class LiveAlert:
    """One pending or firing alert, pinned on the service it blames."""

    service: str  # the service that fails: an edge alert's upstream, else its `service`
    name: str  # alertname
    severity: str
    state: str  # pending | firing
    since: float  # unix time it entered ``state``
    label: str  # "PAGE availability", "CRITICAL UpstreamHigh5xxRatio from front"
    window: str = ""  # an SLO alert's long window: "1h"

    @property
    def pages(self) -> bool:
        return self.severity in PAGING_SEVERITIES

    @property
    def title(self) -> str:
        """``label`` and ``window``: "PAGE availability 1h"."""
        return f"{self.label} {self.window}".strip()


def firing_delays(rules: Mapping) -> dict[str, float]:
    """alertname -> its ``for`` in seconds, from a rule file document: ``activeAt`` is when an
    alert became pending, so it fires that much later (Prometheus 2.42's /api/v1/alerts has no
    firing time of its own)."""
    return {
        rule["alert"]: seconds(rule.get("for", "0s"))
        for group in rules.get("groups", [])
        for rule in group["rules"]
        if "alert" in rule
    }


def _label(labels: Mapping[str, str], service: str) -> str:
    name = labels.get("alertname", "")
    severity = labels.get("severity", "").upper()
    if name.startswith(ALERT_PREFIX):
        # The SLO alerts differ by SLI and long window (dashboards/prometheus/slo.py).
        return f"{severity} {labels.get('slo', '')}".strip()
    short = name.removeprefix(THRESHOLD_PREFIX)
    caller = labels.get("service", "")
    # An edge alert blames the upstream; the caller that sees it is said too.
    via = f" from {caller}" if caller and caller != service else ""
    return f"{severity} {short}{via}".strip()


def live_alerts(payload: Iterable[Mapping], delays: Mapping[str, float]) -> list[LiveAlert]:
    """``/api/v1/alerts``' ``alerts`` as ``LiveAlert``s: firing before pending, pages first,
    the oldest first. ``delays``: ``firing_delays`` of the rules Prometheus evaluates."""
    found = []
    for alert in payload:
        labels = alert.get("labels", {})
        name = labels.get("alertname", "")
        state = alert.get("state", "")
        if state not in (FIRING, PENDING):
            continue
        # RFC 3339 with nanoseconds and "Z": Python 3.11 reads it (to the microsecond).
        since = datetime.fromisoformat(alert["activeAt"]).timestamp()
        if state == FIRING:
            since += delays.get(name, 0.0)
        service = pinned_service(labels)
        found.append(
            LiveAlert(
                service,
                name,
                labels.get("severity", ""),
                state,
                since,
                _label(labels, service),
                labels.get("long", "") if name.startswith(ALERT_PREFIX) else "",
            )
        )
    return sorted(found, key=lambda a: (a.state != FIRING, not a.pages, a.since, a.title))


def by_service(alerts: Iterable[LiveAlert]) -> dict[str, list[LiveAlert]]:
    """The alerts of each service they blame, in ``live_alerts``' order."""
    out: dict[str, list[LiveAlert]] = {}
    for alert in alerts:
        out.setdefault(alert.service, []).append(alert)
    return out


def _style(alert: LiveAlert) -> str:
    if alert.state == PENDING:
        return "dim"
    return "bold red" if alert.pages else "yellow"


def _groups(alerts: Iterable[LiveAlert]) -> list[list[LiveAlert]]:
    """Alerts that differ only by window (an SLI's page pairs, its ticket pairs), together."""
    groups: dict[tuple[str, str, str], list[LiveAlert]] = {}
    for alert in alerts:
        groups.setdefault((alert.label, alert.severity, alert.state), []).append(alert)
    return list(groups.values())


def _one(group: Sequence[LiveAlert], now: float) -> str:
    first = group[0]
    windows = "+".join(a.window for a in group if a.window)
    title = f"{first.label} {windows}".strip()
    age = max(0.0, now - min(a.since for a in group))
    return f"{title} ({first.state} {age:.0f} s)"


def alert_cell(alerts: Sequence[LiveAlert], now: float) -> Text:
    """A service's cell: its alerts with their state and for how long (an SLI's windows
    together: "PAGE availability 1h+6h (firing 12 s)"), coloured (firing page red, firing
    ticket yellow, pending dim); the first ``CELL_ALERTS``, then "+N more"."""
    cell = Text()
    groups = _groups(alerts)
    for group in groups[:CELL_ALERTS]:
        if cell:
            cell.append(", ")
        cell.append(_one(group, now), style=_style(group[0]))
    if len(groups) > CELL_ALERTS:
        cell.append(f", +{len(groups) - CELL_ALERTS} more")
    return cell


def alert_text(alerts: Sequence[LiveAlert], now: float) -> str:
    """``alert_cell`` without colours, for plain output."""
    return alert_cell(alerts, now).plain


def firing_lines(alerts: Iterable[LiveAlert]) -> list[tuple[str, str]]:
    """``(line, style)`` for each firing alert: ``firing: <service> <label> (<alertname>,
    since 18:42:07 UTC)``; the same until the alert resolves (plain output prints changes)."""
    return [
        (
            f"firing: {alert.service or 'mesh'} {alert.title} ({alert.name}, since "
            f"{datetime.fromtimestamp(alert.since, UTC):%H:%M:%S} UTC)",
            _style(alert),
        )
        for alert in alerts
        if alert.state == FIRING
    ]
