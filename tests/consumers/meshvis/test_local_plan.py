"""The local mesh's Prometheus configuration and rules, accepted by promtool
(tests/unit/meshvis/test_local_plan.py checks the plan itself)."""

from __future__ import annotations

from components.stack import stack_settings
from dashboards.prometheus.rules import rules_file
from dashboards.prometheus.scrape import JOB_NAME
from meshvis.local.plan import plan_mesh
from meshvis.local.prometheus import Prometheus
from tests.support.consumers import run_promtool


def test_prometheus_config_and_rules_pass_promtool(tmp_path, promtool):
    settings = stack_settings("dev")
    plan = plan_mesh(settings)
    prometheus = Prometheus(tmp_path, plan.scrape_targets(), rules_file(settings))
    checked = run_promtool(promtool, "check", "config", str(prometheus.config_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr
    config = prometheus.config_path.read_text()
    assert JOB_NAME in config and "replica: greeter-2" in config
