"""The CloudWatch metrics the dashboard and alarms read, as the CloudWatch agent names them.

A DogStatsD datagram from the sidecar (``envoy.http.downstream_rq_xx:1|c|#mesh:m,...``)
becomes a CloudWatch metric whose name joins the bucket's parts with the agent's separator
and whose dimensions are the datagram's tags plus ``metric_type`` (meshvis/local/cloudwatch_agent.py
mirrors the agent). A ``MetricRead`` names one such metric by its exact dimension set: a
SEARCH expression or an alarm only finds a metric whose dimension names match exactly, so the
dashboard, the alarms and the "every metric arrives" checks all derive from these reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.sidecar.names import INGRESS_PREFIX, SIDECAR_CLUSTERS

# The agent's statsd input joins the dot-separated parts of a bucket name with this separator
# (its default; the agent's config sets it explicitly from here, so the mapping the dashboards
# rely on is written down once):
# `envoy.http.downstream_rq_total` becomes `envoy_http_downstream_rq_total`, the same name the
# metric has in Prometheus on EKS.
METRIC_SEPARATOR = "_"
# The DogStatsD sink's default prefix in front of every Envoy stat name.
ENVOY_PREFIX = "envoy"

# Dimension names: the sidecar's fixed stats tags, Envoy's default tag names, and the one the
# agent adds from the statsd type.
MESH = "mesh"
SERVICE = "service"
METRIC_TYPE = "metric_type"
CLUSTER = "envoy.cluster_name"
HCM_PREFIX = "envoy.http_conn_manager_prefix"
CODE_CLASS = "envoy.response_code_class"

# `metric_type` values the agent gives each statsd type (Envoy histograms arrive as `ms`).
COUNTER = "counter"
GAUGE = "gauge"
TIMING = "timing"

# Conditions before which Envoy never emits a metric: its statsd sink sends a stat only once
# it has been used, so these series exist only after such an event.
AFTER_4XX = "a 4xx response"
AFTER_5XX = "a 5xx response"
AFTER_RETRY = "a retried upstream request"
AFTER_HTTP2 = "an HTTP/2 client connection"


def cloudwatch_name(envoy_stat: str) -> str:
    """CloudWatch name of an Envoy stat (tags extracted): ``http.downstream_rq_xx`` ->
    ``envoy_http_downstream_rq_xx``."""
    return METRIC_SEPARATOR.join([ENVOY_PREFIX, *envoy_stat.split(".")])


@dataclass(frozen=True)
class MetricRead:
    """One CloudWatch metric a widget or alarm reads: name plus its exact dimension names.

    ``dimensions`` pairs each dimension name with a required value, or None for any value
    (a SEARCH over it); ``exclude`` lists values a SEARCH leaves out; ``when`` names the
    event before which the metric does not exist (None: present once traffic flows).
    """

    name: str
    dimensions: tuple[tuple[str, str | None], ...]
    exclude: tuple[tuple[str, str], ...] = ()
    when: str | None = None

    def matches(self, name: str, dimensions: tuple[tuple[str, str], ...]) -> bool:
        """Whether a published metric (name and dimensions) is one this read finds."""
        published = dict(dimensions)
        if name != self.name or set(published) != {key for key, _ in self.dimensions}:
            return False
        return all(
            value is None or published[key] == value for key, value in self.dimensions
        ) and not any(published[key] == value for key, value in self.exclude)

    def __str__(self) -> str:
        dims = ",".join(
            f"{key}={'*' if value is None else value}" for key, value in sorted(self.dimensions)
        )
        excluded = "".join(f",{key}!={value}" for key, value in self.exclude)
        return f"{self.name}{{{dims}{excluded}}}"


def _read(
    stat: str,
    metric_type: str,
    dims: dict[str, str | None],
    *,
    exclude: tuple[tuple[str, str], ...] = (),
    when: str | None = None,
) -> MetricRead:
    dimensions = tuple(sorted({**dims, METRIC_TYPE: metric_type}.items()))
    return MetricRead(cloudwatch_name(stat), dimensions, exclude, when)


def ingress(
    mesh: str,
    service: str | None,
    stat: str,
    metric_type: str = COUNTER,
    code_class: str | None = None,
    when: str | None = None,
) -> MetricRead:
    """A stat of a service's ingress connection manager (``http.ingress.<stat>``)."""
    dims: dict[str, str | None] = {MESH: mesh, SERVICE: service, HCM_PREFIX: INGRESS_PREFIX}
    if code_class is not None:
        dims[CODE_CLASS] = code_class
    return _read(f"http.{stat}", metric_type, dims, when=when)


# The agent's per-upstream aggregation (``metrics.aggregation_dimensions`` of its config,
# components/ecs/agent.py): besides each sidecar's own datum of an upstream cluster's stat it
# publishes one under only these dimensions, so every caller's datum of the same upstream lands
# in one metric. The metric is charged to the upstream once, however many services call it,
# and a caller's cost does not grow with its upstreams. The agent rolls up every metric that has
# all of these dimensions and more (amazon-cloudwatch-agent plugins/outputs/cloudwatch/
# cloudwatch.go ProcessRollup @ab55b8da).
PER_UPSTREAM_DIMENSIONS = (CLUSTER, MESH, METRIC_TYPE)

# The sidecar's own clusters, left out of "upstream" views.
_NOT_UPSTREAM = tuple((CLUSTER, name) for name in SIDECAR_CLUSTERS)


def upstream(
    mesh: str, stat: str, metric_type: str, name: str | None = None, when: str | None = None
) -> MetricRead:
    """A stat of the upstream clusters towards ``name`` (every upstream when None), all callers'
    sidecars together: the agent's per-upstream aggregate (``PER_UPSTREAM_DIMENSIONS``)."""
    dims: dict[str, str | None] = {MESH: mesh, CLUSTER: name}
    return _read(
        f"cluster.{stat}",
        metric_type,
        dims,
        exclude=_NOT_UPSTREAM if name is None else (),
        when=when,
    )
