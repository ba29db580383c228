"""A game day's verdicts and report: JSON, its Markdown rendering, and pictures beside it.

Per scenario: what was expected to fire and to stay quiet, what fired (with seconds after the
fault started), what only went pending, the time to detect (the first expected alert firing)
and to recover (the last alert it raised resolving after the fault ended), a golden-signals
chart with the fault and every firing marked, and the service map at the scenario's worst
moment (most alerts firing at once).
"""

from __future__ import annotations

import json
from pathlib import Path

from components.settings.model import Settings
from meshvis.local import snapshot as charts
from meshvis.local.gameday_plan import TICKET, Scenario, matches
from meshvis.local.gameday_watch import Watch
from meshvis.local.golden_signals import Signal
from meshvis.local.prometheus import Prometheus
from meshvis.local.service_map import render_png

KEYS = ("source", "alert", "service")
# Seconds of chart before the fault starts.
LEAD_S = 15.0


def judge(
    scenario: Scenario,
    watch: Watch,
    fault_start: float,
    fault_end: float,
    end: float,
    healthy_at: float | None,
) -> dict:
    """The scenario's outcome: passed when everything expected fired, nothing expected quiet
    fired, every service was healthy again (``healthy_at``) and what detected the fault but
    the SLO alerts (reset by design after their short window) resolved, before the recovery's
    bound."""
    events = watch.fired_between(fault_start, end)
    fired = [
        {
            **{key: e[key] for key in KEYS},
            **({"slo": e["slo"]} if e.get("slo") else {}),
            "severity": e["severity"],
            "after_s": round(e["firing_at"] - fault_start, 1),
            "resolved_after_fault_s": None
            if e["resolved_at"] is None
            else round(e["resolved_at"] - fault_end, 1),
        }
        for e in events
    ]
    pending = [
        {**{key: e[key] for key in KEYS}, "after_s": round(e["active_at"] - fault_start, 1)}
        for e in watch.pending_between(fault_start, end)
    ]
    missed = [x for x in scenario.expected_fire if not any(matches(e, x) for e in fired)]
    noisy = [x for x in scenario.expected_quiet if any(matches(e, x) for e in fired)]
    expected = [e for e in fired if any(matches(e, x) for x in scenario.expected_fire)]
    unresolved = [e for e in expected if e["resolved_after_fault_s"] is None and not e.get("slo")]
    still_firing = [e for e in fired if e["resolved_after_fault_s"] is None]
    # Detected: the first expected alert naming the culprit (else any expected one: a DNS
    # outage names no service).
    detected = [e["after_s"] for e in expected if e["service"] == scenario.culprit] or [
        e["after_s"] for e in expected
    ]
    problems = [f"missed {x['source']} {x['alert']} ({x['service']})" for x in missed]
    problems += [f"noisy {x['source']} {x['alert']} ({x['service']})" for x in noisy]
    problems += [f"not recovered: {e['alert']} ({e['service']})" for e in unresolved]
    if healthy_at is None:
        problems.append("not every service was healthy again by the end of the recovery")
    return {
        "name": scenario.name,
        "culprit": scenario.culprit,
        "description": scenario.description,
        "passed": not problems,
        "problems": problems,
        "expected_fire": list(scenario.expected_fire),
        "expected_quiet": list(scenario.expected_quiet),
        "fired": fired,
        "pending": pending,
        # Alerts it raised that reset later by design (an SLO's slow pairs, its tickets).
        "still_firing": [{key: e[key] for key in KEYS} for e in still_firing],
        "time_to_detect_s": min(detected) if detected else None,
        # Until every service was healthy again (meshvis/local/health.py over the live
        # window), after the fault ended; each alert's own reset is in ``fired``.
        "time_to_recover_s": None if healthy_at is None else round(healthy_at - fault_end, 1),
        "fault_s": round(fault_end - fault_start, 1),
        "recovery_s": round(end - fault_end, 1),
        "fault_start_at": fault_start,
        "fault_end_at": fault_end,
        "end_at": end,
    }


def write_report(
    result: dict, path: Path, settings: Settings, prometheus: Prometheus, signals: list[Signal]
) -> None:
    """The pictures (read from Prometheus, which must still run), the JSON report and its
    Markdown rendering (``<report>.md``)."""
    result["passed"] = all(s["passed"] for s in result["scenarios"])
    path.parent.mkdir(parents=True, exist_ok=True)
    for scenario in result["scenarios"]:
        stem = f"{path.stem}-{scenario['name']}"
        start, end = scenario["fault_start_at"] - LEAD_S, scenario["end_at"]
        marks = [
            (scenario["fault_start_at"], "fault", "black"),
            (scenario["fault_end_at"], "healed", "black"),
        ] + [
            (scenario["fault_start_at"] + e["after_s"], f"{e['alert']} ({e['service']})", "red")
            for e in scenario["fired"]
            if e["severity"] != TICKET
        ]
        series = charts.collect(prometheus, signals, start, end)
        chart = path.with_name(f"{stem}-signals.png")
        title = f"{settings.mesh_name}: game day, {scenario['name']} ({scenario['culprit']})"
        xlabel = f"seconds (the fault starts at {LEAD_S:g} s)"
        charts.render(series, start, end, title, chart, marks, xlabel)
        scenario["signals_png"] = chart.name
        graph = scenario.pop("service_map", None)
        if graph:
            picture = path.with_name(f"{stem}-map.png")
            render_png(graph, f"{title}: worst moment, {scenario['worst_moment_s']} s in", picture)
            scenario["service_map_png"] = picture.name
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    path.with_suffix(".md").write_text(markdown(result))


def _cell(events: list[dict], with_time: bool = True) -> str:
    return (
        "<br>".join(
            f"{e['source']}: {e['alert']} ({e['service']})"
            + (f" {e['after_s']} s" if with_time and "after_s" in e else "")
            for e in events
        )
        or "none"
    )


def markdown(result: dict) -> str:
    """The report as Markdown: a table of scenarios, then each one's detail and pictures."""
    lines = [
        f"# Game day: {result['stack']} ({'passed' if result['passed'] else 'FAILED'})",
        "",
        f"Time scale {result['time_scale']:g} (every alert window, `for` and alarm period "
        f"divided by {result['time_scale']:g}); {len(result['scenarios'])} scenarios in "
        f"{result['duration_s']} s, started {result['started_at']}.",
        "",
        "| scenario | culprit | passed | detected (s) | recovered (s) | fired |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in result["scenarios"]:
        lines.append(
            f"| {s['name']} | {s['culprit']} | {'yes' if s['passed'] else 'NO'} | "
            f"{s['time_to_detect_s']} | {s['time_to_recover_s']} | {_cell(s['fired'])} |"
        )
    for s in result["scenarios"]:
        lines += [
            "",
            f"## {s['name']}: {s['description']}",
            "",
            f"- expected to fire: {_cell(s['expected_fire'], False)}",
            f"- expected quiet: {len(s['expected_quiet'])} alerts and alarms of "
            f"{', '.join(sorted({x['service'] for x in s['expected_quiet']})) or 'no service'}",
            f"- fired: {_cell(s['fired'])}",
            f"- pending only: {_cell(s['pending'])}",
            f"- still firing after the recovery (slow SLO windows, tickets): "
            f"{_cell(s['still_firing'], False)}",
            f"- fault {s['fault_s']} s, recovery {s['recovery_s']} s",
            "- health at the worst moment: "
            + (", ".join(f"{k} {v}" for k, v in sorted(s["health_at_worst"].items())) or "?"),
        ]
        lines += [f"- **{problem}**" for problem in s["problems"]]
        for key in ("signals_png", "service_map_png"):
            if key in s:
                lines += ["", f"![{s['name']}]({s[key]})"]
    return "\n".join(lines) + "\n"
