"""A real Prometheus for the local mesh: its configuration, its process and its HTTP API."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from dashboards.prometheus.scrape import SCRAPE_INTERVAL, prometheus_config, static_scrape_job
from meshvis.local.processes import ProcessGroup, free_port, wait_http

PROMETHEUS = Path("/usr/bin/prometheus")
# The run lasts minutes; nothing needs keeping beyond it.
RETENTION = "2h"
DISCOVERY_RELOAD = "1s"


class RulesNotLoaded(RuntimeError):
    """Prometheus runs without exactly the rules it was given; the message is one line."""


def rule_names(groups: list[dict]) -> list[tuple[str, list[str]]]:
    """``[(group, [rule names])]`` of a rule file's groups or of ``/api/v1/rules``' answer
    (a rule file names a rule by ``alert`` or ``record``, the API by ``name``)."""
    return [
        (
            group["name"],
            [r.get("name") or r.get("alert") or r.get("record") for r in group["rules"]],
        )
        for group in groups
    ]


class Prometheus:
    """Prometheus on 127.0.0.1:<free port> with its data in its process group's scratch folder.

    The configuration and the log go to ``run_dir``; the TSDB is removed by ``close``.
    """

    def __init__(
        self, run_dir: Path, targets: list[tuple[str, dict[str, str]]], rules: dict | None = None
    ) -> None:
        """``rules``: a rule file document (``{"groups": [...]}``) to evaluate, if any."""
        # Absolute: Prometheus resolves a relative rule file against its configuration's
        # folder (prometheus/prometheus config/config.go SetDirectory), not the working one.
        run_dir = run_dir.absolute()
        self.run_dir = run_dir
        self.config_path = run_dir / "prometheus.yml"
        self.rules = rules or {"groups": []}
        self.rules_loaded = 0
        rule_files = []
        if rules:
            rules_path = run_dir / "prometheus-rules.yml"
            rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
            rule_files.append(str(rules_path))
        self.config_path.write_text(
            yaml.safe_dump(
                prometheus_config(static_scrape_job(targets), rule_files, interval=SCRAPE_INTERVAL),
                sort_keys=False,
            )
        )
        self.port = 0
        self._data: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, group: ProcessGroup, log_path: Path, timeout: float = 30.0) -> None:
        """Start it in ``group`` and wait until it is ready to serve queries."""
        # In the group's scratch folder: removed with the group even if this process is killed.
        self._data = tempfile.mkdtemp(prefix="prometheus-", dir=group.scratch)
        self.port = free_port()
        group.start(
            "prometheus",
            [
                str(PROMETHEUS),
                f"--config.file={self.config_path}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={self._data}",
                f"--storage.tsdb.retention.time={RETENTION}",
                # The scrape manager takes new targets at most this often (5 s by default,
                # prometheus/prometheus cmd/prometheus/main.go, a hidden flag): the local
                # mesh's targets are all known at start, so waiting only delays first data.
                f"--scrape.discovery-reload-interval={DISCOVERY_RELOAD}",
                "--log.level=warn",
            ],
            log_path,
        )
        wait_http(f"{self.url}/-/ready", group, timeout=timeout)
        self.check_rules()

    def check_rules(self) -> None:
        """Raise ``RulesNotLoaded`` unless Prometheus evaluates exactly the generated rules
        (groups, and rule names in their order); else count them in ``rules_loaded``."""
        # Sorted: the API lists a file's groups in an order of its own.
        loaded = sorted(rule_names(self._get("/api/v1/rules")["groups"]))
        expected = sorted(rule_names(self.rules["groups"]))
        if loaded != expected:
            count = sum(len(names) for _, names in loaded)
            raise RulesNotLoaded(
                f"Prometheus loaded {count} rules in {len(loaded)} groups, not the "
                f"{sum(len(n) for _, n in expected)} rules in {len(expected)} groups of "
                f"{self.run_dir / 'prometheus-rules.yml'}; see {self.config_path}"
            )
        self.rules_loaded = sum(len(names) for _, names in loaded)

    def close(self) -> None:
        """Remove the TSDB (call after the process has stopped)."""
        if self._data:
            shutil.rmtree(self._data, ignore_errors=True)
            self._data = None

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params or {})}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {(params or {}).get('query')!r}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> dict[str, float]:
        """An instant query summed ``by (service)``: service -> value (NaN values dropped)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        result = {}
        for series in self._get("/api/v1/query", params)["result"]:
            value = float(series["value"][1])
            if not math.isnan(value):
                result[series["metric"].get("service", "")] = value
        return result

    def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> dict[str, list[tuple[float, float]]]:
        """A range query summed ``by (service)``: service -> [(unix time, value), ...]."""
        return {
            labels.get("service", ""): points
            for labels, points in self.query_range_series(expr, start, end, step)
        }

    def query_series(
        self, expr: str, at: float | None = None
    ) -> list[tuple[dict[str, str], float]]:
        """An instant query (now, or at unix time ``at``) with every series' labels."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return [
            (series["metric"], float(series["value"][1]))
            for series in self._get("/api/v1/query", params)["result"]
        ]

    def query_range_series(
        self, expr: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query with every series' labels: [(labels, [(unix time, value), ...])]."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return [
            (series["metric"], [(float(t), float(v)) for t, v in series["values"]])
            for series in self._get("/api/v1/query_range", params)["result"]
        ]

    def alerts(self) -> list[dict]:
        """Every pending and firing alert (``/api/v1/alerts``: labels, state, activeAt)."""
        return self._get("/api/v1/alerts")["alerts"]

    def rule_errors(self) -> list[str]:
        """Loaded rules whose last evaluation failed: ``"<rule>: <error>"``."""
        return [
            f"{rule['name']}: {rule.get('lastError', '')}"
            for group in self._get("/api/v1/rules")["groups"]
            for rule in group["rules"]
            if rule.get("health") == "err"
        ]
