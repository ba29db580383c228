"""The mesh's CloudWatch dashboard body ("Dashboard Body Structure and Syntax").

Per-service graphs use SEARCH() over the mesh's namespace, so a service added to the stack
shows up without a new widget; the error-rate graph repeats the alarms' metric math so the
dashboard shows exactly what the alarms evaluate. Every metric a widget reads is a
``MetricRead`` (dashboards/cloudwatch/metrics.py), which the tests compare with what real
Envoys send.
"""

from __future__ import annotations

import re

from components.settings.model import Settings
from components.settings.naming import metric_namespace
from dashboards.burn_rates import BURN_RATE_ALERTS, DAY, PAGE, TICKET, alerts_of, window_label
from dashboards.cloudwatch.alarms import (
    PERIOD_S,
    REQUESTS_STAT,
    error_rate_expression,
    error_reads,
    latency_read,
    threshold_alarm_services,
)
from dashboards.cloudwatch.logs_insights import query_by_title, sampling_note
from dashboards.cloudwatch.metrics import (
    AFTER_4XX,
    AFTER_5XX,
    AFTER_HTTP2,
    AFTER_RETRY,
    COUNTER,
    GAUGE,
    TIMING,
    MetricRead,
    ingress,
    upstream,
)
from dashboards.cloudwatch.slo import (
    SLOS,
    budget_number,
    burn_queries,
    objective_text,
    slo_reads,
)

GRID_WIDTH = 24
HALF = GRID_WIDTH // 2
GRAPH_HEIGHT = 6
ALB_NAMESPACE = "AWS/ApplicationELB"
# "You don't need to use quote marks inside the metric schema unless a namespace or dimension
# name includes spaces or non-alphanumeric characters. In that case, you must enclose the name
# that contains those characters with double quotes." (CloudWatch search expression syntax,
# awsdocs/amazon-cloudwatch-user-guide doc_source/search-expression-syntax.md
# @49a8dfe94df4812d7a2e1d8784db25f9892a2111; same text on docs.aws.amazon.com today.)
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9]+$")
# A dynamic label: the line's `service` dimension.
SERVICE_LABEL = "${PROP('Dim.service')}"
# The fastest page (14.4x over 1h and 5m): the SLO rows graph the burn rate over its windows.
FASTEST = BURN_RATE_ALERTS[0]


def _quote(token: str) -> str:
    """A namespace or dimension name as a SEARCH schema element (quoted if it needs to be)."""
    return token if _PLAIN_TOKEN.match(token) else f'"{token}"'


def search_expression(read: MetricRead, namespace: str, stat: str) -> str:
    """``SEARCH()`` for every metric ``read`` matches: its exact dimension names as the schema,
    its fixed values and exclusions as search terms."""
    schema = ",".join(_quote(t) for t in [namespace, *(key for key, _ in read.dimensions)])
    terms = [f'MetricName="{read.name}"']
    terms += [f'{key}="{value}"' for key, value in read.dimensions if value is not None]
    terms += [f'NOT {key}="{value}"' for key, value in read.exclude]
    return f"SEARCH('{{{schema}}} {' '.join(terms)}', '{stat}', {PERIOD_S})"


def _metric_line(read: MetricRead, namespace: str, options: dict) -> list:
    """A metrics-array entry for one fully specified metric."""
    return [namespace, read.name, *[part for pair in read.dimensions for part in pair], options]


class _Widgets:
    """Collects widgets (laid out two per row) and the metric reads behind them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.namespace = metric_namespace(settings.mesh_name)
        self.widgets: list[dict] = []
        self.reads: list[MetricRead] = []
        self._x = 0
        self._y = 0
        self._row_height = 0

    def _place(self, widget_type: str, width: int, height: int, properties: dict) -> None:
        if self._x + width > GRID_WIDTH:
            self._new_row()
        self.widgets.append(
            {
                "type": widget_type,
                "x": self._x,
                "y": self._y,
                "width": width,
                "height": height,
                "properties": properties,
            }
        )
        self._x += width
        self._row_height = max(self._row_height, height)

    def _new_row(self) -> None:
        self._x, self._y, self._row_height = 0, self._y + self._row_height, 0

    def full_row(self, widget_type: str, height: int, properties: dict) -> None:
        if self._x:
            self._new_row()
        self._place(widget_type, GRID_WIDTH, height, properties)

    def graph(
        self,
        title: str,
        metrics: list[list],
        stat: str,
        *,
        label: str,
        threshold: float | None = None,
        threshold_label: str = "alarm threshold",
    ) -> None:
        properties: dict = {
            "title": title,
            "view": "timeSeries",
            "stacked": False,
            "region": self.settings.region,
            "stat": stat,
            "period": PERIOD_S,
            "metrics": metrics,
            "yAxis": {"left": {"min": 0, "label": label, "showUnits": False}},
        }
        if threshold is not None:
            properties["annotations"] = {
                "horizontal": [{"label": threshold_label, "value": threshold}]
            }
        self.half("metric", GRAPH_HEIGHT, properties)

    def half(self, widget_type: str, height: int, properties: dict) -> None:
        self._place(widget_type, HALF, height, properties)

    def search_graph(
        self,
        title: str,
        searches: list[tuple[MetricRead, str, str | None]],
        stat: str,
        *,
        label: str,
        threshold: float | None = None,
    ) -> None:
        """A graph of SEARCH expressions: (read, statistic, legend label or None) each.

        Without a label CloudWatch names each line by the dimension values that differ.
        """
        metrics = []
        for i, (read, read_stat, legend) in enumerate(searches, start=1):
            self.reads.append(read)
            expression: dict = {
                "expression": search_expression(read, self.namespace, read_stat),
                "id": f"s{i}",
            }
            if legend is not None:
                expression["label"] = legend
            metrics.append([expression])
        self.graph(title, metrics, stat, label=label, threshold=threshold)


def _build(settings: Settings, load_balancer: str | None, target_group: str | None) -> _Widgets:
    mesh = settings.mesh_name
    w = _Widgets(settings)
    w.full_row("text", 2, {"markdown": _header(settings)})

    def one(
        title: str,
        read: MetricRead,
        stat: str,
        axis: str,
        legend: str | None = SERVICE_LABEL,
        threshold: float | None = None,
    ) -> None:
        w.search_graph(title, [(read, stat, legend)], stat, label=axis, threshold=threshold)

    # Every service's ingress request time, read three ways: its sample count (the requests
    # answered, as the alarms count them), p50 and p99.
    requests = latency_read(settings, None)
    one("Requests per service (ingress)", requests, REQUESTS_STAT, "requests / min")
    one(
        "2xx responses per service",
        ingress(mesh, None, "downstream_rq_xx", code_class="2"),
        "Sum",
        "responses / min",
    )
    w.search_graph(
        "4xx and 5xx responses per service",
        [
            (
                ingress(mesh, None, "downstream_rq_xx", code_class="4", when=AFTER_4XX),
                "Sum",
                f"4xx {SERVICE_LABEL}",
            ),
            (
                ingress(mesh, None, "downstream_rq_xx", code_class="5", when=AFTER_5XX),
                "Sum",
                f"5xx {SERVICE_LABEL}",
            ),
        ],
        "Sum",
        label="responses / min",
    )
    _error_rate_graph(w)
    one("Latency p50 per service (ms, at its sidecar's ingress)", requests, "p50", "ms")
    one(
        "Latency p99 per service (ms, at its sidecar's ingress)",
        requests,
        "p99",
        "ms",
        threshold=float(settings.latency_alarm_ms) if threshold_alarm_services(settings) else None,
    )
    # Upstream views, every caller's sidecar together (the agent's per-upstream aggregate):
    # without a label each line is named by its upstream.
    one(
        "Upstream call latency p99 per upstream (ms, its callers' view incl. retries)",
        upstream(mesh, "upstream_rq_time", TIMING),
        "p99",
        "ms",
        legend=None,
    )
    _edge_table(w)
    one(
        "Retries per upstream",
        upstream(mesh, "upstream_rq_retry", COUNTER, when=AFTER_RETRY),
        "Sum",
        "retries / min",
        legend=None,
    )
    one(
        "Healthy upstream hosts (fewest any caller sees)",
        upstream(mesh, "membership_healthy", GAUGE),
        "Minimum",
        "hosts",
        legend=None,
    )
    one(
        "Downstream connections total (ingress)",
        ingress(mesh, None, "downstream_cx_total"),
        "Sum",
        "connections / min",
    )
    # Every task of a service feeds one gauge metric (no host dimension: omit_hostname in
    # components/ecs/agent.py), and the agent folds each task's 10 s samples into one datum a
    # minute, so Sum would add about six samples per task: the honest figure is the mean per task.
    one(
        "Downstream connections active per task (ingress, mean of tasks)",
        ingress(mesh, None, "downstream_cx_active", GAUGE),
        "Average",
        "connections per task",
    )
    one(
        "HTTP/2 connections total (ingress)",
        ingress(mesh, None, "downstream_cx_http2_total", when=AFTER_HTTP2),
        "Sum",
        "connections / min",
    )
    if load_balancer:
        _alb_graphs(w, load_balancer, target_group)

    if settings.access_log != "off":
        # Every 5xx is logged under every policy; the title says what else is (or is not).
        errors = query_by_title(settings, "5xx responses")
        sources = " | ".join(f"SOURCE '{group}'" for group in errors["log_group_names"])
        w.full_row(
            "log",
            GRAPH_HEIGHT,
            {
                "title": f"Latest 5xx responses (Envoy access logs: {sampling_note(settings)})",
                "region": settings.region,
                "view": "table",
                "query": f"{sources} | {errors['query_string']}",
            },
        )
    # Last, so that a new service adds rows rather than moving the graphs above.
    _slo_rows(w)
    return w


def _edge_table(w: _Widgets) -> None:
    """The service map's nodes as a compact table: one row per upstream with the calls its
    callers' sidecars made to it, p50 and p99 over the time range, from their upstream request
    time (a data table widget, documented in "Using a data table widget in a CloudWatch
    dashboard"). Per upstream, not per caller and upstream: a metric per edge would make a
    caller's metric bill grow with its upstreams. Each edge is on the X-Ray service map (with
    ``tracing``), and the ingress rows above show what each service answered."""
    read = upstream(w.settings.mesh_name, "upstream_rq_time", TIMING)
    w.reads.append(read)
    metrics = [
        [{"expression": search_expression(read, w.namespace, stat), "id": f"e{i}", "label": label}]
        for i, (stat, label) in enumerate(
            (("SampleCount", "calls"), ("p50", "p50 ms"), ("p99", "p99 ms")), start=1
        )
    ]
    w.full_row(
        "metric",
        GRAPH_HEIGHT,
        {
            "title": "Calls into each upstream (all its callers; per edge: the X-Ray service map)",
            "view": "table",
            "region": w.settings.region,
            "period": PERIOD_S,
            "stat": "p99",
            "metrics": metrics,
            # Only the summaries over the dashboard's time range: calls summed, latencies averaged.
            "table": {"summaryColumns": ["SUM", "AVG", "MAX"], "showTimeSeriesData": False},
        },
    )


def _error_rate_graph(w: _Widgets) -> None:
    """5xx % per service, the alarms' own metric math (exact metrics, no SEARCH)."""
    metrics: list[list] = []
    for i, svc in enumerate(w.settings.app_services):
        errors, requests = error_reads(w.settings, svc.name)
        w.reads += [errors, requests]
        metrics += [
            _metric_line(
                errors, w.namespace, {"id": f"errors{i}", "stat": "Sum", "visible": False}
            ),
            _metric_line(
                requests,
                w.namespace,
                {"id": f"requests{i}", "stat": REQUESTS_STAT, "visible": False},
            ),
            [
                {
                    "expression": error_rate_expression(f"errors{i}", f"requests{i}"),
                    "id": f"rate{i}",
                    "label": svc.name,
                }
            ],
        ]
    w.graph(
        "5xx rate per service (%, as the alarms see it)",
        metrics,
        "Sum",
        label="%",
        threshold=float(w.settings.error_rate_alarm_percent)
        if threshold_alarm_services(w.settings)
        else None,
    )


def _alb_graphs(w: _Widgets, load_balancer: str, target_group: str | None) -> None:
    """The load balancer's own metrics (``load_balancer``/``target_group``: ARN suffixes)."""
    lb = ["LoadBalancer", load_balancer]
    w.graph(
        "Load balancer requests and 5xx",
        [
            [ALB_NAMESPACE, "RequestCount", *lb, {"stat": "Sum", "label": "requests"}],
            [
                ALB_NAMESPACE,
                "HTTPCode_Target_5XX_Count",
                *lb,
                {"stat": "Sum", "label": "target 5xx"},
            ],
            [ALB_NAMESPACE, "HTTPCode_ELB_5XX_Count", *lb, {"stat": "Sum", "label": "ALB 5xx"}],
        ],
        "Sum",
        label="requests / min",
    )
    w.graph(
        "Load balancer target response time (s)",
        [
            [ALB_NAMESPACE, "TargetResponseTime", *lb, {"stat": "p50", "label": "p50"}],
            [ALB_NAMESPACE, "TargetResponseTime", *lb, {"stat": "p99", "label": "p99"}],
        ],
        "p99",
        label="seconds",
    )
    if target_group:
        tg = ["TargetGroup", target_group, *lb]
        w.graph(
            "Load balancer targets",
            [
                [ALB_NAMESPACE, "HealthyHostCount", *tg, {"stat": "Minimum", "label": "healthy"}],
                [
                    ALB_NAMESPACE,
                    "UnHealthyHostCount",
                    *tg,
                    {"stat": "Maximum", "label": "unhealthy"},
                ],
            ],
            "Minimum",
            label="targets",
        )


def _slo_rows(w: _Widgets) -> None:
    """Per service with an SLO: its SLIs and the error budget left over the SLO window, and its
    burn rates per 5 minutes and per hour, the windows of the fastest page (the same metric
    math as its alarms, dashboards/cloudwatch/slo.py)."""
    services = w.settings.service_slos
    if not services:
        return
    w.full_row("text", 2, {"markdown": _slo_note()})
    for svc, slo in services:
        window = slo.window_days * DAY
        summary: list[list] = []
        burns: list[list] = []
        for kind in SLOS:
            w.reads += list(slo_reads(w.settings, svc.name)[kind])
            over_window = burn_queries(w.settings, svc.name, kind, slo, window, f"{kind[0]}_")
            summary += _query_lines(w.namespace, over_window)
            burn = over_window[-1]["id"]
            summary += [
                [
                    {
                        "expression": f"100 - {burn} * {budget_number(slo, kind)}",
                        "id": f"{kind[0]}_sli",
                        "label": f"{kind} SLI % ({objective_text(slo, kind)})",
                    }
                ],
                [
                    {
                        "expression": f"100 * (1 - {burn})",
                        "id": f"{kind[0]}_left",
                        "label": f"{kind} budget left %",
                    }
                ],
            ]
            for period in FASTEST.windows:
                label = window_label(period)
                queries = burn_queries(
                    w.settings, svc.name, kind, slo, period, f"{kind[0]}{label}_"
                )
                burns += _query_lines(w.namespace, queries)
                burns[-1][0].update(visible=True, label=f"{kind} per {label}")
        w.half(
            "metric",
            GRAPH_HEIGHT,
            {
                "title": f"{svc.name}: SLIs and error budget left over {slo.window_days} days",
                "view": "singleValue",
                "region": w.settings.region,
                "stat": "Sum",
                "period": window,
                "start": f"-P{slo.window_days}D",
                "setPeriodToTimeRange": True,
                "metrics": summary,
            },
        )
        w.graph(
            f"{svc.name}: burn rate (x the error budget)",
            burns,
            "Sum",
            label="burn rate",
            threshold=FASTEST.factor,
            threshold_label=(
                f"page: {FASTEST.factor:g}x over {' and '.join(map(window_label, FASTEST.windows))}"
            ),
        )


def _query_lines(namespace: str, queries: list[dict]) -> list[list]:
    """Alarm metric queries as hidden lines of a metric widget (its ids kept)."""
    lines: list[list] = []
    for query in queries:
        if "metric" in query:
            m = query["metric"]
            dims = [part for pair in m["dimensions"].items() for part in pair]
            options = {
                "id": query["id"],
                "stat": m["stat"],
                "period": m["period"],
                "visible": False,
            }
            lines.append([namespace, m["metric_name"], *dims, options])
        else:
            lines.append([{"expression": query["expression"], "id": query["id"], "visible": False}])
    return lines


def _slo_note() -> str:
    def pairs(severity: str) -> str:
        return " or ".join(
            f"{a.factor:g}x ({' and '.join(map(window_label, a.windows))})"
            for a in alerts_of(severity)
        )

    return (
        "## SLOs\n"
        "Burn rate: how fast a service spends its error budget (at 1x it lasts exactly the SLO "
        f"window). A page fires when both windows of a pair burn faster than {pairs(PAGE)}, a "
        f"ticket at {pairs(TICKET)}; both go to the mesh's SNS topic (stack output "
        "`alertTopicArn`, docs/slo-cloudwatch.md)."
    )


def _header(settings: Settings) -> str:
    alarms = (
        "SLO burn-rate alarms page or open a ticket for the services with an SLO (rows at "
        "the bottom)"
    )
    if threshold_alarm_services(settings):
        alarms += (
            "; threshold alarms fire on the 5xx rate "
            f"(> {settings.error_rate_alarm_percent:g}%) and p99 latency "
            f"(> {settings.latency_alarm_ms} ms) of the others"
        )
    return (
        f"# {settings.mesh_name} mesh\n"
        f"Envoy sidecar metrics in namespace `{metric_namespace(settings.mesh_name)}`, sent "
        "over DogStatsD to each task's CloudWatch agent. Latency is the request time at a "
        "service's sidecar ingress, what its callers wait; upstream views add up every "
        f"caller's sidecar per upstream. {alarms}."
    )


def dashboard_body(settings: Settings, load_balancer: str | None, target_group: str | None) -> dict:
    """The dashboard body; ALB widgets when ``load_balancer`` (its ARN suffix) is given."""
    return {
        "periodOverride": "inherit",
        "start": "-PT3H",
        "widgets": _build(settings, load_balancer, target_group).widgets,
    }


def dashboard_reads(settings: Settings) -> list[MetricRead]:
    """Every metric in the mesh's namespace that a dashboard widget reads."""
    return _build(settings, None, None).reads


def dashboard_metric_names(settings: Settings) -> set[str]:
    """Names of every mesh metric the dashboard reads (ALB metrics are AWS's own)."""
    return {read.name for read in dashboard_reads(settings)}
