"""What a local run proved, as one JSON document, and its printed form."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from components.settings.model import Settings
from dashboards.cloudwatch.prices import logs_usd_per_million
from dashboards.prometheus import promql
from dashboards.prometheus.scrape import JOB_NAME
from meshvis.local.discovery import discovery_lines
from meshvis.local.health import assess, causes, observed_run
from meshvis.local.prometheus import Prometheus
from meshvis.local.slo import slo_lines, slo_queries, slo_summary

FIVE_XX = "5"


def _counts(prometheus: Prometheus, mesh: str, outbound: bool) -> dict[str, tuple[int, int]]:
    """service -> (responses, 5xx responses) since the sidecars started."""
    counts: dict[str, list[int]] = {}
    for labels, value in prometheus.query_series(promql.response_counts(mesh, outbound)):
        total = counts.setdefault(labels.get("service", ""), [0, 0])
        total[0] += round(value)
        if labels.get("envoy_response_code_class") == FIVE_XX:
            total[1] += round(value)
    return {service: (total, errors) for service, (total, errors) in counts.items()}


def _rate(total: int, errors: int) -> float | None:
    return round((total - errors) / total, 5) if total else None


def traffic_summary(prometheus: Prometheus, settings: Settings, seconds: float) -> dict:
    """``services`` (what each app served over the run), ``end_to_end`` (what each load
    generator got back) and ``slo`` (meshvis/local/slo.py), from Prometheus while the mesh
    still runs."""
    mesh = settings.mesh_name
    # The whole run as the window, so the quantiles cover every request.
    window = f"{max(10, int(seconds) + 5)}s"
    served = _counts(prometheus, mesh, outbound=False)
    p50 = prometheus.query(promql.latency_quantile(mesh, 0.5, window))
    p99 = prometheus.query(promql.latency_quantile(mesh, 0.99, window))
    up = prometheus.query(promql.sidecars_up(mesh, JOB_NAME))
    services = {}
    for svc in settings.app_services:
        # No series: its sidecars stopped answering (a failed scrape marks every series of
        # the target stale), which is "no figure", not 0 requests or 100 % success.
        counts = served.get(svc.name)
        services[svc.name] = {
            "requests": None if counts is None else counts[0],
            "errors_5xx": None if counts is None else counts[1],
            "success_rate": None if counts is None else _rate(*counts),
            "p50_ms": round(p50[svc.name], 2) if svc.name in p50 else None,
            "p99_ms": round(p99[svc.name], 2) if svc.name in p99 else None,
            "sidecars_up": round(up[svc.name]) if svc.name in up else None,
            "replicas": svc.replicas,
        }
    received = _counts(prometheus, mesh, outbound=True)
    end_to_end = {}
    for svc in settings.services:
        if svc.is_load:
            total, errors = received.get(svc.name, (0, 0))
            end_to_end[svc.name] = {
                "requests": total,
                "errors_5xx": errors,
                "success_rate": _rate(total, errors),
            }
    slo_results = {name: prometheus.query_series(q) for name, q in slo_queries(mesh).items()}
    slos = slo_summary(settings, slo_results, prometheus.query_series("ALERTS"), seconds)
    return {"services": services, "end_to_end": end_to_end, "slo": slos}


def add_health(settings: Settings, report: dict) -> None:
    """Each app service's ``health`` over the run (its row in ``services`` and its node in
    ``service_map``): its figures over the run, the map's edges, its sidecars at the end."""
    health = assess(settings, observed_run(report["services"]), report["service_map"]["edges"])
    for name, verdict in health.items():
        report["services"][name]["health"] = verdict
    for node in report["service_map"]["nodes"]:
        if node["id"] in health:
            node["health"] = health[node["id"]]["state"]
            node["cause"] = node["id"] in causes(health)


def access_log_lines(logs: Path) -> list[str]:
    """Every access-log line the sidecars of a run wrote (JSON objects, one a line; Envoy's
    own log lines share the ``*.envoy.log`` files and start with ``[``). Read once the
    sidecars stopped: Envoy buffers its access log and flushes it on exit."""
    return [
        line
        for path in sorted(logs.glob("*.envoy.log"))
        for line in path.read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]


def access_log_summary(logs: Path, end_to_end_requests: int) -> dict:
    """``logs``: what the sidecars' access logs would ship to CloudWatch Logs for the run.

    Bytes are the lines' UTF-8 bytes without the newline: the message size awslogs sends
    (what CloudWatch's IncomingBytes counts and ingestion is billed on).
    """
    lines = access_log_lines(logs)
    size = sum(len(line.encode()) for line in lines)
    per_request = size / end_to_end_requests if end_to_end_requests else None
    return {
        "access_log_lines": len(lines),
        "access_log_bytes": size,
        "end_to_end_requests": end_to_end_requests,
        "bytes_per_request": None if per_request is None else round(per_request, 1),
        "usd_per_million_requests": None
        if per_request is None
        else round(logs_usd_per_million(per_request), 4),
    }


def summary_json(summary: dict) -> str:
    """The summary file's text (the runner writes it atomically: meshvis/local/outputs.py)."""
    return json.dumps(summary, indent=2) + "\n"


def mark_partial(report: dict, partial: dict[str, str]) -> None:
    """Give every service row (served and end to end) whose figures miss the end of the run
    a ``partial`` reason, so a short or interrupted run does not pass for a quiet one."""
    for section in ("services", "end_to_end"):
        for name, row in report.get(section, {}).items():
            if name in partial:
                row["partial"] = partial[name]


def partial_lines(summary: dict) -> list[str]:
    """``partial: <service>: <why>`` for every row with partial figures."""
    return [
        f"partial: {name}: {row['partial']}"
        for section in ("services", "end_to_end")
        for name, row in summary.get(section, {}).items()
        if row.get("partial")
    ]


ABSENT = "—"
HEALTH_STYLE = {"ok": "green", "degraded": "yellow", "down": "bold red"}


def _pct(rate: float | None) -> str:
    return ABSENT if rate is None else f"{rate * 100:.2f}"


def _ms(value: float | None) -> str:
    return ABSENT if value is None else f"{value:.1f}"


def _count(value: int | None) -> str:
    return ABSENT if value is None else str(value)


def health_text(health: dict | None) -> Text:
    """A health state in its colour (red ``down``, yellow ``degraded``, green ``ok``)."""
    if not health:
        return Text("")
    return Text(health["state"], style=HEALTH_STYLE[health["state"]])


def health_lines(health: dict[str, dict]) -> list[str]:
    """``name: down: <reason>; <reason>`` for each service of ``health`` that is not ``ok``."""
    return [
        f"{name}: {verdict['state']}: {'; '.join(verdict['reasons'])}"
        for name, verdict in health.items()
        if verdict["state"] != "ok"
    ]


def print_summary(console: Console, summary: dict) -> None:
    """The summary as a table and a few lines: traffic, CloudWatch, Prometheus, files."""
    console.print(_summary_table(summary))
    services = summary.get("services", {})
    for line in [
        *partial_lines(summary),
        *(
            f"health: {line}"
            for line in health_lines(
                {n: row["health"] for n, row in services.items() if "health" in row}
            )
        ),
        *slo_lines(summary.get("slo", {})),
    ]:
        console.print(line, highlight=False, soft_wrap=True)
    cloudwatch = summary.get("cloudwatch")
    if cloudwatch:
        console.print(_cloudwatch_line(cloudwatch, summary["run"]["topology"]), highlight=False)
    if "discovery" in summary:
        for line in discovery_lines(summary["discovery"]):
            console.print(line, highlight=False, soft_wrap=True)
    logs = summary.get("logs")
    if logs and logs["bytes_per_request"] is not None:
        console.print(
            _access_log_line(logs, summary["run"].get("access_log", "?")), highlight=False
        )
    prometheus = summary.get("prometheus")
    if prometheus:
        empty = prometheus["queries_without_data"]
        console.print(
            f"Prometheus: {len(prometheus['queries'])} live-view queries, "
            f"{len(empty)} without data" + (":" if empty else ""),
            highlight=False,
        )
        for line in empty:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    for label, key in (("logs", "logs"), ("summary", "summary_file"), ("chart", "snapshot_file")):
        if summary["run"].get(key):
            console.print(f"{label}: {summary['run'][key]}", highlight=False, soft_wrap=True)


def _summary_table(summary: dict) -> Table:
    """One row per app service (what it served) and per load generator (end to end)."""
    table = Table(
        title=f"run summary: stack {summary['stack']}, "
        f"{summary['run']['traffic_seconds']:.0f} s of traffic",
        title_justify="left",
    )
    headers = ("service", "health", "sidecars up", "requests", "5xx", "success %", "p50 ms")
    for header in (*headers, "p99 ms"):
        table.add_column(header, justify="left" if header in headers[:2] else "right")
    for name, row in summary.get("services", {}).items():
        health = row.get("health")
        table.add_row(
            name,
            health_text(health),
            f"{_count(row.get('sidecars_up'))}/{row.get('replicas', ABSENT)}",
            _count(row["requests"]),
            _count(row["errors_5xx"]),
            _pct(row["success_rate"]),
            _ms(row["p50_ms"]),
            _ms(row["p99_ms"]),
            style="red" if health and health["state"] == "down" else None,
        )
    for name, row in summary.get("end_to_end", {}).items():
        table.add_row(
            f"{name} (end to end)",
            "",
            "",
            _count(row["requests"]),
            _count(row["errors_5xx"]),
            _pct(row["success_rate"]),
            ABSENT,
            ABSENT,
        )
    return table


def _cloudwatch_line(cloudwatch: dict, topology: str) -> str:
    """The metrics the local CloudWatch agent received, their cost and what is missing."""
    missing = cloudwatch["missing_dashboard_metrics"]
    # An eks stack publishes nothing to CloudWatch: the figure is what its sidecars send
    # to the local receiver (with the eks stats matcher).
    where = (
        "via DogStatsD"
        if topology == "ecs"
        else "not used on eks; what these sidecars send via DogStatsD"
    )
    return (
        f"CloudWatch ({where}): {cloudwatch['metrics']} metrics, about "
        f"${cloudwatch['monthly_usd']:.2f}/month (alarms "
        f"${cloudwatch.get('alarms_monthly_usd', 0):.2f}); dashboard and alarm metrics "
        "missing: "
        f"{', '.join(missing) if missing else 'none'}"
    )


def _access_log_line(logs: dict, access_log: str) -> str:
    """The access logs' volume per end-to-end request and its ingestion cost."""
    return (
        f"Access logs (accessLog: {access_log}): "
        f"{logs['access_log_lines']} lines, {logs['access_log_bytes']} bytes, "
        f"{logs['bytes_per_request']:.1f} bytes per end-to-end request, about "
        f"${logs['usd_per_million_requests']:.4f} of CloudWatch Logs ingestion per "
        "million requests"
    )
