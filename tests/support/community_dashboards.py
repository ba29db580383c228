"""What the community Envoy dashboards read: the series selectors of their panels.

Users of the Prometheus topology import the dashboards they know; on ``topology: eks`` the
essential profile keeps what these panels read for the features the mesh uses
(components/sidecar/stats.py COMMUNITY). Only the selectors are kept here, not the dashboards:
each panel's metric with the label matchers it fixes (template variables such as ``$cluster``
or ``$pod`` select everything; histograms are read through ``_bucket``). Read from:

- adinhodovic/envoy-mixin @ d72489297d7834f21e2b3a3675b5148ed1ded85a (2026-03-04),
  dashboards_out/envoy-overview.json, envoy-upstream.json, envoy-downstream.json;
- Grafana 11021 "Envoy Clusters" as Envoy Gateway ships it: envoyproxy/gateway
  charts/gateway-addons-helm/dashboards/envoy-clusters.json
  @ fc0be32b10444f4ebcfa4ec4c6f6e6c994db6135
  (``"gnetId": 11021``; later commits filter clusters by Envoy Gateway's route names);
- Grafana 11022 "Envoy Global": envoyproxy/gateway
  charts/gateway-addons-helm/dashboards/envoy-proxy-global.json
  @ d32f28294245e454d20f81d323d626a90e660c1e
  (``"gnetId": 11022``).

Grafana 6693 "Envoy Proxy" was not found in any stored public repository, so it is not listed.
"""

from __future__ import annotations

import re

from components.sidecar.stats import INGRESS, SERVER, UPSTREAM

MIXIN = "adinhodovic/envoy-mixin"
CLUSTERS_11021 = "Grafana 11021 Envoy Clusters"
GLOBAL_11022 = "Grafana 11022 Envoy Global"

# Each dashboard's distinct panel selectors.
SELECTORS: dict[str, tuple[str, ...]] = {
    MIXIN: (
        "envoy_cluster_membership_healthy",
        "envoy_cluster_membership_total",
        "envoy_cluster_upstream_cx_active",
        "envoy_cluster_upstream_cx_destroy",
        "envoy_cluster_upstream_cx_connect_fail",
        "envoy_cluster_upstream_cx_overflow",
        "envoy_cluster_upstream_rq_time_bucket",
        "envoy_cluster_upstream_rq_total",
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class!="5"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class!~"4|5"}',
        "envoy_cluster_upstream_rq_xx",
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_retry",
        "envoy_cluster_upstream_rq_retry_overflow",
        "envoy_cluster_upstream_rq_timeout",
        "envoy_cluster_circuit_breakers_default_cx_open",
        "envoy_cluster_circuit_breakers_default_cx_pool_open",
        "envoy_cluster_circuit_breakers_default_rq_open",
        "envoy_http_downstream_cx_active",
        "envoy_http_downstream_cx_destroy",
        "envoy_http_downstream_cx_idle_timeout",
        "envoy_http_downstream_cx_rx_bytes_total",
        "envoy_http_downstream_cx_tx_bytes_total",
        "envoy_http_downstream_rq_rx_reset",
        "envoy_http_downstream_rq_tx_reset",
        "envoy_http_downstream_rq_timeout",
        "envoy_http_downstream_rq_time_bucket",
        "envoy_http_downstream_rq_total",
        'envoy_http_downstream_rq_xx{envoy_response_code_class!="5"}',
        'envoy_http_downstream_rq_xx{envoy_response_code_class!~"4|5"}',
        "envoy_http_downstream_rq_xx",
        "envoy_http2_inbound_empty_frames_flood",
        "envoy_http2_inbound_priority_frames_flood",
        "envoy_http2_inbound_window_update_frames_flood",
        "envoy_http2_outbound_control_flood",
        "envoy_http2_outbound_flood",
        "envoy_listener_ssl_certificate_expiration_unix_time_seconds",
    ),
    CLUSTERS_11021: (
        "envoy_server_live",
        "envoy_server_uptime",
        "envoy_server_memory_allocated",
        "envoy_server_memory_heap_size",
        "envoy_cluster_membership_healthy",
        "envoy_cluster_membership_total",
        "envoy_cluster_upstream_cx_active",
        "envoy_cluster_upstream_cx_rx_bytes_total",
        "envoy_cluster_upstream_cx_tx_bytes_total",
        "envoy_cluster_upstream_rq_time_bucket",
        "envoy_cluster_upstream_rq_total",
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class=~"2"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class=~"3"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class=~"4"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class=~"5"}',
        'envoy_http_downstream_cx_rx_bytes_total{envoy_http_conn_manager_prefix=~"http.*"}',
        'envoy_http_downstream_cx_tx_bytes_total{envoy_http_conn_manager_prefix=~"http.*"}',
    ),
    GLOBAL_11022: (
        "envoy_server_live",
        "envoy_server_uptime",
        "envoy_server_memory_allocated",
        "envoy_server_memory_heap_size",
        "envoy_http_downstream_rq_total",
        "envoy_http_downstream_cx_total",
        "envoy_http_downstream_rq_time_bucket",
        "envoy_listener_downstream_cx_active",
        "envoy_tcp_downstream_cx_total",
        "envoy_tcp_downstream_cx_rx_bytes_total",
        "envoy_tcp_downstream_cx_tx_bytes_total",
        "envoy_cluster_upstream_rq_total",
        "envoy_cluster_upstream_cx_total",
        "envoy_cluster_upstream_rq_time_bucket",
        "envoy_cluster_upstream_cx_active",
        "envoy_cluster_upstream_cx_rx_bytes_total",
        "envoy_cluster_upstream_cx_tx_bytes_total",
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class=~"2"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class=~"3"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class="4"}',
        'envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}',
        "envoy_cluster_membership_healthy",
        "envoy_cluster_membership_total",
        "envoy_listener_ssl_certificate_expiration_unix_time_seconds",
    ),
}

# Stats the panels read that the mesh does not keep, and why: features it does not use, or a
# finer split of a stat it keeps.
NOT_KEPT = {
    "envoy_http2_": "HTTP/2 flood protection: the mesh speaks HTTP/1.1",
    "envoy_listener_ssl_": "TLS certificates: the sidecars serve plain text",
    "envoy_tcp_": "TCP proxy: every listener is an HTTP connection manager",
    "envoy_listener_downstream_": "per-address listener connections: the same connections are "
    "kept per HTTP connection manager (downstream_cx_active)",
    "envoy_cluster_upstream_rq": "per status code: the class (upstream_rq_xx) is kept",
}
_SCOPES = {"envoy_cluster_": UPSTREAM, "envoy_http_": INGRESS, "envoy_server_": SERVER}
_METRIC = re.compile(r"^(envoy_[a-z0-9_]+?)(_bucket)?(\{.*\})?$")


def metric(selector: str) -> str:
    """The stat's metric name a selector reads (``_bucket`` dropped)."""
    match = _METRIC.fullmatch(selector)
    assert match, f"not a stat selector: {selector}"
    return match.group(1)


def all_selectors() -> list[str]:
    """Every distinct selector of every listed dashboard."""
    return sorted(set().union(*SELECTORS.values()))


def kept_reads() -> set[tuple[str, str]]:
    """(scope, metric) of every stat the panels read that the mesh keeps for them."""
    found = set()
    for selector in all_selectors():
        name = metric(selector)
        if any(
            name == prefix or (prefix.endswith("_") and name.startswith(prefix))
            for prefix in NOT_KEPT
        ):
            continue
        [scope] = [scope for prefix, scope in _SCOPES.items() if name.startswith(prefix)]
        found.add((scope, name))
    return found
