"""Every Grafana panel's query is valid PromQL: promtool parses it with Prometheus's own parser
(tests/unit/dashboards/test_grafana.py checks the dashboards themselves)."""

from __future__ import annotations

import yaml

from tests.support.consumers import run_promtool
from tests.unit.dashboards.test_grafana import MODULES


def test_every_panel_query_is_valid_promql(settings, promtool, tmp_path):
    queries = [q for module, _ in MODULES.values() for q in module.panel_queries(settings)]
    # promtool parses every recording rule's expression with Prometheus's own PromQL parser.
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [
                    {"record": f"panel:query_{i}", "expr": query} for i, query in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "panels.yaml").write_text(yaml.safe_dump(rules))
    done = run_promtool(promtool, "check", "rules", "panels.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout


def test_promtool_rejects_a_broken_query(promtool, tmp_path):
    """The check above can fail: promtool refuses an expression that does not parse."""
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [{"record": "panel:broken", "expr": "sum by (service (rate(x[1m]))"}],
            }
        ]
    }
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(rules))
    done = run_promtool(promtool, "check", "rules", "broken.yaml", cwd=tmp_path)
    assert done.returncode != 0
