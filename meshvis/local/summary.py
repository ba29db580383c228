"""What a local run proved, as one JSON document, and its printed form."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from components.settings.model import Settings
from dashboards.prometheus import promql
from meshvis.local.discovery import discovery_lines
from meshvis.local.prometheus import Prometheus

FIVE_XX = "5"
# CloudWatch Logs standard-class ingestion, $ per GB (2^30 bytes) (aws.amazon.com/cloudwatch/
# pricing, as copied by third parties: /tmp/research facts Q5; check the price list).
LOGS_USD_PER_GB = 0.50
GB = 2**30


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
    """``services`` (what each app served over the run) and ``end_to_end`` (what each load
    generator got back), from Prometheus while the mesh still runs."""
    mesh = settings.mesh_name
    # The whole run as the window, so the quantiles cover every request.
    window = f"{max(10, int(seconds) + 5)}s"
    served = _counts(prometheus, mesh, outbound=False)
    p50 = prometheus.query(promql.latency_quantile(mesh, 0.5, window))
    p99 = prometheus.query(promql.latency_quantile(mesh, 0.99, window))
    services = {}
    for svc in settings.app_services:
        total, errors = served.get(svc.name, (0, 0))
        services[svc.name] = {
            "requests": total,
            "errors_5xx": errors,
            "success_rate": _rate(total, errors),
            "p50_ms": round(p50[svc.name], 2) if svc.name in p50 else None,
            "p99_ms": round(p99[svc.name], 2) if svc.name in p99 else None,
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
    return {"services": services, "end_to_end": end_to_end}


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
        else round(ingest_usd_per_million(per_request), 4),
    }


def ingest_usd_per_million(bytes_per_request: float) -> float:
    """CloudWatch Logs ingestion, in $, of a million requests at ``bytes_per_request``."""
    return bytes_per_request * 1e6 / GB * LOGS_USD_PER_GB


def write_summary(summary: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_summary(console: Console, summary: dict) -> None:
    """The summary as a table and a few lines: traffic, CloudWatch, Prometheus, files."""
    table = Table(
        title=f"run summary: stack {summary['stack']}, "
        f"{summary['run']['traffic_seconds']:.0f} s of traffic",
        title_justify="left",
    )
    for header in ("service", "requests", "5xx", "success %", "p50 ms", "p99 ms"):
        table.add_column(header, justify="left" if header == "service" else "right")
    for name, row in summary.get("services", {}).items():
        table.add_row(
            name,
            str(row["requests"]),
            str(row["errors_5xx"]),
            _pct(row["success_rate"]),
            _ms(row["p50_ms"]),
            _ms(row["p99_ms"]),
        )
    for name, row in summary.get("end_to_end", {}).items():
        table.add_row(
            f"{name} (end to end)",
            str(row["requests"]),
            str(row["errors_5xx"]),
            _pct(row["success_rate"]),
            "-",
            "-",
        )
    console.print(table)
    cloudwatch = summary.get("cloudwatch")
    if cloudwatch:
        missing = cloudwatch["missing_dashboard_metrics"]
        # An eks stack publishes nothing to CloudWatch: the figure is what its sidecars send
        # to the local receiver (with the eks stats matcher).
        where = (
            "via DogStatsD"
            if summary["run"]["topology"] == "ecs"
            else "not used on eks; what these sidecars send via DogStatsD"
        )
        console.print(
            f"CloudWatch ({where}): {cloudwatch['metrics']} metrics, about "
            f"${cloudwatch['monthly_usd']:.2f}/month; dashboard and alarm metrics missing: "
            f"{', '.join(missing) if missing else 'none'}",
            highlight=False,
        )
    if "discovery" in summary:
        for line in discovery_lines(summary["discovery"]):
            console.print(line, highlight=False, soft_wrap=True)
    logs = summary.get("logs")
    if logs and logs["bytes_per_request"] is not None:
        console.print(
            f"Access logs (accessLog: {summary['run'].get('access_log', '?')}): "
            f"{logs['access_log_lines']} lines, {logs['access_log_bytes']} bytes, "
            f"{logs['bytes_per_request']:.1f} bytes per end-to-end request, about "
            f"${logs['usd_per_million_requests']:.4f} of CloudWatch Logs ingestion per "
            "million requests",
            highlight=False,
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
