"""A real Prometheus for the local mesh: its configuration, its process and its HTTP API."""

from __future__ import annotations

import json
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


class Prometheus:
    """Prometheus on 127.0.0.1:<free port> with its data in its process group's scratch folder.

    The configuration and the log go to ``run_dir``; the TSDB is removed by ``close``.
    """

    def __init__(
        self, run_dir: Path, targets: list[tuple[str, dict[str, str]]], rules: dict | None = None
    ) -> None:
        """``rules``: a rule file document (``{"groups": [...]}``) to evaluate, if any."""
        self.run_dir = run_dir
        self.config_path = run_dir / "prometheus.yml"
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
                "--log.level=warn",
            ],
            log_path,
        )
        wait_http(f"{self.url}/-/ready", group, timeout=timeout)

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
            if value == value:
                result[series["metric"].get("service", "")] = value
        return result

    def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> dict[str, list[tuple[float, float]]]:
        """A range query summed ``by (service)``: service -> [(unix time, value), ...]."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return {
            series["metric"].get("service", ""): [(float(t), float(v)) for t, v in series["values"]]
            for series in self._get("/api/v1/query_range", params)["result"]
        }

    def query_series(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query with every series' labels."""
        return [
            (series["metric"], float(series["value"][1]))
            for series in self._get("/api/v1/query", {"query": expr})["result"]
        ]

    def rule_errors(self) -> list[str]:
        """Loaded rules whose last evaluation failed: ``"<rule>: <error>"``."""
        return [
            f"{rule['name']}: {rule.get('lastError', '')}"
            for group in self._get("/api/v1/rules")["groups"]
            for rule in group["rules"]
            if rule.get("health") == "err"
        ]
