"""The OpenTelemetry-sink alternative the benchmarks measure (bench/otlp_sink.py): the agent's
mapping of an OTLP histogram as its source does it (that real Envoy accepts the bootstrap:
tests/consumers/bench/test_otlp_sink.py)."""

from __future__ import annotations

from bench.otlp_sink import (
    ENVOY_DEFAULT_BUCKETS,
    agent_values_counts,
    bucket_counts,
    percentile,
    percentile_rank,
)


def test_the_agent_publishes_bucket_bounds_and_loses_the_overflow():
    """Each bucket's count at its upper bound (OTLP: bounds[i-1] < v <= bounds[i]); the
    bucket above the last bound is not among the values at all."""
    bounds = (10, 100)
    counts = bucket_counts([1, 10, 11, 99, 100, 5000], bounds)
    assert counts == [2, 3, 1]
    values, weights = agent_values_counts(bounds, counts)
    assert (values, weights) == ([10.0, 100.0], [2.0, 3.0])
    # A p99 of 5 s reads as 100 ms; a 12 ms p50 as 100 ms.
    assert percentile(values, weights, 99) == 100.0
    assert percentile(values, weights, 50) == 100.0
    assert percentile_rank(values, weights, 10) == 40.0


def test_envoy_default_buckets():
    assert ENVOY_DEFAULT_BUCKETS[:4] == (0.5, 1, 5, 10) and len(ENVOY_DEFAULT_BUCKETS) == 19
