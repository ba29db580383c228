"""The DogStatsD receiver that stands in for the CloudWatch agent: parsing, the agent's
mapping to CloudWatch metrics, pricing, and the UDP listener itself."""

from __future__ import annotations

import socket
import time

import pytest

from components.settings.naming import metric_namespace
from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_reads
from dashboards.cloudwatch.dashboard import dashboard_reads
from dashboards.cloudwatch.metrics import PER_UPSTREAM_DIMENSIONS
from meshvis.local.cloudwatch_agent import (
    CloudWatchMetric,
    DogStatsdReceiver,
    Sample,
    cloudwatch_metric,
    metrics_per_service,
    missing_metrics,
    monthly_cost_usd,
    parse_datagram,
    parse_line,
    published_metrics,
)

# As a real Envoy 1.40 with the dev bootstrap sends them (one datagram, several lines).
ENVOY_DATAGRAM = (
    b"envoy.cluster.upstream_rq_xx:5|c|#envoy.response_code_class:2,mesh:greeting,"
    b"service:greeter,envoy.cluster_name:local_app\n"
    b"envoy.http.downstream_rq_time:1|ms|#mesh:greeting,service:greeter,"
    b"envoy.http_conn_manager_prefix:ingress\n"
    b"envoy.server.live:1|g|#mesh:greeting,service:greeter"
)


@pytest.fixture(scope="module")
def settings():
    return stack_settings("dev")


def test_parses_envoy_datagrams():
    counter, timer, gauge = parse_datagram(ENVOY_DATAGRAM)
    assert counter == Sample(
        "envoy.cluster.upstream_rq_xx",
        5.0,
        "c",
        1.0,
        {
            "envoy.response_code_class": "2",
            "mesh": "greeting",
            "service": "greeter",
            "envoy.cluster_name": "local_app",
        },
    )
    assert (timer.name, timer.value, timer.type) == ("envoy.http.downstream_rq_time", 1.0, "ms")
    assert (gauge.type, gauge.tags) == ("g", {"mesh": "greeting", "service": "greeter"})


def test_parses_the_rest_of_the_protocol():
    assert parse_line("a.b:1|c|@0.5|#flag,k:v:w") == [
        Sample("a.b", 1.0, "c", 0.5, {"flag": None, "k": "v:w"})
    ]
    assert [s.value for s in parse_line("t:320|ms:200|ms")] == [320.0, 200.0]
    assert parse_line("users:alice|s")[0].value == "alice"
    for bad in ("no-value", "x:1|q", "x:abc|c", ":1|c"):
        with pytest.raises(ValueError):
            parse_line(bad)
    assert len(parse_datagram(b"ok:1|c\ngarbage\n\nok:2|g\n")) == 2


def test_maps_like_the_agent(settings):
    counter, timer, gauge = (cloudwatch_metric(s, settings) for s in parse_datagram(ENVOY_DATAGRAM))
    assert counter == CloudWatchMetric(
        "MeshVisibility/greeting",
        "envoy_cluster_upstream_rq_xx",
        (
            ("envoy.cluster_name", "local_app"),
            ("envoy.response_code_class", "2"),
            ("mesh", "greeting"),
            ("metric_type", "counter"),
            ("service", "greeter"),
        ),
    )
    assert timer.name == "envoy_http_downstream_rq_time"
    assert timer.dimension("metric_type") == "timing"
    assert gauge.dimensions == (
        ("mesh", "greeting"),
        ("metric_type", "gauge"),
        ("service", "greeter"),
    )


def test_tag_edge_cases_follow_the_agent(settings):
    (flagged,) = parse_line("x:1|c|#flag,empty:,metric_type:custom")
    metric = cloudwatch_metric(flagged, settings)
    # A valueless tag becomes <empty>, an empty value is dropped, a DogStatsD tag wins.
    assert metric.dimensions == (("flag", "<empty>"), ("metric_type", "custom"))
    (influx,) = parse_line("y.z,region=eu:1|g")
    assert cloudwatch_metric(influx, settings).dimensions == (
        ("metric_type", "gauge"),
        ("region", "eu"),
    )


def test_host_dimension_and_the_ten_dimension_limit(settings):
    tags = ",".join(f"k{i:02d}:v" for i in range(12))
    (sample,) = parse_line(f"m:1|c|#{tags}")
    assert "host" not in dict(cloudwatch_metric(sample, settings).dimensions)
    with_host = dict(cloudwatch_metric(sample, settings, host="ip-10-0-1-2").dimensions)
    assert len(with_host) == 10 and with_host["host"] == "ip-10-0-1-2"
    assert sorted(with_host) == sorted(["host", *[f"k{i:02d}" for i in range(9)]])


def test_monthly_cost_uses_the_price_tiers():
    assert monthly_cost_usd(0) == 0
    assert monthly_cost_usd(600) == 180.0  # the original walkthrough's three-service mesh
    assert monthly_cost_usd(10_000) == 3_000.0
    assert monthly_cost_usd(10_001) == 3_000.10
    assert monthly_cost_usd(250_000) == 27_000.0
    assert monthly_cost_usd(1_000_000) == 64_500.0
    assert monthly_cost_usd(1_000_010) == 64_500.20


def _published(settings, reads) -> set[CloudWatchMetric]:
    """One metric per read, as the agent would publish it (any value where a read has none)."""
    return {
        CloudWatchMetric(
            "MeshVisibility/greeting",
            r.name,
            tuple((k, v if v is not None else "greeter") for k, v in r.dimensions),
        )
        for r in reads
    }


def test_missing_metrics_names_what_never_arrived(settings):
    reads = [*dashboard_reads(settings), *alarm_reads(settings)]
    everything = _published(settings, reads)
    assert missing_metrics(settings, everything, include_event_only=True) == []
    healthy = _published(settings, [r for r in reads if r.when is None])
    assert missing_metrics(settings, healthy) == []
    event_only = missing_metrics(settings, healthy, include_event_only=True)
    assert event_only and all("(appears after " in m for m in event_only)
    without_latency = {m for m in everything if m.name != "envoy_cluster_upstream_rq_time"}
    missing = missing_metrics(settings, without_latency)
    assert missing and all(m.startswith("envoy_cluster_upstream_rq_time{") for m in missing)
    # A metric with one dimension more is another metric: the alarm would never see it.
    extra = {
        CloudWatchMetric(m.namespace, m.name, tuple(sorted((*m.dimensions, ("host", "h")))))
        for m in everything
    }
    assert len(missing_metrics(settings, extra, include_event_only=True)) == len(
        {str(r) for r in reads}
    )


def test_metrics_per_service(settings):
    metrics = {cloudwatch_metric(s, settings) for s in parse_datagram(ENVOY_DATAGRAM)}
    assert metrics_per_service(metrics) == {"greeter": 3}


def _send(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(payload, ("127.0.0.1", port))


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the receiver did not record the datagram"
        time.sleep(0.02)


def test_receiver_records_and_restarts_on_the_same_port(settings):
    receiver = DogStatsdReceiver(settings)
    with pytest.raises(RuntimeError):
        _ = receiver.port
    with receiver:
        port = receiver.port
        _send(port, ENVOY_DATAGRAM)
        _wait_for(lambda: receiver.samples_received() == 3)
    assert not receiver.running
    # upstream_rq_xx arrives but is published only as the per-upstream aggregate: the dev
    # agent drops its original (no CloudWatch reader reads it;
    # test_receiver_publishes_nothing_the_agent_drops).
    assert receiver.names() == {
        "envoy_cluster_upstream_rq_xx",
        "envoy_http_downstream_rq_time",
        "envoy_server_live",
    }
    # Killed and restarted (as the local mesh does): same port, what was seen is kept.
    receiver.start()
    try:
        assert receiver.port == port
        _send(port, b"envoy.cluster.upstream_rq_total:1|c|#mesh:greeting,service:name\nbad")
        _wait_for(lambda: receiver.samples_received() == 4)
        assert receiver.rejected_lines() == 1
        assert receiver.datagrams_received() == 2
        assert len(receiver.metrics()) == 4
    finally:
        receiver.stop()
    receiver.stop()  # stopping twice is harmless


def test_receiver_publishes_nothing_the_agent_drops(settings):
    """The stack's own agent config decides: with ``statsProfile: full`` nothing is dropped,
    with ``essential`` the names kept only for the local live view are (components/ecs/agent.py)."""
    full = settings.model_copy(update={"stats_profile": "full"})
    aggregate = (
        "envoy_cluster_upstream_rq_xx",
        (("envoy.cluster_name", "local_app"), ("mesh", "greeting"), ("metric_type", "counter")),
    )
    for stack, originals in ((full, 3), (settings, 2)):
        with DogStatsdReceiver(stack) as receiver:
            _send(receiver.port, ENVOY_DATAGRAM)
            _wait_for(lambda: receiver.samples_received() == 3)
        published = {(m.name, m.dimensions) for m in receiver.metrics()}
        # Under both profiles the agent publishes the per-upstream aggregate, the class too
        # aggregated away: dropping a name drops only its original.
        assert aggregate in published
        assert len(published - {aggregate}) == originals


def test_aggregates_mirror_the_agents_rollup(settings):
    """Each caller's datum of an upstream cluster stat also lands in one per-upstream metric
    (its dimensions: PER_UPSTREAM_DIMENSIONS); a metric without all of them, or with no
    dimension beyond them, has no aggregate. It is charged to the upstream."""
    sent = [
        cloudwatch_metric(s, settings)
        for s in parse_datagram(
            b"envoy.cluster.membership_healthy:2|g|#mesh:greeting,service:greeter,"
            b"envoy.cluster_name:name\n"
            b"envoy.cluster.membership_healthy:0|g|#mesh:greeting,service:load-generator,"
            b"envoy.cluster_name:name\n"
            b"envoy.server.live:1|g|#mesh:greeting,service:greeter"
        )
    ]
    aggregations = [list(PER_UPSTREAM_DIMENSIONS)]
    published = {m for metric in sent for m in published_metrics(metric, aggregations, ())}
    aggregate = CloudWatchMetric(
        metric_namespace("greeting"),
        "envoy_cluster_membership_healthy",
        (("envoy.cluster_name", "name"), ("mesh", "greeting"), ("metric_type", "gauge")),
    )
    assert published == {*sent, aggregate}
    dropped = {
        m for metric in sent for m in published_metrics(metric, aggregations, {aggregate.name})
    }
    assert dropped == {aggregate, sent[2]}
    assert metrics_per_service(dropped) == {"greeter": 1, "name": 1}
    bare = CloudWatchMetric(aggregate.namespace, aggregate.name, aggregate.dimensions)
    assert published_metrics(bare, aggregations, ()) == [bare]


def test_receiver_listens_on_every_replicas_address(settings):
    """As each ECS task's own agent: one receiver on several loopback addresses."""
    addresses = [("127.0.0.1", 0), ("127.0.0.2", 0)]
    with DogStatsdReceiver(settings, addresses) as receiver:
        bound = receiver.addresses
        assert [host for host, _ in bound] == ["127.0.0.1", "127.0.0.2"]
        for host, port in bound:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"envoy.server.live:1|g|#mesh:greeting,service:name", (host, port))
        _wait_for(lambda: receiver.datagrams_received() == 2)


def test_receiver_keeps_timed_samples_for_the_alarm_evaluation(settings):
    """What the alarms are evaluated over: each numeric sample with its arrival time and the
    weight the agent gives it (1/sample_rate); a set's string value is not a datapoint."""
    before = time.time()
    with DogStatsdReceiver(settings) as receiver:
        _send(
            receiver.port,
            b"envoy.cluster.upstream_rq_time:12|ms|@0.5|#mesh:greeting,service:greeter,"
            b"envoy.cluster_name:name\n"
            b"envoy.cluster.upstream_rq_time:40|ms|#mesh:greeting,service:load-generator,"
            b"envoy.cluster_name:name\n"
            b"users:alice|s|#mesh:greeting,service:name",
        )
        _wait_for(lambda: receiver.samples_received() == 3)
    timed = receiver.timed_samples()
    # Both callers' samples, in the per-upstream aggregate only (the dev agent drops the
    # originals of the upstream stats CloudWatch reads).
    key = (
        "envoy_cluster_upstream_rq_time",
        (("envoy.cluster_name", "name"), ("mesh", "greeting"), ("metric_type", "timing")),
    )
    assert list(timed) == [key]
    assert [(value, weight) for _, value, weight in timed[key]] == [(12.0, 2.0), (40.0, 1.0)]
    assert all(before <= at <= time.time() for at, _, _ in timed[key])
