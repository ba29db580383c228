"""Every metric the CloudWatch dashboard and alarms read arrives from real Envoys.

The dev stack's sidecars run from their deployed bootstraps (localized to their own loopback
addresses, resolving each other through the local DNS server) in front of stub apps
(tests/support/stub_app.py), for both stats profiles at once. Requests go in through the
load generator's egress listener, as the load generator would send them, including a few 4xx
and 5xx (which also make the sidecars retry) and one HTTP/2 connection per service, so that
the metrics Envoy creates only after such events exist too. A ``DogStatsdReceiver`` stands
where each task's CloudWatch agent stands and maps the datagrams as the agent does.

Only the flush interval differs from the deployed bootstrap (1 s instead of 10 s): it decides
when datagrams are sent, not which stats exist or how they are named and tagged, and it keeps
the test to a few seconds.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from components.settings.model import Settings
from components.settings.ports import INGRESS_PORT
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import ACCESS_LOG_FORMAT
from components.sidecar.stats import essential_stats
from dashboards.cloudwatch.alarms import alarm_specs, callers
from dashboards.cloudwatch.logs_insights import query_definitions, query_fields
from dashboards.cloudwatch.slo import slo_alarm_specs
from meshvis.local.cloudwatch_agent import (
    CloudWatchMetric,
    DogStatsdReceiver,
    metrics_per_service,
    missing_metrics,
    monthly_cost_usd,
)
from meshvis.local.dns import LocalDns
from meshvis.local.plan import claim_block, plan_mesh
from meshvis.local.processes import ProcessGroup, wait_http
from tests.support.stat_scopes import MAX_METRICS_PER_SERVICE, cloudwatch_stat, keys

STUB_APP = Path(__file__).parents[1] / "support" / "stub_app.py"
TEST_FLUSH_INTERVAL = "1s"
# Requests through the load generator's egress listener: path -> count.
TRAFFIC = {"/": 20, "/status/404": 2, "/status/503": 2}
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTLE_DEADLINE_S = 30.0


def _settings(profile: str) -> Settings:
    """The dev stack with one replica a service (metrics carry no host dimension, so more
    replicas would only add processes, not metrics), logging every request (``accessLog:
    all``), so the access-log fields are checked on 200, 404 and 503 lines alike (what the
    default policy keeps: tests/local/test_access_log_policy.py)."""
    config = stack_config("dev")
    config["mesh-visibility:statsProfile"] = profile
    config["mesh-visibility:accessLog"] = "all"
    settings = settings_from_config(config)
    return settings.model_copy(
        update={"services": tuple(s.model_copy(update={"replicas": 1}) for s in settings.services)}
    )


def _wait_tcp(address: str, port: int, group: ProcessGroup, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {address}:{port}")


class LocalMesh:
    """The stack's sidecars, as the local mesh plans and localizes them, in front of stub apps
    (which can answer 4xx/5xx on demand), with the local DNS server and a DogStatsD receiver
    on every replica's address."""

    def __init__(self, settings: Settings, logs: Path, stack: ExitStack) -> None:
        self.settings = settings
        self.logs = logs
        block, lock = claim_block()
        stack.callback(lock.close)
        self.plan = plan_mesh(settings, block)
        self.receiver = stack.enter_context(
            DogStatsdReceiver(settings, self.plan.statsd_addresses())
        )
        self.group = stack.enter_context(ProcessGroup())
        self.replicas = {r.service.name: r for r in self.plan.replicas}

    def start(self) -> None:
        LocalDns(self.plan, self.logs).start(self.group, self.logs / "dns.log", 15)
        for replica in self.plan.replicas:
            name = replica.service.name
            if replica.app_port is not None:
                upstream_urls = [
                    replica.egress_url(u).rstrip("/") for u in replica.service.upstreams
                ]
                self.group.start(
                    f"{name}-app",
                    [sys.executable, str(STUB_APP), str(replica.app_port), *upstream_urls],
                    self.logs / f"{name}-app.log",
                    {"HOST": replica.address},
                )
            bootstrap = self.plan.bootstrap(replica)
            bootstrap["stats_flush_interval"] = TEST_FLUSH_INTERVAL
            self.group.start_envoy(f"{name}-envoy", bootstrap, self.logs / f"{name}-envoy.log")

    def wait_ready(self) -> None:
        for replica in self.plan.replicas:
            wait_http(replica.admin_url("/ready"), self.group)
            if replica.app_port is not None:
                _wait_tcp(replica.address, replica.app_port, self.group)

    def send_traffic(self) -> dict[int, int]:
        """The requests of TRAFFIC through the load generator; answers counted by status."""
        load = next(s for s in self.settings.services if s.is_load)
        entry = self.replicas[load.name].egress_url(load.upstreams[0]).rstrip("/")
        codes: dict[int, int] = {}
        for path, count in TRAFFIC.items():
            for _ in range(count):
                try:
                    with urllib.request.urlopen(f"{entry}{path}", timeout=10) as response:
                        code = response.status
                except urllib.error.HTTPError as err:
                    code = err.code
                codes[code] = codes.get(code, 0) + 1
        for svc in self.settings.app_services:
            self._http2_connection(self.replicas[svc.name].address)
        return codes

    @staticmethod
    def _http2_connection(address: str) -> None:
        """Open one prior-knowledge HTTP/2 connection to the ingress listener and wait for the
        server's SETTINGS."""
        with socket.create_connection((address, INGRESS_PORT), timeout=5) as conn:
            conn.sendall(HTTP2_PREFACE)
            assert conn.recv(9)[3] == 0x4, "Envoy did not answer with an HTTP/2 SETTINGS frame"

    def access_log(self) -> list[dict]:
        lines = []
        for svc in self.settings.services:
            for line in (self.logs / f"{svc.name}-envoy.log").read_text().splitlines():
                if line.startswith("{"):
                    lines.append(json.loads(line))
        return lines


def _settled(meshes: list[LocalMesh]) -> dict[str, set[CloudWatchMetric]]:
    """Each profile's metrics once nothing the dashboard or alarms read is missing and two
    consecutive looks (more than a flush apart) see the same set."""
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    previous: dict[str, set[CloudWatchMetric]] = {}
    while time.monotonic() < deadline:
        current: dict[str, set[CloudWatchMetric]] = {
            m.settings.stats_profile: m.receiver.metrics() for m in meshes
        }
        complete = all(
            not missing_metrics(
                m.settings, current[m.settings.stats_profile], include_event_only=True
            )
            for m in meshes
        )
        if complete and current == previous:
            return current
        previous = current
        time.sleep(1.5)
        for mesh in meshes:
            mesh.group.check_alive()
    return previous


@pytest.fixture(scope="module")
def observed(tmp_path_factory, envoy_binary):
    """Run the dev mesh under both profiles at once; return what each one sent."""
    with ExitStack() as stack:
        meshes = [
            LocalMesh(_settings(profile), tmp_path_factory.mktemp(profile), stack)
            for profile in ("essential", "full")
        ]
        for mesh in meshes:
            mesh.start()
        for mesh in meshes:
            mesh.wait_ready()
        codes = {m.settings.stats_profile: m.send_traffic() for m in meshes}
        metrics = _settled(meshes)
    # Envoy buffers its access log; stopping it (above) flushes every line to the log files.
    return {
        "meshes": {m.settings.stats_profile: m for m in meshes},
        "codes": codes,
        "metrics": metrics,
        "access_log": {m.settings.stats_profile: m.access_log() for m in meshes},
    }


@pytest.mark.integration
@pytest.mark.parametrize("profile", ["essential", "full"])
def test_traffic_got_the_answers_it_asked_for(observed, profile):
    assert observed["codes"][profile] == {
        200: TRAFFIC["/"],
        404: TRAFFIC["/status/404"],
        503: TRAFFIC["/status/503"],
    }


@pytest.mark.integration
@pytest.mark.parametrize("profile", ["essential", "full"])
def test_every_dashboard_and_alarm_metric_arrives(observed, profile):
    mesh = observed["meshes"][profile]
    metrics = observed["metrics"][profile]
    assert mesh.receiver.rejected_lines() == 0
    assert missing_metrics(mesh.settings, metrics, include_event_only=True) == []


@pytest.mark.integration
@pytest.mark.parametrize("profile", ["essential", "full"])
def test_alarm_dimensions_are_exactly_what_the_agent_publishes(observed, profile):
    """Independent of the reads: each alarm's metric (SLO burn-rate alarms included), as Pulumi
    would send it, is published."""
    settings = observed["meshes"][profile].settings
    published = {(m.name, m.dimensions) for m in observed["metrics"][profile]}
    assert slo_alarm_specs(settings)
    for spec in [*alarm_specs(settings), *slo_alarm_specs(settings)]:
        queried = [q["metric"] for q in spec.get("metric_queries", []) if "metric" in q]
        if "metric_name" in spec:
            queried.append(spec)
        assert queried
        for metric in queried:
            key = (metric["metric_name"], tuple(sorted(metric["dimensions"].items())))
            assert key in published, f"{spec['name']} watches a metric nobody publishes: {key}"


@pytest.mark.integration
def test_essential_publishes_fewer_metrics_than_full(observed, capsys):
    counts = {p: metrics_per_service(m) for p, m in observed["metrics"].items()}
    totals = {p: len(m) for p, m in observed["metrics"].items()}
    with capsys.disabled():
        for profile in ("essential", "full"):
            print(
                f"\n{profile}: {totals[profile]} CloudWatch metrics "
                f"(${monthly_cost_usd(totals[profile]):.2f}/month), per service "
                f"{counts[profile]}"
            )
    assert totals["essential"] < totals["full"]
    for service, count in counts["essential"].items():
        assert count < counts["full"][service]


@pytest.mark.integration
def test_essential_sends_only_what_a_reader_reads(observed):
    """With every event-only metric present too: each metric is one the dashboard, the
    alarms or the live view reads, and no service needs more than 25."""
    metrics = observed["metrics"]["essential"]
    for service in observed["meshes"]["essential"].settings.services:
        sent = {cloudwatch_stat(m) for m in metrics if m.dimension("service") == service.name}
        assert sent <= keys(essential_stats("ecs", service.kind)), service.name
    assert max(metrics_per_service(metrics).values()) <= MAX_METRICS_PER_SERVICE


@pytest.mark.integration
def test_essential_holds_the_metric_budget_even_after_every_event(observed):
    """At most 12 metrics per service (issue 21; docs/costs.md) even with 4xx, 5xx, retries
    and an HTTP/2 client: every upstream stat reaches CloudWatch only as the agent's
    per-upstream aggregate, charged to an app service (never to a sidecar's own cluster), so a
    caller's count does not grow with its upstreams."""
    settings = observed["meshes"]["essential"].settings
    metrics = observed["metrics"]["essential"]
    counts = metrics_per_service(metrics)
    assert set(counts) == {s.name for s in settings.services}, counts
    assert max(counts.values()) <= 12, counts
    aggregates = {m for m in metrics if m.dimension("service") is None}
    assert aggregates and {m.dimension("envoy.cluster_name") for m in aggregates} == {
        s.name for s in settings.app_services if callers(settings, s.name)
    }


@pytest.mark.integration
def test_logs_insights_fields_are_in_the_real_access_log(observed):
    """The saved queries name fields every access-log line has, with the types they assume."""
    lines = observed["access_log"]["essential"]
    assert lines, "no access log lines from the sidecars"
    keys = set(lines[0])
    assert all(set(line) == keys for line in lines)
    assert keys == {*ACCESS_LOG_FORMAT, "service", "listener"}
    settings = observed["meshes"]["essential"].settings
    for query in query_definitions(settings):
        assert query_fields(query["query_string"]) <= keys, query["name"]
    # Numeric comparisons and sorts need numbers, not strings.
    assert all(isinstance(line["response_code"], int) for line in lines)
    assert all(isinstance(line["duration_ms"], int) for line in lines)
    assert {line["response_code"] for line in lines} >= {200, 404, 503}
