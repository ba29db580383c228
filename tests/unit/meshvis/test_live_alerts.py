"""Alerts in the live view (pure): hand-made ``/api/v1/alerts`` answers, in the shape
Prometheus 2.42 gives them (labels, annotations, state, activeAt with nanoseconds, value)."""

from __future__ import annotations

import io
from datetime import datetime

from rich.console import Console

from components.stack import stack_settings
from dashboards.prometheus.rules import ERROR_FOR, SIDECAR_DOWN_FOR, UPSTREAM_5XX, rules_file
from meshvis.local.gameday_plan import seconds
from meshvis.local.live import LiveView
from meshvis.local.live_alerts import (
    alert_cell,
    alert_text,
    by_service,
    firing_delays,
    firing_lines,
    live_alerts,
)

ACTIVE = "2026-12-07T18:20:03.123456789Z"
T0 = datetime.fromisoformat(ACTIVE).timestamp()
DELAYS = firing_delays(rules_file(stack_settings("dev")))


def _alert(state: str, active_at: str = ACTIVE, **labels: str) -> dict:
    return {
        "labels": labels,
        "annotations": {"summary": "..."},
        "state": state,
        "activeAt": active_at,
        "value": "1e+00",
    }


def _slo(service: str, severity: str, long: str, state: str = "firing", **more) -> dict:
    name = f"MeshErrorBudgetBurn{severity.title()}{long}"
    labels = {"mesh": "dev", "service": service, "slo": "availability", "severity": severity}
    return _alert(state, alertname=name, **{**labels, "long": long, "short": "5m", **more})


LEAF_PAGE = _slo("name", "page", "1h")
EDGE_5XX = _alert(
    "pending",
    alertname=UPSTREAM_5XX,
    mesh="dev",
    service="greeter",
    envoy_cluster_name="name",
    severity="critical",
)
MESH_WIDE = _alert("firing", alertname="MeshSidecarsAbsent", mesh="dev", severity="critical")


def test_delays_are_the_rules_for_and_nothing_for_an_slo_alert():
    assert DELAYS[UPSTREAM_5XX] == seconds(ERROR_FOR) == 60
    assert DELAYS["MeshSidecarDown"] == seconds(SIDECAR_DOWN_FOR)
    assert DELAYS["MeshErrorBudgetBurnPage1h"] == 0


def test_a_firing_slo_page_is_red_on_its_own_service_with_its_age():
    [alert] = live_alerts([LEAF_PAGE], DELAYS)
    assert (alert.service, alert.state, alert.title) == ("name", "firing", "PAGE availability 1h")
    assert alert.since == T0
    cell = alert_cell([alert], T0 + 12.4)
    assert cell.plain == "PAGE availability 1h (firing 12 s)"
    assert [str(span.style) for span in cell.spans] == ["bold red"]
    assert firing_lines([alert]) == [
        (
            "firing: name PAGE availability 1h (MeshErrorBudgetBurnPage1h, since 18:20:03 UTC)",
            "bold red",
        )
    ]


def test_an_edge_alert_blames_the_upstream_and_fires_after_its_for():
    """Pending since activeAt; once firing, since activeAt + the rule's ``for``."""
    [pending] = live_alerts([EDGE_5XX], DELAYS)
    assert pending.service == "name" and pending.state == "pending"
    assert pending.label == "CRITICAL UpstreamHigh5xxRatio from greeter"
    assert (
        alert_text([pending], T0 + 20)
        == "CRITICAL UpstreamHigh5xxRatio from greeter (pending 20 s)"
    )
    assert str(alert_cell([pending], T0).spans[0].style) == "dim"
    assert firing_lines([pending]) == []

    [firing] = live_alerts([{**EDGE_5XX, "state": "firing"}], DELAYS)
    assert firing.since == T0 + 60
    assert (
        alert_text([firing], T0 + 75) == "CRITICAL UpstreamHigh5xxRatio from greeter (firing 15 s)"
    )
    # Between two evaluations the clock can be a little behind the rule's own: never negative.
    assert (
        alert_text([firing], T0 + 59) == "CRITICAL UpstreamHigh5xxRatio from greeter (firing 0 s)"
    )


def test_tickets_are_yellow_firing_pages_come_first_and_an_slis_windows_go_together():
    ticket = _slo("name", "ticket", "1d")
    later_page = {**_slo("name", "page", "6h"), "activeAt": "2026-12-07T18:21:00Z"}
    pending_page = _slo("name", "page", "1h", state="pending", slo="latency")
    latency_ticket = _slo("name", "ticket", "3d", state="pending", slo="latency")
    alerts = live_alerts(
        [ticket, pending_page, later_page, latency_ticket, LEAF_PAGE, EDGE_5XX], DELAYS
    )
    assert [(a.title, a.state) for a in alerts] == [
        ("PAGE availability 1h", "firing"),
        ("PAGE availability 6h", "firing"),
        ("TICKET availability 1d", "firing"),
        ("CRITICAL UpstreamHigh5xxRatio from greeter", "pending"),
        ("PAGE latency 1h", "pending"),
        ("TICKET latency 3d", "pending"),
    ]
    cell = alert_cell(by_service(alerts)["name"], T0 + 120)
    # Both pages of availability as one, aged from the first to fire.
    assert cell.plain == (
        "PAGE availability 1h+6h (firing 120 s), TICKET availability 1d (firing 120 s), "
        "CRITICAL UpstreamHigh5xxRatio from greeter (pending 120 s), +2 more"
    )
    assert [str(s.style) for s in cell.spans] == ["bold red", "yellow", "dim"]
    assert [line for line, _ in firing_lines(alerts)] == [
        "firing: name PAGE availability 1h (MeshErrorBudgetBurnPage1h, since 18:20:03 UTC)",
        "firing: name PAGE availability 6h (MeshErrorBudgetBurnPage6h, since 18:21:00 UTC)",
        "firing: name TICKET availability 1d (MeshErrorBudgetBurnTicket1d, since 18:20:03 UTC)",
    ]


def test_only_pending_and_firing_alerts_and_a_mesh_wide_one_names_the_mesh():
    inactive = {**LEAF_PAGE, "state": "inactive"}
    alerts = live_alerts([inactive, MESH_WIDE], DELAYS)
    assert by_service(alerts) == {"": alerts}
    [(line, style)] = firing_lines(alerts)
    assert line.startswith("firing: mesh CRITICAL SidecarsAbsent (MeshSidecarsAbsent, since ")
    assert style == "bold red"


class _Answers:
    """What the live view asks Prometheus for: its rules and, each time, the next answer."""

    def __init__(self, answers: list) -> None:
        self.rules = rules_file(stack_settings("dev"))
        self._answers = answers

    def alerts(self) -> list[dict]:
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=250, force_terminal=False, color_system=None), out


def test_plain_output_names_each_alert_as_it_fires_and_resolves():
    console, out = _console()
    prometheus = _Answers([[LEAF_PAGE, EDGE_5XX], [LEAF_PAGE], OSError("timed out"), []])
    view = LiveView(console, ["name", "greeter"], "caption", 60, prometheus)
    values = {"name": {"success_pct": 80.0}, "greeter": {"success_pct": 99.0}}
    for elapsed in (10.0, 12.0, 14.0, 16.0):
        view.update(values, elapsed)
    lines = out.getvalue().splitlines()
    firing = "name PAGE availability 1h (MeshErrorBudgetBurnPage1h, since 18:20:03 UTC)"
    # Once when it fires, once when it resolves; no answer (14 s) changes nothing.
    assert [line for line in lines if firing in line] == [
        f"[   10s] firing: {firing}",
        f"[   16s] resolved: {firing}",
    ]
    name = next(line for line in lines if line.startswith("[   10s] name:"))
    assert "  alerts PAGE availability 1h (firing " in name
    assert "CRITICAL UpstreamHigh5xxRatio from greeter (pending " in name
    greeter = next(line for line in lines if line.startswith("[   10s] greeter:"))
    assert "alerts" not in greeter


def test_the_table_has_an_alerts_column_and_a_line_per_firing_alert():
    console, out = _console()
    view = LiveView(console, ["name", "greeter"], "caption", None, _Answers([[LEAF_PAGE]]))
    view.update({}, 1.0)
    console.print(view._view())
    text = out.getvalue()
    header = next(line for line in text.splitlines() if "┃ service" in line)
    assert "alerts" in header
    row = next(line for line in text.splitlines() if line.startswith("│ name"))
    assert "PAGE availability 1h (firing" in row
    assert "firing: name PAGE availability 1h (MeshErrorBudgetBurnPage1h" in text


def test_without_prometheus_there_is_no_alerts_column():
    console, out = _console()
    console.print(LiveView(console, ["name"], "caption", None).table())
    assert "alerts" not in out.getvalue()
