"""PromQL for the golden signals, shared by the Grafana dashboards, the alert rules and the
local mesh's live view, so every place that shows a number computes it the same way.

Labels come from the sidecar bootstrap: fixed stats tags ``mesh`` and ``service``, and Envoy's
default tags (``envoy_cluster_name``, ``envoy_http_conn_manager_prefix``,
``envoy_response_code_class``).
"""

from __future__ import annotations

from components.telemetry import ADMIN_CLUSTER, INGRESS_PREFIX, LOCAL_APP_CLUSTER

DEFAULT_WINDOW = "1m"


def _ingress(mesh: str) -> str:
    return f'mesh="{mesh}",envoy_http_conn_manager_prefix="{INGRESS_PREFIX}"'


def _upstreams(mesh: str) -> str:
    return f'mesh="{mesh}",envoy_cluster_name!~"{LOCAL_APP_CLUSTER}|{ADMIN_CLUSTER}"'


def request_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Requests per second each service serves (its ingress listener)."""
    return f"sum by (service) (rate(envoy_http_downstream_rq_total{{{_ingress(mesh)}}}[{window}]))"


def success_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of each service's served requests that did not answer 5xx."""
    rq = f"envoy_http_downstream_rq_xx{{{_ingress(mesh)}}}"
    return (f'sum by (service) (rate(envoy_http_downstream_rq_xx{{{_ingress(mesh)},'
            f'envoy_response_code_class!="5"}}[{window}])) / '
            f"sum by (service) (rate({rq}[{window}]))")


def error_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of each service's served requests that answered 5xx."""
    return (f'sum by (service) (rate(envoy_http_downstream_rq_xx{{{_ingress(mesh)},'
            f'envoy_response_code_class="5"}}[{window}])) / '
            f"sum by (service) (rate(envoy_http_downstream_rq_xx{{{_ingress(mesh)}}}[{window}]))")


def latency_quantile(mesh: str, quantile: float, window: str = DEFAULT_WINDOW) -> str:
    """The ``quantile`` of each service's request duration, in milliseconds."""
    return (f"histogram_quantile({quantile}, sum by (service, le) "
            f"(rate(envoy_http_downstream_rq_time_bucket{{{_ingress(mesh)}}}[{window}])))")


def active_connections(mesh: str) -> str:
    """Open downstream connections on each service's ingress listener."""
    return f"sum by (service) (envoy_http_downstream_cx_active{{{_ingress(mesh)}}})"


def healthy_upstream_hosts(mesh: str) -> str:
    """Healthy hosts across the upstream clusters of each service's sidecar."""
    return f"sum by (service) (envoy_cluster_membership_healthy{{{_upstreams(mesh)}}})"


def upstream_request_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Requests per second each service sends to its upstreams (load generators included)."""
    return f"sum by (service) (rate(envoy_cluster_upstream_rq_total{{{_upstreams(mesh)}}}[{window}]))"
