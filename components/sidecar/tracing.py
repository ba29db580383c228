"""Envoy's OpenTelemetry tracer in the sidecar bootstrap (pure).

Every sidecar's HTTP listeners (not the metrics listener) trace with W3C trace context
(``traceparent``/``tracestate``, the OpenTelemetry tracer's propagation) and export OTLP/HTTP
to a collector cluster: the CloudWatch agent of the same task on ECS (127.0.0.1:4318, which
sends to X-Ray), Tempo on EKS, the local runner's receiver in the local mesh (only that
cluster's address changes, meshvis/local/localize.py).

Sampling is decided once, where a request enters the mesh: the HCM's ``random_sampling`` marks
the request's ``x-request-id`` (Envoy's UUID request-id extension keeps the decision in it)
and every later sidecar keeps a decision it receives, so a trace is complete or absent as long
as the apps forward ``x-request-id`` and ``traceparent`` (the demo app does).

Field names were checked against Envoy 1.40.0 with ``envoy --mode validate``
(tests/unit/sidecar/test_bootstrap.py): ``OpenTelemetryConfig.http_service`` (OTLP/HTTP,
so no gRPC is needed anywhere), ``resource_detectors`` with the static-config detector, and
``HttpConnectionManager.Tracing.spawn_upstream_span``.
"""

from __future__ import annotations

import copy

from components.settings.model import ServiceSpec, Settings
from components.settings.ports import OTLP_HTTP_PORT
from components.sidecar.names import INGRESS_PREFIX, METRICS_PREFIX, TRACE_COLLECTOR_CLUSTER

OTEL_CONFIG = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
STATIC_RESOURCE = (
    "type.googleapis.com/envoy.extensions.tracers.opentelemetry."
    "resource_detectors.v3.StaticConfigResourceDetectorConfig"
)
OTLP_TRACES_PATH = "/v1/traces"
EXPORT_TIMEOUT = "2s"
# Tempo on EKS: the Helm release's fixed name (components/eks/tempo.py sets it as
# fullnameOverride) in the monitoring namespace (components/eks/objects.py
# MONITORING_NAMESPACE); tests/unit/eks/test_tempo.py checks that both agree.
TEMPO_NAME = "tempo"
TEMPO_NAMESPACE = "monitoring"
TEMPO_HOST = f"{TEMPO_NAME}.{TEMPO_NAMESPACE}.svc.cluster.local."
LOOPBACK = "127.0.0.1"


def span_name(service: str, listener: str) -> str:
    """The name of the span a sidecar's listener records for one request (``greeter ingress``,
    ``greeter egress_name``): the route decorator's operation."""
    return f"{service} {listener}"


def collector_address(settings: Settings) -> tuple[str, int]:
    """Where a sidecar of ``settings``' topology sends OTLP/HTTP: the task's CloudWatch agent
    on ECS, Tempo's Service on EKS."""
    if settings.topology == "eks":
        return TEMPO_HOST, OTLP_HTTP_PORT
    return LOOPBACK, OTLP_HTTP_PORT


def with_tracing(bootstrap: dict, settings: Settings, service: ServiceSpec) -> dict:
    """A copy of ``bootstrap`` whose request listeners trace, plus the collector cluster.

    Egress listeners also spawn an upstream span per attempt, so a retry to another replica
    shows as its own child span under the caller's hop.
    """
    traced = copy.deepcopy(bootstrap)
    resources = traced["static_resources"]
    for listener in resources["listeners"]:
        if listener["name"] == METRICS_PREFIX:
            continue
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["tracing"] = {
            "random_sampling": {"value": settings.trace_sample_rate},
            "spawn_upstream_span": listener["name"] != INGRESS_PREFIX,
            "provider": _provider(settings, service),
        }
        for host in hcm["route_config"]["virtual_hosts"]:
            for route in host["routes"]:
                route["decorator"] = {"operation": span_name(service.name, listener["name"])}
    resources["clusters"].append(_collector_cluster(settings))
    return traced


def _provider(settings: Settings, service: ServiceSpec) -> dict:
    host, port = collector_address(settings)
    return {
        "name": "envoy.tracers.opentelemetry",
        "typed_config": {
            "@type": OTEL_CONFIG,
            "http_service": {
                "http_uri": {
                    "uri": f"http://{host.rstrip('.')}:{port}{OTLP_TRACES_PATH}",
                    "cluster": TRACE_COLLECTOR_CLUSTER,
                    "timeout": EXPORT_TIMEOUT,
                }
            },
            "service_name": service.name,
            # The same two names every stat carries (stats_tags), as resource attributes, so a
            # trace and the service's metrics are found by the same labels.
            "resource_detectors": [
                {
                    "name": "envoy.tracers.opentelemetry.resource_detectors.static_config",
                    "typed_config": {
                        "@type": STATIC_RESOURCE,
                        "attributes": {"mesh": settings.mesh_name, "service": service.name},
                    },
                }
            ],
        },
    }


def _collector_cluster(settings: Settings) -> dict:
    host, port = collector_address(settings)
    cluster: dict = {
        "name": TRACE_COLLECTOR_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": TRACE_COLLECTOR_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }
    if settings.topology == "eks":
        # Tempo's Service name (one ClusterIP), resolved like the upstreams.
        cluster.update(type="STRICT_DNS", dns_lookup_family="V4_ONLY")
    return cluster
