"""Envoy's OpenTelemetry tracer in the sidecar bootstrap (pure).

Every sidecar's HTTP listeners (not the metrics listener) trace with W3C trace context
(``traceparent``/``tracestate``, the OpenTelemetry tracer's propagation) and export OTLP/HTTP
to a collector cluster: the CloudWatch agent of the same task on ECS (127.0.0.1:4318, which
sends to X-Ray), Tempo on EKS, the local runner's receiver in the local mesh (only that
cluster's address changes, meshvis/local/localize.py).

Sampling is decided once, where a request enters the mesh: the HCM's ``random_sampling`` marks
the request's ``x-request-id`` (Envoy's UUID request-id extension keeps the decision in it)
and every later sidecar keeps a decision it receives, so a trace is complete or absent as long
as the apps forward ``x-request-id``, ``traceparent`` and ``tracestate`` (the demo app does).

``traceLimitPerMinute`` replaces that share with a ceiling: the sidecars where traces start
(``trace_roots``: the entry services and the load generators) trace every request up to
about that many a minute per service, whatever the traffic; ``traceSampleRate`` applies
when it is 0.
Envoy's only rate-bounded sampler is ``envoy.tracers.opentelemetry.samplers.dynatrace`` (no
Dynatrace needed). It fetches its ceiling over HTTP 10 s after start and then every 5 min
(samplers/dynatrace/sampler_config_provider.cc): from the sidecar's own metrics listener,
which answers it directly, so nothing leaves the task and nothing is logged (with no source,
or a failing one, it logs an error or a warning). It subsamples by powers of two per path,
recomputed every minute, so the ceiling holds within a factor of two (docs/costs.md)
(source/extensions/tracers/opentelemetry/samplers/dynatrace/dynatrace_sampler.cc). Its
decision travels as the ``traceparent``'s sampled flag, which every later sidecar keeps (the
tracer follows its parent when it has no sampler: source/extensions/tracers/opentelemetry/
tracer.cc), so traces stay complete. The HCM still decides first: a request it does not
sample is not traced whatever the sampler says (observed on Envoy 1.40), and the sampler
counts every request it is offered, so the capped sidecars' HCM samples all of them.

Field names were checked against Envoy 1.40.0 with ``envoy --mode validate``
(tests/unit/sidecar/test_bootstrap.py): ``OpenTelemetryConfig.http_service`` (OTLP/HTTP,
so no gRPC is needed anywhere), ``resource_detectors`` with the static-config detector, and
``HttpConnectionManager.Tracing.spawn_upstream_span``.
"""

from __future__ import annotations

import copy
import json

from components.settings.model import ServiceSpec, Settings
from components.settings.ports import METRICS_PORT, OTLP_HTTP_PORT
from components.sidecar.clusters import static_cluster
from components.sidecar.names import (
    INGRESS_PREFIX,
    METRICS_PREFIX,
    TRACE_COLLECTOR_CLUSTER,
    TRACE_SAMPLER_CLUSTER,
)

OTEL_CONFIG = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
# The sampler keeps up to about twice its ceiling (powers-of-two subsampling); costs are
# estimated at that bound.
SAMPLER_OVERSHOOT = 2
_SAMPLERS = "type.googleapis.com/envoy.extensions.tracers.opentelemetry.samplers.v3."
PARENT_BASED_SAMPLER = _SAMPLERS + "ParentBasedSamplerConfig"
DYNATRACE_SAMPLER = _SAMPLERS + "DynatraceSamplerConfig"
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
# The metrics listener's answer to the sampler (a GET on the sidecar's own loopback).
SAMPLER_CONFIG_PATH = "/meshvis-trace-sampler"


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
            if capped(settings, service):
                _answer_sampler(listener, roots_per_minute(settings, service))
            continue
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["tracing"] = {
            # Where the ceiling's sampler runs it alone decides: it counts every request it
            # sees, so a share taken before it would multiply down what it keeps.
            "random_sampling": {
                "value": 100 if capped(settings, service) else settings.trace_sample_rate
            },
            "spawn_upstream_span": listener["name"] != INGRESS_PREFIX,
            "provider": _provider(settings, service),
        }
        for host in hcm["route_config"]["virtual_hosts"]:
            for route in host["routes"]:
                route["decorator"] = {"operation": span_name(service.name, listener["name"])}
    resources["clusters"].append(_collector_cluster(settings))
    if capped(settings, service):
        resources["clusters"].append(static_cluster(TRACE_SAMPLER_CLUSTER, LOOPBACK, METRICS_PORT))
    return traced


def _answer_sampler(metrics_listener: dict, per_minute: int) -> None:
    """The metrics listener answers the sampler's GET with its ceiling, in the JSON the
    sampler parses (samplers/dynatrace/sampler_config.cc: ``rootSpansPerMinute``)."""
    hcm = metrics_listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    routes.insert(
        0,
        {
            "match": {
                "path": SAMPLER_CONFIG_PATH,
                "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
            },
            "direct_response": {
                "status": 200,
                "body": {"inline_string": json.dumps({"rootSpansPerMinute": per_minute})},
            },
        },
    )


def capped(settings: Settings, service: ServiceSpec) -> bool:
    """Whether ``service``'s sidecar runs the ceiling's sampler: only where traces start. A
    later hop follows the sampled flag of the ``traceparent`` it receives (the OpenTelemetry
    tracer does with no sampler), so it needs none, and the sampler's work (about 60,000
    instructions a request, bench/sidecar_profile.py) stays off every other hop."""
    return bool(settings.trace_limit_per_minute) and service in trace_roots(settings)


def component_trace_limit(settings: Settings, service: ServiceSpec) -> int:
    """The ``traceLimitPerMinute`` a topology hands ``service``'s own mesh-service component:
    the mesh's where its traces start, else 0. A component sees only its service and stand-ins
    for its upstreams, so by itself it would take every service for a trace root."""
    return settings.trace_limit_per_minute if capped(settings, service) else 0


def roots_per_minute(settings: Settings, service: ServiceSpec) -> int:
    """The ceiling each replica's sampler gets: the service's ``traceLimitPerMinute`` shared
    by its replicas (at least 1: 0 would be the sampler's default of 1000)."""
    return max(1, -(-settings.trace_limit_per_minute // service.replicas))


def traces_per_second(settings: Settings, entry_requests_per_second: float) -> float:
    """At most how many traces are recorded a second at a steady entry traffic: the sampled
    share, or with a ceiling every request up to the ceiling (with the sampler's overshoot)
    of each service where traces start."""
    if not settings.tracing:
        return 0.0
    if not settings.trace_limit_per_minute:
        return entry_requests_per_second * settings.trace_sample_rate / 100
    ceiling = settings.trace_limit_per_minute / 60 * SAMPLER_OVERSHOOT
    return min(entry_requests_per_second, ceiling * len(trace_roots(settings)))


def trace_roots(settings: Settings) -> list[ServiceSpec]:
    """The services whose sidecars start traces: load generators, and the app services no app
    calls (the entry behind the load balancer: its callers are outside the mesh)."""
    called = {u for s in settings.app_services for u in s.upstreams}
    return [s for s in settings.services if s.is_load or s.name not in called]


def _sampler(settings: Settings, service: ServiceSpec) -> dict:
    """The ceiling's sampler for requests that arrive without a ``traceparent``; a request
    with one (an entry service called by a load generator) keeps its caller's decision:
    OpenTelemetry's ParentBased sampler around it. Without it the entry's own ceiling would
    decide again, and keep traces whose caller's hop was dropped."""
    ceiling = {
        "name": "envoy.tracers.opentelemetry.samplers.dynatrace",
        "typed_config": {
            "@type": DYNATRACE_SAMPLER,
            "tenant": settings.mesh_name,
            "cluster_id": 0,
            "root_spans_per_minute": roots_per_minute(settings, service),
            "http_service": {
                "http_uri": {
                    "uri": f"http://{LOOPBACK}:{METRICS_PORT}{SAMPLER_CONFIG_PATH}",
                    "cluster": TRACE_SAMPLER_CLUSTER,
                    "timeout": EXPORT_TIMEOUT,
                }
            },
        },
    }
    return {
        "name": "envoy.tracers.opentelemetry.samplers.parent_based",
        "typed_config": {"@type": PARENT_BASED_SAMPLER, "wrapped_sampler": ceiling},
    }


def _provider(settings: Settings, service: ServiceSpec) -> dict:
    host, port = collector_address(settings)
    config: dict = {
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
    }
    if capped(settings, service):
        config["sampler"] = _sampler(settings, service)
    return {"name": "envoy.tracers.opentelemetry", "typed_config": config}


def _collector_cluster(settings: Settings) -> dict:
    host, port = collector_address(settings)
    cluster = static_cluster(TRACE_COLLECTOR_CLUSTER, host, port)
    if settings.topology == "eks":
        # Tempo's Service name (one ClusterIP), resolved like the upstreams.
        cluster.update(type="STRICT_DNS", dns_lookup_family="V4_ONLY")
    return cluster
