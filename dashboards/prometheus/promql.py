"""PromQL for the golden signals, shared by the Grafana dashboards, the alert rules and the
local mesh's live view, so every place that shows a number computes it the same way.

Labels come from the sidecar bootstrap: fixed stats tags ``mesh`` and ``service``, and Envoy's
default tags (``envoy_cluster_name``, ``envoy_http_conn_manager_prefix``,
``envoy_response_code_class``).
"""

from __future__ import annotations

from components.sidecar.names import INGRESS_PREFIX, SIDECAR_CLUSTERS, egress_prefix

DEFAULT_WINDOW = "1m"


def _ingress(mesh: str) -> str:
    return f'mesh="{mesh}",envoy_http_conn_manager_prefix="{INGRESS_PREFIX}"'


def _upstreams(mesh: str) -> str:
    # Other services only: not the sidecar's own plumbing (its app, admin, trace collector).
    return f'mesh="{mesh}",envoy_cluster_name!~"{"|".join(SIDECAR_CLUSTERS)}"'


def _outbound(mesh: str) -> str:
    # Egress listeners: what a caller's app gets back, after its sidecar's retries.
    return f'mesh="{mesh}",envoy_http_conn_manager_prefix=~"{egress_prefix("")}.+"'


def request_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Requests per second each service serves (its ingress listener)."""
    return f"sum by (service) (rate(envoy_http_downstream_rq_total{{{_ingress(mesh)}}}[{window}]))"


def _class_share(metric: str, selector: str, by: str, match: str, window: str) -> str:
    """Share (0..1) of ``metric``'s responses whose ``envoy_response_code_class`` ``match``es
    (e.g. ``="5"`` or ``!="5"``), per ``by``."""
    return (
        f"sum by ({by}) (rate({metric}{{{selector},envoy_response_code_class{match}}}"
        f"[{window}])) / sum by ({by}) (rate({metric}{{{selector}}}[{window}]))"
    )


def success_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of each service's served requests that did not answer 5xx."""
    return _class_share("envoy_http_downstream_rq_xx", _ingress(mesh), "service", '!="5"', window)


def error_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of each service's served requests that answered 5xx."""
    return _class_share("envoy_http_downstream_rq_xx", _ingress(mesh), "service", '="5"', window)


def latency_quantile(mesh: str, quantile: float, window: str = DEFAULT_WINDOW) -> str:
    """The ``quantile`` of each service's request duration, in milliseconds."""
    return (
        f"histogram_quantile({quantile}, sum by (service, le) "
        f"(rate(envoy_http_downstream_rq_time_bucket{{{_ingress(mesh)}}}[{window}])))"
    )


def active_connections(mesh: str) -> str:
    """Open downstream connections on each service's ingress listener."""
    return f"sum by (service) (envoy_http_downstream_cx_active{{{_ingress(mesh)}}})"


def sidecars_up(mesh: str, job: str) -> str:
    """Sidecars of each service that answered their last scrape by ``job`` (``up``: 0 for a
    target that did not answer, so a service whose sidecars all stopped counts 0)."""
    return f'sum by (service) (up{{job="{job}",mesh="{mesh}"}})'


def healthy_upstream_hosts(mesh: str) -> str:
    """Healthy hosts across the upstream clusters of each service's sidecar."""
    return f"sum by (service) (envoy_cluster_membership_healthy{{{_upstreams(mesh)}}})"


def upstream_request_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Requests per second each service sends to its upstreams (load generators included)."""
    return (
        f"sum by (service) (rate(envoy_cluster_upstream_rq_total{{{_upstreams(mesh)}}}[{window}]))"
    )


# Per upstream cluster of each service's sidecar (the Envoy detail dashboard and the alerts).
_BY_CLUSTER = "service, envoy_cluster_name"


def upstream_error_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of the requests each service sends to each upstream that answered 5xx."""
    return _class_share(
        "envoy_cluster_upstream_rq_xx", _upstreams(mesh), _BY_CLUSTER, '="5"', window
    )


def upstream_error_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """5xx answers per second each service receives from each upstream."""
    return (
        f"sum by ({_BY_CLUSTER}) (rate(envoy_cluster_upstream_rq_xx{{{_upstreams(mesh)},"
        f'envoy_response_code_class="5"}}[{window}]))'
    )


def upstream_cluster_gauge(mesh: str, stat: str, aggregation: str = "sum") -> str:
    """A gauge of every upstream cluster (``stat`` without the ``envoy_cluster_`` prefix),
    aggregated over the sidecars of each service."""
    return f"{aggregation} by ({_BY_CLUSTER}) (envoy_cluster_{stat}{{{_upstreams(mesh)}}})"


def upstream_cluster_rate(mesh: str, stat: str, window: str = DEFAULT_WINDOW) -> str:
    """Per-second rate of a counter of every upstream cluster (``stat`` without the
    ``envoy_cluster_`` prefix), summed over the sidecars of each service."""
    return f"sum by ({_BY_CLUSTER}) (rate(envoy_cluster_{stat}{{{_upstreams(mesh)}}}[{window}]))"


def server_gauge(mesh: str, stat: str, aggregation: str = "max") -> str:
    """A gauge of every sidecar process (``stat`` without the ``envoy_server_`` prefix),
    one series per sidecar (``instance``)."""
    return f'{aggregation} by (service, instance) (envoy_server_{stat}{{mesh="{mesh}"}})'


def outbound_request_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Requests per second each service's app sends through its egress listeners (a load
    generator's offered load)."""
    return f"sum by (service) (rate(envoy_http_downstream_rq_total{{{_outbound(mesh)}}}[{window}]))"


def outbound_success_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of the calls each service's app makes that did not get a 5xx: success end
    to end when the caller is a load generator."""
    return _class_share("envoy_http_downstream_rq_xx", _outbound(mesh), "service", '!="5"', window)


def response_counts(mesh: str, outbound: bool = False) -> str:
    """Responses per service and class since its sidecars started: answered on the ingress, or
    (``outbound``) received through the egress listeners. Exact totals for a run's summary."""
    selector = _outbound(mesh) if outbound else _ingress(mesh)
    return (
        f"sum by (service, envoy_response_code_class) (envoy_http_downstream_rq_xx{{{selector}}})"
    )


# The service map: one edge per caller and upstream, read from the caller's upstream cluster
# (Envoy's `upstream_rq_<class>` and `upstream_rq_time`), so it exists on every topology and
# without tracing. `service` is the caller, `envoy_cluster_name` the upstream.


def edge_request_rate(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Responses per second each caller gets from each upstream."""
    return (
        f"sum by ({_BY_CLUSTER}) "
        f"(rate(envoy_cluster_upstream_rq_xx{{{_upstreams(mesh)}}}[{window}]))"
    )


def edge_error_ratio(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Share (0..1) of each caller's responses from each upstream that were 5xx: 0, not
    absent, for an edge without any (the 5xx series only exists after the first one)."""
    selector = _upstreams(mesh)
    total = f"sum by ({_BY_CLUSTER}) (rate(envoy_cluster_upstream_rq_xx{{{selector}}}[{window}]))"
    errors = (
        f"sum by ({_BY_CLUSTER}) (rate(envoy_cluster_upstream_rq_xx{{{selector},"
        f'envoy_response_code_class="5"}}[{window}]))'
    )
    return f"({errors} or {total} * 0) / {total}"


def edge_latency_quantile(mesh: str, quantile: float, window: str = DEFAULT_WINDOW) -> str:
    """The ``quantile`` of each upstream's response time as each caller sees it, in ms."""
    return (
        f"histogram_quantile({quantile}, sum by ({_BY_CLUSTER}, le) "
        f"(rate(envoy_cluster_upstream_rq_time_bucket{{{_upstreams(mesh)}}}[{window}])))"
    )


def _as_edge(expr: str) -> str:
    """``expr`` by (service, envoy_cluster_name) with the node graph's edge fields as labels:
    ``source`` (the caller), ``target`` (the upstream) and ``id``."""
    labelled = (
        f'label_replace(label_replace({expr}, "source", "$1", "service", "(.*)"), '
        f'"target", "$1", "envoy_cluster_name", "(.*)")'
    )
    return f'label_join({labelled}, "id", " -> ", "source", "target")'


def node_graph_edges(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Every edge of the service map with its request rate (Grafana's node graph)."""
    return _as_edge(edge_request_rate(mesh, window))


def node_graph_nodes(mesh: str, window: str = DEFAULT_WINDOW) -> str:
    """Every service of the map with its rate: requests it serves, or (a load generator,
    which serves none) the calls it makes; ``id`` and ``title`` are the service."""
    sent = f"sum by (service) (rate(envoy_cluster_upstream_rq_xx{{{_upstreams(mesh)}}}[{window}]))"
    served = f"{request_rate(mesh, window)} or {sent}"
    with_id = f'label_replace({served}, "id", "$1", "service", "(.*)")'
    return f'label_replace({with_id}, "title", "$1", "service", "(.*)")'
