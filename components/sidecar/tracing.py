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

``traceLimitPerMinute`` replaces that share with a ceiling on every sidecar (load generators
then do not trace: they stand for the users outside the mesh): the HCM samples every request
and OpenTelemetry's ParentBased sampler keeps the decision of a request that brings a
``traceparent``; one that brings none (it entered the mesh here, or its app forwarded only
``x-request-id``) is decided by the sidecar's own ceiling. The HCM decides first, for child
spans too: a request it does not sample is not traced whatever the parent's flag says
(observed on Envoy 1.40), so a share below 100 % anywhere would cut traces the entry kept.
The entry behind the load balancer removes ``traceparent`` and ``tracestate`` before tracing
(``early_header_mutation_extensions``), so a client cannot choose to be traced.
``traceSampleRate`` applies when ``traceLimitPerMinute`` is 0.

Envoy's only rate-bounded sampler is ``envoy.tracers.opentelemetry.samplers.dynatrace`` (no
Dynatrace needed). It counts requests per method+path key (the path without its query),
keeps at most 100 keys and recomputes a power-of-two subsampling per key every minute from
the previous minute's counts (samplers/dynatrace/sampling_controller.cc @504f77cd, .h
@8b9304c6; dynatrace_sampler.cc @05af6422). So at steady traffic it keeps at most about
twice its ceiling a minute per replica when the traffic has a few paths, but up to about
``SAMPLER_MANY_PATHS_PER_MINUTE`` whatever the ceiling when paths carry ids (``/users/<id>``):
a key it has not kept gets the exponent of the least frequent one (bench/trace_ceiling.py).
A traffic step overshoots for the minute after it.

Its configuration source is redundant but harmless: ``root_spans_per_minute`` is already
its default (sampler_config_provider.cc @824b0f99:
``sampler_config_(config.root_spans_per_minute())``), a parse failure falls back to it
(sampler_config.cc @981aa1f5), a failure retries every 5 min and a 404
stops the fetches after one warning. It asks 10 s after start; the sidecar's own metrics
listener answers it (``SAMPLER_CONFIG_PATH``), so nothing leaves the task and nothing is
logged. The fetch carries an empty ``Authorization: Api-Token`` header, and the answer (the
ceiling, nothing else) is readable by whoever reaches the metrics port.

Field names were checked against Envoy 1.40.0 with ``envoy --mode validate``
(tests/consumers/sidecar/test_bootstrap.py): ``OpenTelemetryConfig.http_service`` (OTLP/HTTP,
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
# The sampler keeps up to about twice its ceiling (powers-of-two subsampling) when the traffic
# has a few method+path keys ...
SAMPLER_OVERSHOOT = 2
# ... and about this many a minute per replica whatever its ceiling when every request has a
# path of its own (ids in paths): bench/trace_ceiling.py measured 145-166 at a ceiling of 6
# (20 paths: 21-31, one path: 8-12). Costs are estimated at the larger of the two.
SAMPLER_MANY_PATHS_PER_MINUTE = 160
_SAMPLERS = "type.googleapis.com/envoy.extensions.tracers.opentelemetry.samplers.v3."
PARENT_BASED_SAMPLER = _SAMPLERS + "ParentBasedSamplerConfig"
HEADER_MUTATION = (
    "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3."
    "HeaderMutation"
)
# What a client could send to choose its own sampling decision at the entry.
TRACE_CONTEXT_HEADERS = ("traceparent", "tracestate")
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


def with_tracing(
    bootstrap: dict, settings: Settings, service: ServiceSpec, *, outside_callers: bool = False
) -> dict:
    """A copy of ``bootstrap`` whose request listeners trace, plus the collector cluster.

    Egress listeners also spawn an upstream span per attempt, so a retry to another replica
    shows as its own child span under the caller's hop. ``outside_callers``: the service's
    ingress takes requests from outside the mesh (the load balancer's); under the ceiling it
    drops their trace context. A load generator under the ceiling does not trace (the
    ``bootstrap`` itself).
    """
    if settings.trace_limit_per_minute and service.is_load:
        return bootstrap
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
        if outside_callers and capped(settings, service) and listener["name"] == INGRESS_PREFIX:
            # Early header mutations run before the HCM's tracing
            # (envoy.http.early_header_mutation.header_mutation; envoy --mode validate and a
            # real Envoy in tests/local/test_traces_real_envoy.py): a client's
            # ``traceparent: ...-01`` would otherwise be followed past the ceiling.
            hcm["early_header_mutation_extensions"] = [_drop_trace_context()]
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


def _drop_trace_context() -> dict:
    """The early header mutation that removes ``TRACE_CONTEXT_HEADERS`` from a request."""
    return {
        "name": "envoy.http.early_header_mutation.header_mutation",
        "typed_config": {
            "@type": HEADER_MUTATION,
            "mutations": [{"remove": name} for name in TRACE_CONTEXT_HEADERS],
        },
    }


def capped(settings: Settings, service: ServiceSpec) -> bool:
    """Whether ``service``'s sidecar runs the ceiling's sampler: every traced sidecar when
    there is a ceiling. The HCM's share would veto a hop's span whatever its parent decided,
    so each hop samples every request and ParentBased follows the parent; a request without
    a ``traceparent`` (an app that forwards only ``x-request-id``) meets this service's own
    ceiling instead of being traced at every request. A request with a parent does not call
    the ceiling's sampler (parent_based_sampler.cc @2c5b2a53; bench/sidecar_profile.py
    ``--sampler``: about 1,000 instructions against 64,000)."""
    return bool(settings.trace_limit_per_minute) and not service.is_load


def roots_per_minute(settings: Settings, service: ServiceSpec) -> int:
    """The ceiling each replica's sampler gets: the service's ``traceLimitPerMinute`` shared
    by its replicas (at least 1: 0 would be the sampler's default of 1000)."""
    return max(1, -(-settings.trace_limit_per_minute // service.replicas))


def traces_per_second(settings: Settings, entry_requests_per_second: float) -> float:
    """At most how many traces are recorded a second at a steady entry traffic: the sampled
    share, or with a ceiling every request up to what each replica of the services where
    traces start keeps at most: twice its ceiling, or ``SAMPLER_MANY_PATHS_PER_MINUTE`` if
    that is more (paths with ids). Apps that forward their requests' ``traceparent`` add
    none; one that does not makes its upstreams roots too (not counted here)."""
    if not settings.tracing:
        return 0.0
    if not settings.trace_limit_per_minute:
        return entry_requests_per_second * settings.trace_sample_rate / 100
    per_minute = sum(
        s.replicas
        * max(SAMPLER_OVERSHOOT * roots_per_minute(settings, s), SAMPLER_MANY_PATHS_PER_MINUTE)
        for s in trace_roots(settings)
    )
    return min(entry_requests_per_second, per_minute / 60)


def trace_roots(settings: Settings) -> list[ServiceSpec]:
    """The services whose sidecars start traces under the ceiling: the app services no app
    calls (the entry behind the load balancer, or what the load generators call; the load
    generators themselves do not trace)."""
    called = {u for s in settings.app_services for u in s.upstreams}
    return [s for s in settings.app_services if s.name not in called]


def _sampler(settings: Settings, service: ServiceSpec) -> dict:
    """The ceiling's sampler for requests that arrive without a ``traceparent``; a request
    with one keeps its caller's decision: OpenTelemetry's ParentBased sampler around it.
    Without it each hop's own ceiling would decide again, and cut traces the entry kept."""
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
