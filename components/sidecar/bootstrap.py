"""The Envoy sidecar bootstrap: one pure function from settings to the document Envoy loads.

Static listeners and clusters, DNS discovery, no xDS server (App Mesh is gone). The same
document is passed as ``--config-yaml`` on ECS, mounted from a ConfigMap on EKS, and run by
the local mesh with only addresses and ports rewritten (meshvis/local/localize.py).
"""

from __future__ import annotations

from typing import Any

from components.settings.model import ServiceSpec, Settings
from components.settings.ports import ADMIN_PORT, INGRESS_PORT, METRICS_PORT, STATSD_PORT
from components.settings.slo import LATENCY_BUCKETS_MS
from components.sidecar.clusters import CONNECT_TIMEOUT, address, endpoints, static_cluster
from components.sidecar.demo_app import app_health_path
from components.sidecar.faults import fault_exemption, fault_filter, fault_runtime
from components.sidecar.names import (
    ADMIN_CLUSTER,
    INGRESS_PREFIX,
    LB_HEALTH_PATH,
    LOCAL_APP_CLUSTER,
    METRICS_PREFIX,
    egress_prefix,
)
from components.sidecar.stats import essential_stats_matcher
from components.sidecar.tracing import with_tracing

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
HTTP_OPTIONS_NAME = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
DOWNSTREAM_CONNECTIONS = (
    "type.googleapis.com/envoy.extensions.resource_monitors."
    "downstream_connections.v3.DownstreamConnectionsConfig"
)
DOG_STATSD = "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink"
# A flush's counters and gauges per datagram: one datagram for an essential sidecar's whole
# flush (about 3 KB on greeter), far below what the agent reads at once (64 KiB,
# plugins/inputs/statsd/statsd.go UDP_MAX_PACKET_SIZE @ab55b8da) and loopback's MTU.
STATSD_DATAGRAM_BYTES = 8192

# Timeouts and resilience of every upstream call. Retries go to another host
# (previous_hosts) so that one bad replica is routed around while outlier detection ejects it.
ROUTE_TIMEOUT = "10s"
PER_TRY_TIMEOUT = "3s"
NUM_RETRIES = 2
RETRY_ON = "5xx,reset,connect-failure,refused-stream"

# One JSON object per request; field names are what Logs Insights queries and `kubectl logs`
# filters use (dashboards/cloudwatch/logs_insights.py).
ACCESS_LOG_FORMAT = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
    "upstream_service_time_ms": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "user_agent": "%REQ(USER-AGENT)%",
}

# The access-log policy (``accessLog``) as Envoy's own access-log filters. A request failed if
# it was answered 5xx or carries any response flag (UF, URX, UO, UT, UH, NR, DC: resets and
# "no route" included); failed and slow requests are always logged. The sample is decided
# from the request's x-request-id (``use_independent_randomness: false``: RuntimeFilter takes
# the stream id's integer modulo the denominator, and the UUID request-id extension's integer
# is the id's first 8 hex digits: envoyproxy/envoy source/common/access_log/access_log_impl.cc
# and source/extensions/request_id/uuid/config.cc), which the apps forward, so every sidecar a
# request passes makes the same decision and a sampled request is logged on each hop. Egress
# listeners log only failed calls: the callee's ingress logs the healthy and slow ones. No
# runtime keys where Envoy does not require one: every byte repeats per listener in the ECS
# task definition.
FAILED_FILTERS: tuple[dict[str, Any], ...] = (
    {"status_code_filter": {"comparison": {"op": "GE", "value": {"default_value": 500}}}},
    {"response_flag_filter": {}},  # no flags listed: any flag matches
)


def envoy_bootstrap(settings: Settings, service: ServiceSpec) -> dict:
    """The bootstrap of ``service``'s sidecar on the stack's topology, as a plain dict.

    Follows the sidecar contract in DESIGN.md: ingress on 15000 (not for load generators),
    one loopback egress listener per upstream from 9001, admin on 127.0.0.1:9901 only, and a
    metrics listener on 9902 that serves only ``/stats/prometheus`` and ``/ready``.
    """
    listeners = []
    clusters = [static_cluster(ADMIN_CLUSTER, "127.0.0.1", ADMIN_PORT)]
    if not service.is_load:
        listeners.append(
            _listener(
                INGRESS_PREFIX,
                "0.0.0.0",
                INGRESS_PORT,
                _route(LOCAL_APP_CLUSTER, retries=False),
                _access_log(settings, service, INGRESS_PREFIX, ingress=True),
                (fault_filter(service.faults),) if service.faults is not None else (),
                first_routes=(
                    (_lb_health_route(service),) if behind_load_balancer(settings, service) else ()
                ),
            )
        )
        clusters.append(static_cluster(LOCAL_APP_CLUSTER, "127.0.0.1", service.app_port))
    for upstream in service.upstreams:
        listeners.append(
            _listener(
                egress_prefix(upstream),
                "127.0.0.1",
                service.egress_port(upstream),
                _route(upstream, retries=True),
                _access_log(settings, service, egress_prefix(upstream), ingress=False),
            )
        )
        clusters.append(_upstream_cluster(upstream, settings.upstream_hosts(upstream)))
    listeners.append(_metrics_listener())

    stats_config: dict = {
        "use_all_default_tags": True,
        "stats_tags": [
            {"tag_name": "mesh", "fixed_value": settings.mesh_name},
            {"tag_name": "service", "fixed_value": service.name},
        ],
    }
    if settings.stats_profile == "essential":
        stats_config["stats_matcher"] = essential_stats_matcher(settings.topology, service.kind)
    if not service.is_load:
        # The latency SLI counts requests in the bucket le=latencyMs: give the ingress request
        # time the SLO boundaries (components/settings/slo.py). Envoy matches the stat's full
        # name (source/common/stats/histogram_impl.cc HistogramSettingsImpl::buckets).
        stats_config["histogram_bucket_settings"] = [
            {
                "match": {"exact": f"http.{INGRESS_PREFIX}.downstream_rq_time"},
                "buckets": list(LATENCY_BUCKETS_MS),
            }
        ]
    bootstrap: dict = {
        "node": {"id": f"{settings.mesh_name}-{service.name}", "cluster": service.name},
        "admin": {"address": address("127.0.0.1", ADMIN_PORT)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        "stats_config": stats_config,
        "stats_flush_interval": "10s",
        # Bounds memory under a connection flood (and silences Envoy's start-up warning).
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": DOWNSTREAM_CONNECTIONS,
                        "max_active_downstream_connections": 10000,
                    },
                }
            ]
        },
    }
    if service.faults is not None:
        # The admin layer that lets a game day raise and clear faults at run time.
        bootstrap["layered_runtime"] = fault_runtime(service.faults)
    if settings.topology == "ecs":
        # Envoy's DogStatsD sink into the CloudWatch agent sidecar of the same task.
        bootstrap["stats_sinks"] = [dog_statsd_sink(STATSD_PORT)]
    if not settings.tracing:
        return bootstrap
    outside = behind_load_balancer(settings, service)
    return with_tracing(bootstrap, settings, service, outside_callers=outside)


def dog_statsd_sink(port: int) -> dict:
    """A DogStatsD stats sink to UDP 127.0.0.1:``port`` (the CloudWatch agent on ECS).

    At each flush the counters and gauges go out batched, newline-separated, up to
    ``STATSD_DATAGRAM_BYTES`` a datagram, instead of one datagram (one syscall, one wake-up of
    the agent) each. Histogram samples are not batched whatever this says: Envoy sends each
    on the worker thread that served the request (envoyproxy/envoy
    source/extensions/stat_sinks/common/statsd/statsd.cc, UdpStatsdSink::onHistogramComplete).
    """
    return {
        "name": "envoy.stat_sinks.dog_statsd",
        "typed_config": {
            "@type": DOG_STATSD,
            "address": address("127.0.0.1", port),
            "max_bytes_per_datagram": STATSD_DATAGRAM_BYTES,
        },
    }


def behind_load_balancer(settings: Settings, service: ServiceSpec) -> bool:
    """Whether the service's ingress is the ALB's target (the ecs entry service)."""
    return settings.topology == "ecs" and settings.entry_service == service.name


# Everything but the load balancer's health checks (LB_HEALTH_PATH, rewritten to healthPath:
# Envoy keeps the path asked for in x-envoy-original-path). Most requests have no such header:
# without treat_missing_header_as_empty an absent header fails the match even inverted
# (observed on Envoy 1.40: every request left the sample).
_NOT_LB_PROBE = {
    "header_filter": {
        "header": {
            "name": "x-envoy-original-path",
            "string_match": {"exact": LB_HEALTH_PATH},
            "invert_match": True,
            "treat_missing_header_as_empty": True,
        }
    }
}


def access_log_filter(settings: Settings, *, ingress: bool, lb_probes: bool = False) -> dict | None:
    """The Envoy access-log filter of an ingress or egress listener under ``accessLog``
    (None: every request is logged). ``lb_probes``: the listener also answers the load
    balancer's health checks, which stay out of the sample (failed or slow, they are logged)."""
    if settings.access_log == "all":
        return None
    keep = list(FAILED_FILTERS)
    if ingress:
        keep.append(
            {
                "duration_filter": {
                    "comparison": {"op": "GE", "value": {"default_value": settings.slow_request_ms}}
                }
            }
        )
        if settings.access_log == "sampled":
            sample: dict = {
                "runtime_filter": {
                    "runtime_key": "meshvis.access_log.sample_percent",
                    "percent_sampled": {
                        "numerator": settings.access_log_sample_percent,
                        "denominator": "HUNDRED",
                    },
                    "use_independent_randomness": False,
                }
            }
            if lb_probes:
                sample = {"and_filter": {"filters": [_NOT_LB_PROBE, sample]}}
            keep.append(sample)
    return {"or_filter": {"filters": keep}}


def _access_log(
    settings: Settings, service: ServiceSpec, stat_prefix: str, *, ingress: bool
) -> list[dict]:
    if settings.access_log == "off":
        return []
    fields = {**ACCESS_LOG_FORMAT, "service": service.name, "listener": stat_prefix}
    log: dict = {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {"@type": STDOUT_LOG, "log_format": {"json_format": fields}},
    }
    keep = access_log_filter(
        settings, ingress=ingress, lb_probes=ingress and behind_load_balancer(settings, service)
    )
    if keep is not None:
        log["filter"] = keep
    return [log]


def _listener(
    stat_prefix: str,
    host: str,
    port: int,
    route: dict,
    access_log: list[dict],
    filters: tuple[dict, ...] = (),
    first_routes: tuple[dict, ...] = (),
) -> dict:
    """An HTTP listener: ``filters`` (HTTP filters) run before the router, ``first_routes``
    are matched before ``route``."""
    return {
        "name": stat_prefix,
        "address": address(host, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": stat_prefix,
                            "codec_type": "AUTO",
                            "normalize_path": True,
                            "merge_slashes": True,
                            "generate_request_id": True,
                            "access_log": access_log,
                            "route_config": {
                                "name": stat_prefix,
                                "virtual_hosts": [
                                    {
                                        "name": stat_prefix,
                                        "domains": ["*"],
                                        "routes": [*first_routes, route],
                                    }
                                ],
                            },
                            "http_filters": [
                                *filters,
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {"@type": ROUTER},
                                },
                            ],
                        },
                    }
                ]
            }
        ],
    }


def _route(cluster: str, *, retries: bool) -> dict:
    action: dict = {"cluster": cluster, "timeout": ROUTE_TIMEOUT}
    if retries:
        action["retry_policy"] = {
            "retry_on": RETRY_ON,
            "num_retries": NUM_RETRIES,
            "per_try_timeout": PER_TRY_TIMEOUT,
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.retry.host."
                        "previous_hosts.v3.PreviousHostsPredicate"
                    },
                }
            ],
            "host_selection_retry_max_attempts": 3,
        }
    return {"match": {"prefix": "/"}, "route": action}


def _lb_health_route(service: ServiceSpec) -> dict:
    """The load balancer's health check, to the app's ``healthPath``, never traced.

    Each load balancer node checks each target every 15 s (tens of thousands of checks a
    month per target), which would otherwise start traces at the sample rate and fill the
    access-log sample; a route's sampling overrides the connection manager's
    (envoy.config.route.v3.Tracing: client, random and overall sampling).
    """
    never = {"numerator": 0}
    route: dict = {
        "match": {"path": LB_HEALTH_PATH},
        "route": {
            "cluster": LOCAL_APP_CLUSTER,
            "timeout": "5s",
            # An exact path match swaps the whole path (RouteAction.prefix_rewrite). The path
            # the app container's own health check asks (the demo app's /health), so the load
            # balancer and ECS judge the app by one answer.
            "prefix_rewrite": app_health_path(service),
        },
        "tracing": {"client_sampling": never, "random_sampling": never, "overall_sampling": never},
    }
    if service.faults is not None:
        # A game day's faults must not fail the load balancer's checks: the ALB would
        # replace the entry's tasks instead of showing the fault to callers.
        route["typed_per_filter_config"] = fault_exemption()
    return route


def _metrics_listener() -> dict:
    """0.0.0.0:9902, GET /stats/prometheus and GET /ready only, proxied to the admin port.

    The admin interface stays on loopback: nothing outside the task or pod can reach
    /quitquitquit, /config_dump or any other admin path.
    """
    get_only = [{"name": ":method", "string_match": {"exact": "GET"}}]
    routes = [
        {
            "match": {"path": path, "headers": get_only},
            "route": {"cluster": ADMIN_CLUSTER, "timeout": "5s"},
        }
        for path in ("/stats/prometheus", "/ready")
    ]
    routes.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "not found\n"}},
        }
    )
    return {
        "name": METRICS_PREFIX,
        "address": address("0.0.0.0", METRICS_PORT),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": METRICS_PREFIX,
                            "codec_type": "AUTO",
                            "route_config": {
                                "name": METRICS_PREFIX,
                                "virtual_hosts": [
                                    {"name": METRICS_PREFIX, "domains": ["*"], "routes": routes}
                                ],
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {"@type": ROUTER},
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


def _upstream_cluster(upstream: str, hosts: tuple[str, ...]) -> dict:
    """``upstream`` at every name in ``hosts``: STRICT_DNS resolves each on its own and
    balances over all the addresses found, so a name without an answer (a namespace the
    upstream is not registered in yet, or any more) leaves the others serving."""
    return {
        "name": upstream,
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": CONNECT_TIMEOUT,
        "lb_policy": "LEAST_REQUEST",
        "load_assignment": endpoints(upstream, [(host, INGRESS_PORT) for host in hosts]),
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": 1024,
                    "max_pending_requests": 1024,
                    "max_requests": 1024,
                    # Retries may add at most 20% to the load on a struggling upstream.
                    "retry_budget": {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3},
                }
            ]
        },
        "outlier_detection": {
            "consecutive_5xx": 5,
            "consecutive_gateway_failure": 3,
            "interval": "2s",
            "base_ejection_time": "10s",
            "max_ejection_percent": 100,
        },
        "typed_extension_protocol_options": {
            HTTP_OPTIONS_NAME: {
                "@type": f"type.googleapis.com/{HTTP_OPTIONS_NAME}",
                "common_http_protocol_options": {"idle_timeout": "30s"},
                "explicit_http_config": {"http_protocol_options": {}},
            }
        },
    }
