"""The SLO alerts under promtool: each Workbook pair fires within its detection time at its
burn rate, stays quiet just below it and resolves after recovery (tests/support/slo_promtool.py
writes the cases; the files in tests/promtool/ are what is run, and must be what it writes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dashboards.burn_rates import BURN_RATE_PAIRS
from meshvis.render.eks import to_yaml
from tests.support.consumers import run_promtool
from tests.support.slo_promtool import RULES_FILE, documents, promtool_file_name

PROMTOOL_DIR = Path(__file__).resolve().parents[2] / "promtool"
REGENERATE = (
    ".venv/bin/python -c 'from tests.consumers.dashboards.test_slo_promtool import write; write()'"
)


def write() -> None:
    """Rewrite tests/promtool/ from the generator (after a change to the SLO rules)."""
    for name, document in documents().items():
        (PROMTOOL_DIR / name).write_text(to_yaml(document))


def test_the_committed_files_are_what_the_generator_writes():
    for name, document in documents().items():
        path = PROMTOOL_DIR / name
        assert path.is_file() and yaml.safe_load(path.read_text()) == document, (
            f"{path} is stale: run {REGENERATE}"
        )


@pytest.mark.parametrize(
    "pair", BURN_RATE_PAIRS, ids=[promtool_file_name(p) for p in BURN_RATE_PAIRS]
)
def test_promtool_passes(promtool, pair):
    done = run_promtool(
        promtool, "test", "rules", promtool_file_name(pair), cwd=PROMTOOL_DIR, timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_the_rules_pass_promtool_check(promtool):
    done = run_promtool(promtool, "check", "rules", RULES_FILE, cwd=PROMTOOL_DIR)
    assert done.returncode == 0, done.stdout + done.stderr
