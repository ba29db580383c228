"""The game day's time-scaled alert rules, accepted by promtool (tests/unit/meshvis/
test_gameday_plan.py checks what scaling changes)."""

from __future__ import annotations

import yaml

from components.stack import stack_settings
from dashboards.prometheus.rules import rules_file
from meshvis.local import gameday_plan as plan
from tests.support.consumers import run_promtool


def test_scaled_rules_pass_promtool_check(promtool, tmp_path):
    scaled = plan.scale_rules(rules_file(stack_settings("dev")), 6)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(scaled))
    done = run_promtool(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
