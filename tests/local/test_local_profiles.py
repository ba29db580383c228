"""One fault scenario on four local meshes: the stats profiles behave alike, every Grafana
panel has data on the eks matcher, and the essential lists are exactly what real Envoys keep.

The meshes run at once, each from its stack's own bootstraps (meshvis.local.mesh.LocalMesh,
what ``meshvis run`` starts): the dev stack as deployed on ecs, the dev stack switched to eks,
the dev stack with ``statsProfile: full``, and the dev-eks stack. Each goes through:

1. start, load generators on, a few seconds of traffic;
2. one replica down: replica 2 of one upstream service loses its app (its sidecar answers
   503), replica 2 of another loses its Envoy (its callers' connections are refused; dev-eks
   has one upstream service and loses its app only); a burst of requests through every
   caller's egress listener towards them, and through the entry service;
3. the whole first service down (replica 1 loses its app too): two smaller bursts, a scrape
   apart, whose answers are 5xx after the callers' retries;
4. the killed processes restarted, then two more scrapes.

Envoy warns that a stats matcher can change behaviour (with dynamic clusters; ours are
static): the dev variants must answer the same, retry, and eject the same hosts, seen through
the admin interface's /clusters, which no stats matcher touches. On the eks meshes every
panel query of both Grafana dashboards returns data from a real Prometheus, and the panels
of the events provoked (upstream 5xx, retries, connect failures, outlier ejections) show
them. Timeouts, pending overflow and open circuit breakers stay at zero here (they need a
10 s hang or more than 1024 requests in flight), so their panels are only required to
return data: the series exist, at 0.
"""

from __future__ import annotations

import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import ExitStack

import pytest

from components.settings.model import Settings
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.stats import (
    EGRESS,
    GRAFANA,
    INGRESS,
    LIVE_VIEW,
    LOCAL_APP,
    READS,
    SERVER,
    UPSTREAM,
    essential_stats,
)
from components.stack import stack_settings
from dashboards.grafana import envoy as grafana_envoy
from dashboards.grafana import mesh as grafana_mesh
from dashboards.prometheus.scrape import SCRAPE_INTERVAL
from meshvis.local.cloudwatch_agent import metrics_per_service
from meshvis.local.golden_signals import live_signals, read_signals, without_data
from meshvis.local.mesh import LocalMesh
from tests.support import community_dashboards
from tests.support.stat_scopes import (
    MAX_METRICS_PER_SERVICE,
    PRESENT,
    cloudwatch_stat,
    keys,
    series_stat,
)

pytestmark = pytest.mark.integration

BURST = 40  # requests per caller sidecar and faulty upstream
ENTRY_REQUESTS = 20
DOWN_BURST = 10  # the same with the whole service down
DOWN_ENTRY_REQUESTS = 5
TRAFFIC_SECONDS = 5.0  # before the faults
SCRAPES_AFTER = 2
SCRAPE_SECONDS = float(SCRAPE_INTERVAL.rstrip("s"))
# Panels whose query is non-zero once the scenario's events happened (meshes with a killed
# Envoy also see connection failures).
EVENT_PANELS = ("Upstream 5xx", "Retries", "Outlier ejections")
CONNECT_FAILURE_PANEL = "Connect failures"


def _variant(stack: str, **changes: str) -> Settings:
    config = stack_config(stack)
    config.update({f"mesh-visibility:{key}": value for key, value in changes.items()})
    return settings_from_config(config)


VARIANTS = {
    "dev ecs essential": stack_settings("dev"),
    "dev eks essential": _variant("dev", topology="eks"),
    "dev full": _variant("dev", statsProfile="full"),
    "dev-eks": stack_settings("dev-eks"),
}
DEV_VARIANTS = ("dev ecs essential", "dev eks essential", "dev full")
EKS_VARIANTS = ("dev eks essential", "dev-eks")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class Scenario:
    """One mesh going through the scenario, and what it observed."""

    def __init__(self, mesh: LocalMesh) -> None:
        self.mesh = mesh
        settings = mesh.settings
        called = {u for s in settings.services for u in s.upstreams}
        faulty = [s.name for s in settings.app_services if s.name in called and s.replicas > 1]
        self.app_victim = f"{faulty[0]}-2"
        self.envoy_victim = f"{faulty[1]}-2" if len(faulty) > 1 else None
        self.victims = {
            self.mesh.replica(v).service.name for v in (self.app_victim, self.envoy_victim) if v
        }
        self.codes: dict[str, Counter[int]] = {}
        self.retries: dict[str, int] = {}
        self.ejected: set[tuple[str, str]] = set()
        self.killed: list[str] = []
        self.fault_window = (0.0, 0.0)

    def callers(self) -> list:
        return [
            r
            for r in self.mesh.plan.replicas
            if any(v in r.service.upstreams for v in self.victims)
        ]

    def _admin(self, replica, path: str) -> str:
        return _get(replica.admin_url(path))[1]

    def _retries(self) -> dict[str, int]:
        """upstream_rq_retry of every caller's cluster to a faulty service (kept by every
        profile: every topology's readers read it)."""
        counts = {}
        for caller in self.callers():
            for victim in self.victims & set(caller.service.upstreams):
                stat = urllib.parse.quote(rf"^cluster\.{victim}\.upstream_rq_retry$")
                text = self._admin(caller, f"/stats?filter={stat}")
                counts[f"{caller.instance}->{victim}"] = int(text.rsplit(":", 1)[1])
        return counts

    def _burst(self, services: set[str], per_caller: int, entry: int) -> Counter[int]:
        """Requests through every caller's egress listener to ``services``, then through the
        entry service; their status codes."""
        codes: Counter[int] = Counter()
        for caller in self.callers():
            for upstream in sorted(services & set(caller.service.upstreams)):
                for _ in range(per_caller):
                    codes[_get(caller.egress_url(upstream))[0]] += 1
        for _ in range(entry):
            codes[_get(self.mesh.plan.entry_urls[0])[0]] += 1
        return codes

    def one_replica_down(self) -> None:
        """Replica 2 of one service loses its app, of another its Envoy: retried, ejected."""
        self.fault_window = (time.time(), 0.0)
        before = self._retries()
        self.killed = [f"{self.app_victim} app"]
        if self.envoy_victim:
            self.killed.append(f"{self.envoy_victim} envoy")
        for name in self.killed:
            self.mesh.child(name).kill()
        self.codes["one replica down"] = self._burst(self.victims, BURST, ENTRY_REQUESTS)
        after = self._retries()
        self.retries = {pair: after[pair] - before[pair] for pair in after}
        self.ejected = self._ejected()

    def service_down(self) -> None:
        """Replica 1 of the first service loses its app too: callers get 5xx after retries.
        Called twice, a scrape apart: rate() sees a new series only from its second sample."""
        service = self.mesh.replica(self.app_victim).service.name
        if f"{service}-1 app" not in self.killed:
            self.killed.append(f"{service}-1 app")
            self.mesh.child(self.killed[-1]).kill()
        self.codes["service down"] = self.codes.get("service down", Counter()) + self._burst(
            {service}, DOWN_BURST, DOWN_ENTRY_REQUESTS
        )

    def restore(self) -> None:
        for name in self.killed:
            self.mesh.restart(name)
        for name in self.killed:
            self.mesh.wait_ready(self.mesh.replica(name.split()[0]))
        self.fault_window = (self.fault_window[0], time.time())

    def _ejected(self) -> set[tuple[str, str]]:
        """(caller, upstream replica) pairs that outlier detection ejected, from /clusters."""
        by_address = {r.address: r.instance for r in self.mesh.plan.replicas}
        ejected = set()
        for caller in self.callers():
            for line in self._admin(caller, "/clusters").splitlines():
                match = re.match(r"^[a-z0-9-]+::([\d.]+):15000::health_flags::(.*)$", line)
                if match and "failed_outlier_check" in match.group(2):
                    ejected.add((caller.instance, by_address[match.group(1)]))
        return ejected

    def outcome(self) -> dict:
        """What must be equal under every profile. Ports, timings and the hosts the load
        balancer happened to pick differ: with one replica down, a retry can, rarely, land on
        the failing host again (least-request prefers it, as it holds no requests, and the
        previous-hosts predicate re-picks only three times), so an answer in a hundred may
        still be a 503 on any profile."""
        replica_down = self.codes["one replica down"]
        return {
            "one replica down: retries hid it": set(replica_down) <= {200, 503}
            and replica_down[200] >= 0.99 * sum(replica_down.values()),
            "service down": dict(self.codes["service down"]),
            "ejected": self.ejected,
            "retried": {pair: count > 0 for pair, count in self.retries.items()},
        }


def _wait_for_scrapes(scenarios: list[Scenario], after: float, count: int) -> None:
    """Until every target of every Prometheus was scraped ``count`` times after ``after``."""
    for scenario in scenarios:
        deadline = time.monotonic() + SCRAPE_SECONDS * (count + 2)
        query = f"min(timestamp(up)) > {after + SCRAPE_SECONDS * (count - 1):.3f}"
        prometheus = scenario.mesh.prometheus
        assert prometheus is not None, "the mesh is running"
        while not prometheus.query_series(query):
            assert time.monotonic() < deadline, "Prometheus stopped scraping"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, envoy_binary):
    with ExitStack() as stack:
        runs = []
        for settings in VARIANTS.values():
            # Planned once the previous mesh holds its ports, so that no two pick the same.
            mesh = stack.enter_context(LocalMesh(settings, tmp_path_factory.mktemp("mesh")))
            mesh.start()
            runs.append(Scenario(mesh))
        for run in runs:
            run.mesh.start_load()
        time.sleep(TRAFFIC_SECONDS)
        for run in runs:
            run.one_replica_down()
        for run in runs:
            run.service_down()
        _wait_for_scrapes(runs, time.time(), 1)
        for run in runs:
            run.service_down()
        for run in runs:
            run.restore()
        _wait_for_scrapes(runs, max(r.fault_window[1] for r in runs), SCRAPES_AFTER)
        yield dict(zip(VARIANTS, runs, strict=True))
        # Ask every process of every mesh to stop at once, so that they wind down in
        # parallel; leaving the ExitStack then reaps them (and kills any that linger).
        for run in runs:
            for child in run.mesh.group.children:
                child.process.terminate()


def test_profiles_answer_retry_and_eject_alike(scenarios):
    outcomes = {name: scenarios[name].outcome() for name in DEV_VARIANTS}
    first = outcomes[DEV_VARIANTS[0]]
    # greeter-1 and greeter-2 call name and greeting; a greeter answers 502 if one fails.
    assert first["one replica down: retries hid it"], scenarios[DEV_VARIANTS[0]].codes
    assert first["service down"] == {503: 2 * 2 * DOWN_BURST, 502: 2 * DOWN_ENTRY_REQUESTS}, first
    assert first["ejected"] == {
        (f"greeter-{i}", f"{svc}-2") for i in (1, 2) for svc in ("name", "greeting")
    }, first
    assert all(first["retried"].values()) and len(first["retried"]) == 4, first
    for name, outcome in outcomes.items():
        assert outcome == first, (name, outcome, first)


@pytest.mark.parametrize("variant", EKS_VARIANTS)
def test_every_grafana_panel_query_returns_data(scenarios, variant):
    run = scenarios[variant]
    prometheus = run.mesh.prometheus
    settings = run.mesh.settings
    queries = grafana_mesh.panel_queries(settings) + grafana_envoy.panel_queries(settings)
    empty = [
        q for q in queries if not [v for _, v in prometheus.query_series(q) if not math.isnan(v)]
    ]
    assert empty == [], "\n".join(empty)


@pytest.mark.parametrize("variant", EKS_VARIANTS)
def test_event_panels_show_the_provoked_events(scenarios, variant):
    run = scenarios[variant]
    titles = EVENT_PANELS + ((CONNECT_FAILURE_PANEL,) if run.envoy_victim else ())
    panels = {p["title"]: p for p in grafana_envoy.envoy_dashboard(run.mesh.settings)["panels"]}
    since = int(time.time() - run.fault_window[0]) + 5
    for title in titles:
        peaks = [
            value
            for target in panels[title]["targets"]
            for _, value in run.mesh.prometheus.query_series(
                f"max_over_time(({target['expr']})[{since}s:1s])"
            )
        ]
        assert any(v > 0 for v in peaks), f"panel {title!r} never showed the event: {peaks}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_live_view_and_alert_rules_work(scenarios, variant):
    mesh = scenarios[variant].mesh
    signals = live_signals(mesh.settings)
    assert without_data(signals, read_signals(mesh.prometheus.query, signals)) == []
    assert mesh.prometheus.rule_errors() == []


@pytest.mark.parametrize("variant", ["dev ecs essential", "dev eks essential", "dev-eks"])
def test_real_envoys_keep_exactly_the_essential_stats(scenarios, variant):
    """Every stat each sidecar exposes to Prometheus is one a reader reads on its kind of
    service, and all of them are there (tests/unit/sidecar/test_stats.py: the lists are what the
    readers read)."""
    mesh = scenarios[variant].mesh
    exposed: dict[str, set] = {}
    for labels, _ in mesh.prometheus.query_series(
        "group by (service, __name__, envoy_http_conn_manager_prefix, envoy_cluster_name) "
        '({__name__=~"envoy_.+"})'
    ):
        exposed.setdefault(labels["service"], set()).add(series_stat(labels))
    assert set(exposed) == {s.name for s in mesh.settings.services}
    for name, stats in exposed.items():
        service = mesh.settings.service(name)
        # A service without upstreams has no egress listener and no upstream cluster.
        present = {INGRESS, LOCAL_APP, SERVER} | (
            {EGRESS, UPSTREAM} if service.upstreams else set()
        )
        kept = {
            s for s in essential_stats(mesh.settings.topology, service.kind) if s.scope in present
        }
        assert stats == keys(kept), name


def _answered(mesh: LocalMesh, selectors: list[str]) -> set[str]:
    prometheus = mesh.prometheus
    assert prometheus is not None, "the mesh is running"
    return {s for s in selectors if prometheus.query_series(f"group({s})")}


def _series_per_sidecar(mesh: LocalMesh, stats: set | None = None) -> float:
    """Envoy series per sidecar, all of them or those of ``stats`` (on the sidecar's kind)."""
    assert mesh.prometheus is not None, "the mesh is running"
    series = mesh.prometheus.query_series('{__name__=~"envoy_.+"}')
    kinds = {s.name: s.kind for s in mesh.settings.services}
    if stats is not None:
        series = [
            (labels, v)
            for labels, v in series
            if series_stat(labels)
            in keys(s for s in stats if s.scope in PRESENT[kinds[labels["service"]]])
        ]
    return len(series) / len(mesh.plan.replicas)


def test_eks_default_feeds_the_community_dashboards(scenarios):
    """The community Envoy dashboards' panel selectors (tests/support/community_dashboards.py,
    cited there) answer on the eks default profile for at least 90 % of what ``full`` answers,
    at most twice the series the eks profile kept for our own readers, far under ``full``."""
    selectors = community_dashboards.all_selectors()
    full = _answered(scenarios["dev full"].mesh, selectors)
    eks_mesh = scenarios["dev eks essential"].mesh
    eks = _answered(eks_mesh, selectors)
    assert len(eks & full) >= 0.9 * len(full), sorted(full - eks)
    ours = READS[GRAFANA] | READS[LIVE_VIEW]
    series = {
        "eks default": _series_per_sidecar(eks_mesh),
        "eks, our readers only": _series_per_sidecar(eks_mesh, ours),
        "full": _series_per_sidecar(scenarios["dev full"].mesh),
    }
    print(
        f"community selectors answered: full {len(full)} of {len(selectors)}, eks default "
        f"{len(eks & full)} of those; Envoy series per sidecar: {series}"
    )
    assert series["eks default"] <= 2 * series["eks, our readers only"], series
    assert series["eks default"] <= 0.25 * series["full"], series


def test_ecs_sidecars_send_only_read_stats_to_cloudwatch(scenarios):
    """What the CloudWatch agent would publish (after 5xx, retries and ejections too): only
    stats the dashboard, alarms or live view read, at most 25 metrics per service."""
    mesh = scenarios["dev ecs essential"].mesh
    metrics = mesh.receiver.metrics()
    for service in mesh.settings.services:
        sent = {cloudwatch_stat(m) for m in metrics if m.dimension("service") == service.name}
        assert sent and sent <= keys(essential_stats("ecs", service.kind)), service.name
    per_service = metrics_per_service(metrics)
    assert max(per_service.values()) <= MAX_METRICS_PER_SERVICE, per_service
