"""The alternative to the DogStatsD sink that the benchmarks measure side by side: Envoy's
OpenTelemetry stats sink (histograms aggregated in-process, exported at each flush over
OTLP/gRPC) into what the CloudWatch agent's ``metrics_collected.otlp`` receiver would do.

Not a stack option: what the agent makes of an explicit-bucket histogram is coarser than
what the DogStatsD path gives every widget, alarm and SLO (``agent_values_counts``;
docs/performance.md has the figures), so the ECS default stays DogStatsD. This module holds
only what the benchmarks need to measure its cost and its fidelity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from components.settings.ports import OTLP_GRPC_PORT
from components.settings.slo import LATENCY_BUCKETS_MS
from components.sidecar.clusters import static_cluster

OTEL_SINK = "type.googleapis.com/envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
CLUSTER = "otlp_metrics"
# Envoy's default histogram bucket bounds (source/common/stats/histogram_impl.h,
# HistogramSettingsImpl::defaultBuckets), in the histogram's unit (ms for request times): the
# SLO buckets less the boundaries components/settings/slo.py adds to them.
ENVOY_DEFAULT_BUCKETS = tuple(
    b for b in LATENCY_BUCKETS_MS if b not in (75, 150, 200, 300, 400, 750, 1500, 2000)
)


def with_otel_stats_sink(bootstrap: dict) -> dict:
    """``bootstrap`` with Envoy's OpenTelemetry stats sink in place of its sinks, exporting
    deltas every flush to OTLP/gRPC on the sidecar's own address (where a task's agent
    would listen), through a cluster of its own."""
    host = bootstrap["admin"]["address"]["socket_address"]["address"]
    bootstrap["stats_sinks"] = [
        {
            "name": "envoy.stat_sinks.open_telemetry",
            "typed_config": {
                "@type": OTEL_SINK,
                "grpc_service": {"envoy_grpc": {"cluster_name": CLUSTER}},
                # CloudWatch wants per-period values: deltas spare the agent a conversion.
                "report_counters_as_deltas": True,
                "report_histograms_as_deltas": True,
            },
        }
    ]
    bootstrap["static_resources"]["clusters"].append(
        {
            **static_cluster(CLUSTER, host, OTLP_GRPC_PORT),
            "typed_extension_protocol_options": {
                HTTP_OPTIONS: {
                    "@type": f"type.googleapis.com/{HTTP_OPTIONS}",
                    "explicit_http_config": {"http2_protocol_options": {}},
                }
            },
        }
    )
    return bootstrap


def agent_values_counts(
    bounds: Sequence[float], bucket_counts: Sequence[int]
) -> tuple[list[float], list[float]]:
    """The values and counts the CloudWatch agent publishes for one OTLP explicit-bucket
    histogram data point: each bucket's count at its upper bound, the overflow bucket (above
    the last bound) left out. amazon-cloudwatch-agent @ab55b8da: plugins/outputs/cloudwatch/
    convert_otel.go convertOtelHistogramDataPoints -> metric/distribution/regular/
    regular_distribution.go ConvertFromOtel (the agent's default, max_values_per_datum 150 <
    5000; its SEH1 variant would even take each bound as a bucket *number*)."""
    values, counts = [], []
    for bound, count in zip(bounds, bucket_counts, strict=False):
        if count:
            values.append(float(bound))
            counts.append(float(count))
    return values, counts


def agent_statsd_values_counts(samples: Sequence[float]) -> tuple[list[float], list[float]]:
    """The values and counts the agent publishes for DogStatsD timings: every value is kept
    (regular distribution) and, at publish, resized into SEH1 distributions whose buckets are
    10 % wide, each published at its bucket's middle (metric/distribution/regular/
    regular_distribution.go Resize, seh1/seh1_distribution.go bucketNumber, ValuesAndCounts;
    @ab55b8da). The datums of one period together hold every bucket."""
    factor = math.log(1.1)
    counts: dict[float, float] = {}
    for value in samples:
        middle = (
            0.0 if value <= 0 else math.exp((math.floor(math.log(value) / factor) + 0.5) * factor)
        )
        counts[middle] = counts.get(middle, 0.0) + 1.0
    return list(counts), list(counts.values())


def bucket_counts(samples: Sequence[float], bounds: Sequence[float]) -> list[int]:
    """An explicit-bucket histogram of ``samples``: ``len(bounds) + 1`` counts, bucket i
    holding bounds[i-1] < v <= bounds[i] (OTLP's convention), the last one the overflow."""
    counts = [0] * (len(bounds) + 1)
    for value in samples:
        index = next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
        counts[index] += 1
    return counts


def percentile(values: Sequence[float], counts: Sequence[float], rank: float) -> float:
    """The ``rank`` percentile (0..100) of a values/counts distribution, nearest rank, as a
    statistic over published values (CloudWatch's exact form when values are exact)."""
    pairs = sorted(zip(values, counts, strict=True))
    target = math.ceil(rank / 100 * sum(counts))
    seen = 0.0
    for value, count in pairs:
        seen += count
        if seen >= target:
            return value
    return pairs[-1][0]


def percentile_rank(values: Sequence[float], counts: Sequence[float], limit: float) -> float:
    """``PR(:limit)``: the percentage of the published count with a value <= ``limit``."""
    total = sum(counts)
    return 100.0 * sum(c for v, c in zip(values, counts, strict=True) if v <= limit) / total


def fidelity_rows(samples: Sequence[float], slo_ms: float) -> list[tuple[str, float, float, float]]:
    """(path, p50, p99, PR(:slo_ms)) of ``samples`` (ms) as CloudWatch would answer them:
    the DogStatsD path publishes every value as Envoy sends it (whole milliseconds); the OTLP
    path publishes bucket bounds, with Envoy's default buckets or with the SLO boundaries."""
    whole = [float(int(v)) for v in samples]  # Envoy's request times are whole ms
    rows = [("exact (the requests themselves)", list(samples), [1.0] * len(samples))]
    rows.append(("DogStatsD (the agent's 10 % buckets)", *agent_statsd_values_counts(whole)))
    for label, bounds in (
        ("OTLP, Envoy's default buckets", ENVOY_DEFAULT_BUCKETS),
        ("OTLP, the SLO buckets", LATENCY_BUCKETS_MS),
    ):
        rows.append((label, *agent_values_counts(bounds, bucket_counts(whole, bounds))))
    return [
        (label, percentile(v, c, 50), percentile(v, c, 99), percentile_rank(v, c, slo_ms))
        for label, v, c in rows
    ]


def main() -> None:
    """Print what each path makes of a service's request times in CloudWatch (a seeded
    log-normal sample: median 40 ms, a tail past the 300 ms SLO)."""
    import random

    from bench.machine import header

    print(header())
    rng = random.Random(21)
    samples = [rng.lognormvariate(math.log(40), 0.8) for _ in range(100_000)]
    slo_ms = 300
    print(
        f"\n100,000 request times (log-normal, median 40 ms); what CloudWatch answers for "
        f"p50, p99 and the latency SLI PR(:{slo_ms})"
    )
    print(f"{'path':<38}{'p50 ms':>9}{'p99 ms':>9}{f'PR(:{slo_ms}) %':>13}")
    for label, p50, p99, rank in fidelity_rows(samples, slo_ms):
        print(f"{label:<38}{p50:>9.1f}{p99:>9.1f}{rank:>13.3f}")


if __name__ == "__main__":
    main()
