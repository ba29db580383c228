"""The OpenTelemetry-sink alternative the benchmarks measure (bench/otlp_sink.py), accepted by
the real Envoy in place of the DogStatsD sink."""

from __future__ import annotations

import json

from bench.otlp_sink import with_otel_stats_sink
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from tests.support.consumers import envoy_validate


def test_real_envoy_accepts_the_otel_sink_in_place_of_dogstatsd(envoy_binary):
    settings = stack_settings("dev")
    bootstrap = with_otel_stats_sink(envoy_bootstrap(settings, settings.service("greeter")))
    assert [s["name"] for s in bootstrap["stats_sinks"]] == ["envoy.stat_sinks.open_telemetry"]
    done = envoy_validate(envoy_binary, "--config-yaml", json.dumps(bootstrap))
    assert done.returncode == 0, done.stderr[-2000:]
