"""The latency boundaries an SLO may use, and the rules over the ``slo`` settings.

Availability and latency SLIs are read from each sidecar's ingress: the latency SLI is the share
of requests in the ``downstream_rq_time`` histogram's bucket ``le=latencyMs``, so ``latencyMs``
must be a bucket boundary of that histogram, on every topology.
"""

from __future__ import annotations

import re

from components.settings.errors import ConfigError
from components.settings.model import Settings, SloSpec

# Envoy's default histogram buckets (ms for timings; envoyproxy/envoy
# source/common/stats/histogram_impl.cc HistogramSettingsImpl::defaultBuckets) jump from 250
# to 500 and from 1000 to 2500: the usual SLO thresholds in between (300 ms, 750 ms, ...) are
# not boundaries, and a share "within 300 ms" could only be interpolated. The sidecar bootstrap
# gives its ingress request-time histogram these (stats_config.histogram_bucket_settings,
# components/sidecar/bootstrap.py): Envoy's defaults plus 75, 150, 200, 300, 400, 750, 1500
# and 2000, eight more series per service. The CloudWatch agent ships the raw timings as
# distributions, where any threshold works; the list is the one every topology can measure.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    75,
    100,
    150,
    200,
    250,
    300,
    400,
    500,
    750,
    1000,
    1500,
    2000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)
SLO_LATENCY_MS = tuple(int(b) for b in LATENCY_BUCKETS_MS if b >= 1)
WEBHOOK_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
# What `meshvis render` reads for a secret value in a stack file (`{secure: <ciphertext>}`):
# rendered documents never hold the value, only this.
ENCRYPTED_VALUE = "<encrypted in the stack file>"


def check_slos(settings: Settings) -> None:
    """Every ``slo`` (mesh-wide and per service) measurable, and ``alertWebhookUrl`` usable."""
    _check_latency("slo", settings.slo)
    for i, service in enumerate(settings.services):
        _check_latency(f"services[{i}].slo", service.slo)
    url = settings.alert_webhook_url
    if url is None:
        return
    if settings.topology != "eks":
        raise ConfigError(
            "alertWebhookUrl", "only the eks topology's Alertmanager posts to a webhook: remove it"
        )
    if url != ENCRYPTED_VALUE and not WEBHOOK_URL.match(url):
        # The value is a secret: never echo it.
        raise ConfigError("alertWebhookUrl", "not an http:// or https:// URL")


def _check_latency(key: str, slo: SloSpec | None) -> None:
    if slo is not None and slo.latency_ms not in SLO_LATENCY_MS:
        raise ConfigError(
            f"{key}.latencyMs",
            f"{slo.latency_ms} is not a boundary of the sidecars' latency histogram "
            f"(one of {', '.join(map(str, SLO_LATENCY_MS))})",
        )


# The SLIs of every service with an SLO: the `slo` label of every SLO series, alert and alarm.
SLIS = ("availability", "latency")


def objective_percent(slo: SloSpec, sli: str) -> float:
    """The target (%) of one SLI of ``slo``: ``availability`` or ``latencyPercent``."""
    return slo.availability if sli == "availability" else slo.latency_percent


def error_budget(slo: SloSpec, sli: str) -> float:
    """The share (0..1) of requests an SLI may fail over its window, rounded so that 99.9 gives
    0.001 rather than the float 0.000999...9432."""
    return round((100 - objective_percent(slo, sli)) / 100, 10)
