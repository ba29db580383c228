"""The ports of the Envoy sidecar contract (DESIGN.md, "The Envoy sidecar contract").

They live in the settings layer because validating a service's own port needs them (an app
may not take a port its sidecar uses); every other part of the contract is in
``components/sidecar/``.
"""

from __future__ import annotations

INGRESS_PORT = 15000
EGRESS_BASE_PORT = 9001
MAX_UPSTREAMS = 99
ADMIN_PORT = 9901
METRICS_PORT = 9902
STATSD_PORT = 8125
# The CloudWatch agent's OTLP receivers in every ECS task (gRPC, HTTP; the agent's defaults,
# aws/amazon-cloudwatch-agent translator/translate/otel/receiver/otlp/translator.go:26-27
# @ab55b8da); the sidecar sends its spans to the HTTP one.
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
RESERVED_PORTS = frozenset(
    {INGRESS_PORT, ADMIN_PORT, METRICS_PORT, STATSD_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT}
    | set(range(EGRESS_BASE_PORT, EGRESS_BASE_PORT + MAX_UPSTREAMS))
)
# How an error names them: the egress range as a range.
RESERVED_PORTS_TEXT = ", ".join(
    [
        *map(str, (INGRESS_PORT, STATSD_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT)),
        f"{EGRESS_BASE_PORT}-{EGRESS_BASE_PORT + MAX_UPSTREAMS - 1}",
        *map(str, (ADMIN_PORT, METRICS_PORT)),
    ]
)
