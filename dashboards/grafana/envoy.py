"""The Grafana Envoy detail dashboard: every upstream cluster and every sidecar process.

It answers "why" after the mesh overview showed "what": hosts a sidecar can reach, the
resilience machinery at work (retries, timeouts, circuit breakers, outlier ejection) and the
sidecars themselves. Only stats in ``components.sidecar.stats``'s essential list are used, so the
panels have data with ``statsProfile: essential``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries

from components.settings.model import Settings
from dashboards.grafana.panels import Query, dashboard, dashboard_queries, encode, time_series
from dashboards.prometheus import promql

BY_CLUSTER = "{{service}} → {{envoy_cluster_name}}"
BY_SIDECAR = "{{service}} {{instance}}"
CIRCUIT_BREAKERS = ("cx_open", "rq_pending_open", "rq_retry_open")


def envoy_dashboard_uid(settings: Settings) -> str:
    return f"{settings.mesh_name}-envoy"


def envoy_dashboard(settings: Settings) -> dict:
    """The Envoy detail dashboard as the JSON-ready dict Grafana provisions."""
    mesh = settings.mesh_name

    def cluster_rate(title: str, stat: str, description: str) -> TimeSeries:
        return time_series(
            title,
            "reqps",
            [Query(promql.upstream_cluster_rate(mesh, stat), BY_CLUSTER)],
            description,
            width=8,
        )

    return encode(
        dashboard(
            f"Envoy detail: {mesh}",
            envoy_dashboard_uid(settings),
            mesh,
            "Upstream clusters (per calling service and upstream) and sidecar processes.",
        )
        .with_row(Row("Upstream clusters"))
        .with_panel(
            time_series(
                "Healthy / total hosts",
                "short",
                [
                    Query(
                        promql.upstream_cluster_gauge(mesh, "membership_healthy"),
                        f"{BY_CLUSTER} healthy",
                    ),
                    Query(
                        promql.upstream_cluster_gauge(mesh, "membership_total"),
                        f"{BY_CLUSTER} total",
                    ),
                ],
                "Hosts of each upstream cluster, summed over the caller's sidecars; healthy "
                "excludes hosts ejected by outlier detection.",
                width=8,
            )
        )
        .with_panel(
            time_series(
                "Upstream 5xx",
                "reqps",
                [Query(promql.upstream_error_rate(mesh), BY_CLUSTER)],
                "5xx answers per second from each upstream that retries did not recover (Envoy "
                "counts a retried 5xx under Retries, not here).",
                width=8,
            )
        )
        .with_panel(
            cluster_rate(
                "Retries",
                "upstream_rq_retry",
                "Retried requests per second (bounded by the retry budget).",
            )
        )
        .with_panel(
            cluster_rate(
                "Timeouts", "upstream_rq_timeout", "Requests per second that hit the route timeout."
            )
        )
        .with_panel(
            cluster_rate(
                "Pending overflow",
                "upstream_rq_pending_overflow",
                "Requests per second refused because the pending-request circuit breaker was full.",
            )
        )
        .with_panel(
            cluster_rate(
                "Connect failures",
                "upstream_cx_connect_fail",
                "Failed connection attempts per second.",
            )
        )
        .with_panel(
            time_series(
                "Circuit breakers open",
                "short",
                [
                    Query(
                        promql.upstream_cluster_gauge(
                            mesh, f"circuit_breakers_default_{name}", "max"
                        ),
                        f"{BY_CLUSTER} {name}",
                    )
                    for name in CIRCUIT_BREAKERS
                ],
                "1 while a circuit breaker (connections, pending requests, retries) is open on any "
                "of the caller's sidecars.",
                width=8,
                max_value=1,
            )
        )
        .with_panel(
            time_series(
                "Outlier ejections",
                "short",
                [
                    Query(
                        promql.upstream_cluster_gauge(mesh, "outlier_detection_ejections_active"),
                        f"{BY_CLUSTER} ejected now",
                    ),
                    Query(
                        promql.upstream_cluster_rate(
                            mesh, "outlier_detection_ejections_enforced_total"
                        ),
                        f"{BY_CLUSTER} ejections/s",
                    ),
                ],
                "Hosts ejected by outlier detection right now, and the rate of new ejections.",
                width=8,
            )
        )
        .with_row(Row("Sidecars"))
        .with_panel(
            time_series(
                "Live",
                "short",
                [Query(promql.server_gauge(mesh, "live", "min"), BY_SIDECAR)],
                "1 while the sidecar is live (not draining or initialising).",
                width=8,
                max_value=1,
            )
        )
        .with_panel(
            time_series(
                "Uptime",
                "s",
                [Query(promql.server_gauge(mesh, "uptime"), BY_SIDECAR)],
                "Seconds since each sidecar started; a drop is a restart.",
                width=8,
            )
        )
        .with_panel(
            time_series(
                "Memory",
                "bytes",
                [
                    Query(promql.server_gauge(mesh, "memory_allocated"), f"{BY_SIDECAR} allocated"),
                    Query(promql.server_gauge(mesh, "memory_heap_size"), f"{BY_SIDECAR} heap"),
                ],
                "Memory each sidecar has allocated, and its heap size.",
                width=8,
            )
        )
    )


def panel_queries(settings: Settings) -> list[str]:
    """Every PromQL expression of the Envoy detail dashboard, in panel order."""
    return dashboard_queries(envoy_dashboard(settings))
