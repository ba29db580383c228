"""What a local run proved, as one JSON document, and its printed form."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from components.settings.model import Settings
from dashboards.prometheus import promql
from meshvis.local.prometheus import Prometheus

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
            "requests": total, "errors_5xx": errors, "success_rate": _rate(total, errors),
            "p50_ms": round(p50[svc.name], 2) if svc.name in p50 else None,
            "p99_ms": round(p99[svc.name], 2) if svc.name in p99 else None,
        }
    received = _counts(prometheus, mesh, outbound=True)
    end_to_end = {}
    for svc in settings.services:
        if svc.is_load:
            total, errors = received.get(svc.name, (0, 0))
            end_to_end[svc.name] = {"requests": total, "errors_5xx": errors,
                                    "success_rate": _rate(total, errors)}
    return {"services": services, "end_to_end": end_to_end}


def write_summary(summary: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_summary(console: Console, summary: dict) -> None:
    """The summary as a table and a few lines: traffic, CloudWatch, Prometheus, files."""
    table = Table(title=f"run summary: stack {summary['stack']}, "
                        f"{summary['run']['traffic_seconds']:.0f} s of traffic",
                  title_justify="left")
    for header in ("service", "requests", "5xx", "success %", "p50 ms", "p99 ms"):
        table.add_column(header, justify="left" if header == "service" else "right")
    for name, row in summary.get("services", {}).items():
        table.add_row(name, str(row["requests"]), str(row["errors_5xx"]),
                      _pct(row["success_rate"]), _ms(row["p50_ms"]), _ms(row["p99_ms"]))
    for name, row in summary.get("end_to_end", {}).items():
        table.add_row(f"{name} (end to end)", str(row["requests"]), str(row["errors_5xx"]),
                      _pct(row["success_rate"]), "-", "-")
    console.print(table)
    cloudwatch = summary.get("cloudwatch")
    if cloudwatch:
        missing = cloudwatch["missing_dashboard_metrics"]
        # An eks stack publishes nothing to CloudWatch: the figure is what its sidecars send
        # to the local receiver (with the eks stats matcher).
        where = "via DogStatsD" if summary["run"]["topology"] == "ecs" else \
            "not used on eks; what these sidecars send via DogStatsD"
        console.print(
            f"CloudWatch ({where}): {cloudwatch['metrics']} metrics, about "
            f"${cloudwatch['monthly_usd']:.2f}/month; dashboard and alarm metrics missing: "
            f"{', '.join(missing) if missing else 'none'}", highlight=False)
    prometheus = summary.get("prometheus")
    if prometheus:
        empty = prometheus["queries_without_data"]
        console.print(f"Prometheus: {len(prometheus['queries'])} live-view queries, "
                      f"{len(empty)} without data" + (":" if empty else ""), highlight=False)
        for line in empty:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    for label, key in (("logs", "logs"), ("summary", "summary_file"), ("chart", "snapshot_file")):
        if summary["run"].get(key):
            console.print(f"{label}: {summary['run'][key]}", highlight=False, soft_wrap=True)
