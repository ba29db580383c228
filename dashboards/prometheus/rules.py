"""Prometheus alert rules of the mesh (pure): one rule group, as a Prometheus rule file
(``components/eks/monitoring.py`` wraps it in the PrometheusRule the operator loads on EKS).

Thresholds come from the stack configuration (``errorRateAlarmPercent``, ``latencyAlarmMs``),
the same ones the CloudWatch alarms use on ECS. Windows and ``for`` durations follow
adinhodovic/envoy-mixin: a 5-minute rate window, 1 minute of persistence for errors, and a
minimum error rate so that a single failure in a quiet minute does not page.
"""

from __future__ import annotations

from components.settings.model import Settings
from components.settings.naming import PROJECT
from dashboards.prometheus import promql
from dashboards.prometheus.scrape import JOB_NAME
from dashboards.prometheus.slo import slo_rule_groups

WINDOW = "5m"
# 5xx answers per second below which the ratio alone is noise (3 errors a minute).
MIN_ERROR_RATE = 0.05
ERROR_FOR = "1m"
LATENCY_FOR = "5m"
NO_HEALTHY_HOSTS_FOR = "1m"
# A sidecar restarting, or its pod being replaced, misses a scrape or two; two minutes of
# failed scrapes is a sidecar that is not coming back by itself.
SIDECAR_DOWN_FOR = "2m"
# One sidecar down is a ticket, not a page: the service's other replicas, its callers' retries
# and outlier detection cover it (the game day's replica-loss scenario, docs/gameday.md), and
# a whole service down pages through MeshUpstreamNoHealthyHosts (critical: Alertmanager sends
# the mesh's critical alerts, components/eks/alerting.py) and its callers' SLOs.
SIDECAR_DOWN_SEVERITY = "warning"
SIDECARS_ABSENT_FOR = "5m"

UPSTREAM_5XX = "MeshUpstreamHigh5xxRatio"
HIGH_LATENCY = "MeshServiceHighP99Latency"
NO_HEALTHY_HOSTS = "MeshUpstreamNoHealthyHosts"
SIDECAR_DOWN = "MeshSidecarDown"
SIDECARS_ABSENT = "MeshSidecarsAbsent"
ALERTS = (UPSTREAM_5XX, HIGH_LATENCY, NO_HEALTHY_HOSTS, SIDECAR_DOWN, SIDECARS_ABSENT)


def rule_group_name(settings: Settings) -> str:
    return f"{PROJECT}-{settings.mesh_name}"


def _alert(
    name: str, expr: str, duration: str, severity: str, mesh: str, summary: str, description: str
) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "mesh": mesh},
        "annotations": {"summary": summary, "description": description},
    }


def rule_group(settings: Settings) -> dict:
    """The mesh's alert rules as one Prometheus rule group."""
    mesh = settings.mesh_name
    percent = settings.error_rate_alarm_percent
    latency_ms = settings.latency_alarm_ms
    up = f'up{{job="{JOB_NAME}"}}'
    cluster = "{{ $labels.service }} -> {{ $labels.envoy_cluster_name }}"
    return {
        "name": rule_group_name(settings),
        "rules": [
            _alert(
                UPSTREAM_5XX,
                f"({promql.upstream_error_ratio(mesh, WINDOW)}) * 100 > {percent:g}\n"
                f"and\n{promql.upstream_error_rate(mesh, WINDOW)} > {MIN_ERROR_RATE:g}",
                ERROR_FOR,
                "critical",
                mesh,
                f"Upstream answers more than {percent:g}% 5xx.",
                f'{cluster}: {{{{ printf "%.1f" $value }}}}% of requests answered 5xx '
                f"over the last {WINDOW}.",
            ),
            _alert(
                HIGH_LATENCY,
                f"{promql.latency_quantile(mesh, 0.99, WINDOW)} > {latency_ms}",
                LATENCY_FOR,
                "warning",
                mesh,
                f"p99 latency above {latency_ms} ms.",
                f"{{{{ $labels.service }}}} answers 1% of its requests in more than "
                f'{{{{ printf "%.0f" $value }}}} ms (threshold {latency_ms} ms).',
            ),
            _alert(
                NO_HEALTHY_HOSTS,
                f"{promql.upstream_cluster_gauge(mesh, 'membership_healthy', 'min')} == 0",
                NO_HEALTHY_HOSTS_FOR,
                "critical",
                mesh,
                "{{ $labels.envoy_cluster_name }} has no healthy host: it is out.",
                f"{cluster}: at least one sidecar of the caller sees no healthy host; its "
                "requests to that upstream fail with 503.",
            ),
            _alert(
                SIDECAR_DOWN,
                f"{up} == 0",
                SIDECAR_DOWN_FOR,
                SIDECAR_DOWN_SEVERITY,
                mesh,
                "An Envoy sidecar does not answer its metrics scrape.",
                "{{ $labels.service }} sidecar {{ $labels.instance }} has not answered "
                f"Prometheus for {SIDECAR_DOWN_FOR}.",
            ),
            _alert(
                SIDECARS_ABSENT,
                f"absent({up})",
                SIDECARS_ABSENT_FOR,
                "critical",
                mesh,
                "Prometheus finds no Envoy sidecar at all.",
                f"No target of the scrape job {JOB_NAME} for {SIDECARS_ABSENT_FOR}: the mesh "
                "is not running or the scrape job does not find it.",
            ),
        ],
    }


def rules_file(settings: Settings) -> dict:
    """The rule group and the SLO rule groups (``slo.slo_rule_groups``) as a Prometheus rule
    file (``rule_files``, ``promtool check rules``)."""
    return {"groups": [rule_group(settings), *slo_rule_groups(settings)]}


def at_global_interval(rules: dict) -> dict:
    """``rules`` with every group evaluated at Prometheus's global interval: what a run of a
    few minutes needs (the local mesh), where a group's own slower interval
    (``slo.WINDOW_GROUP_INTERVAL``) would not have run yet when the run ends."""
    return {
        **rules,
        "groups": [
            {k: v for k, v in group.items() if k != "interval"} for group in rules["groups"]
        ],
    }
