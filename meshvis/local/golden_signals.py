"""The golden signals the live view shows, as the Prometheus queries of
dashboards/prometheus/promql.py.

An app service is measured where it serves (its ingress listener); a load generator where it
calls (its egress listeners: what a client gets back end to end, after retries). Each signal
names the services it must have data for, which is how a run finds the queries that came
back empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from components.settings.model import Settings
from dashboards.prometheus import promql
from dashboards.prometheus.scrape import JOB_NAME
from meshvis.local.health import assess, observed_live
from meshvis.local.service_map import QuerySeries, service_map


@dataclass(frozen=True)
class Signal:
    """One column of the live view for some services: its key, header and PromQL."""

    key: str
    header: str
    expr: str
    services: tuple[str, ...]
    percent: bool = False

    def value(self, raw: float) -> float:
        return raw * 100 if self.percent else raw


@dataclass(frozen=True)
class _Column:
    key: str
    header: str
    app: Callable[[str], str] | None
    load: Callable[[str], str] | None
    percent: bool = False
    needs_upstreams: bool = False


def _sidecars_up(mesh: str) -> str:
    return promql.sidecars_up(mesh, JOB_NAME)


# Short enough that the view settles within seconds of traffic starting (rate() divides by
# the whole window, so a 1m window under-reads for a minute), long enough for 4 scrapes.
WINDOW = "20s"

COLUMNS = (
    _Column(
        "requests_per_s",
        "req/s",
        lambda m: promql.request_rate(m, WINDOW),
        lambda m: promql.outbound_request_rate(m, WINDOW),
    ),
    _Column(
        "success_pct",
        "ok %",
        lambda m: promql.success_ratio(m, WINDOW),
        lambda m: promql.outbound_success_ratio(m, WINDOW),
        percent=True,
    ),
    _Column("p50_ms", "p50 ms", lambda m: promql.latency_quantile(m, 0.5, WINDOW), None),
    _Column("p99_ms", "p99 ms", lambda m: promql.latency_quantile(m, 0.99, WINDOW), None),
    _Column("active_connections", "active conns", promql.active_connections, None),
    # Every service's (load generators' too): the health model's "sidecars answering".
    _Column("sidecars_up", "sidecars up", _sidecars_up, _sidecars_up),
    _Column(
        "healthy_upstream_hosts",
        "healthy hosts",
        promql.healthy_upstream_hosts,
        promql.healthy_upstream_hosts,
        needs_upstreams=True,
    ),
)


def live_signals(settings: Settings) -> list[Signal]:
    """Every query of the live view with the services it must return a value for."""
    signals: list[Signal] = []
    for column in COLUMNS:
        for is_load, query in ((False, column.app), (True, column.load)):
            services = tuple(
                s.name
                for s in settings.services
                if s.is_load == is_load and (s.upstreams or not column.needs_upstreams)
            )
            if query is None or not services:
                continue
            expr = query(settings.mesh_name)
            previous = next((s for s in signals if s.expr == expr), None)
            if previous:
                # One query serves apps and load generators alike: evaluate it once.
                signals[signals.index(previous)] = Signal(
                    previous.key,
                    previous.header,
                    expr,
                    previous.services + services,
                    previous.percent,
                )
            else:
                signals.append(Signal(column.key, column.header, expr, services, column.percent))
    return signals


Values = dict[str, dict[str, float]]


def read_signals(query: Callable[[str], dict[str, float]], signals: list[Signal]) -> Values:
    """service -> signal key -> value, from ``query`` (an instant query by service)."""
    values: Values = {}
    for signal in signals:
        result = query(signal.expr)
        for service in signal.services:
            if service in result:
                values.setdefault(service, {})[signal.key] = signal.value(result[service])
    return values


def without_data(signals: list[Signal], values: Values) -> list[str]:
    """The signals some service has no value for: ``"<key> (<services>): <PromQL>"``."""
    missing = []
    for signal in signals:
        absent = [s for s in signal.services if signal.key not in values.get(s, {})]
        if absent:
            missing.append(f"{signal.key} ({', '.join(absent)}): {signal.expr}")
    return missing


def live_health(settings: Settings, values: Values, query_series: QuerySeries) -> dict[str, dict]:
    """Each app service's health over the live window: ``values`` (from ``read_signals``)
    and the service map's edges over the same window."""
    edges = service_map(settings, query_series, WINDOW, {})["edges"]
    return assess(settings, observed_live(values), edges)
