"""The live view names the culprit's page as it fires: ``meshvis run`` on a two-tier stack.

``load -> front -> leaf``, one replica each; leaf's sidecar aborts ``ABORT_PERCENT`` % of its
requests with 503 (Envoy's fault filter, the ``faults`` key). Leaf's availability burns its
99.9 % objective ``ABORT_PERCENT`` x 10 times too fast: its SLO page fires (no ``for``: as
soon as its 5m and 1h error ratios both pass 14.4x or 6x the budget, which the first scrapes
of a fresh run hold). front's sidecar retries an aborted call twice, so about
(ABORT_PERCENT/100)^3 = 0.003 % of front's answers fail: far below its own pages (0.6 %).
The live view (plain lines, stdout being a pipe) must name leaf's page firing, on leaf, and
no page of front. Every wait is bounded; nothing asserts on how long anything took.
"""

from __future__ import annotations

import json
import re
import signal

import pytest

from tests.local.test_local_mesh import STARTED, MeshRun, nothing_left, written_stack

pytestmark = pytest.mark.integration

ABORT_PERCENT = 3
STACK = {
    "config": {
        "aws:region": "us-west-2",
        "mesh-visibility:meshName": "burning",
        "mesh-visibility:services": [
            {"name": "front", "port": 3000, "upstreams": ["leaf"]},
            {"name": "leaf", "port": 3000, "faults": {"abortPercent": ABORT_PERCENT}},
            {"name": "load", "kind": "load", "rate": 10, "upstreams": ["front"]},
        ],
    }
}
# "[   25s] firing: leaf PAGE availability 1h (MeshErrorBudgetBurnPage1h, since 18:42:07 UTC)"
LEAF_PAGE_FIRING = re.compile(
    r"^\[\s*\d+s\] firing: leaf PAGE availability (1h|6h) \(MeshErrorBudgetBurnPage\1, since "
)
FRONT_PAGE = re.compile(r"firing: front PAGE|^\[\s*\d+s\] front: .*alerts .*PAGE")
# leaf's own line in the table's plain form, with the page in its alerts column.
# "[   26s] leaf: ok  req/s 10.3 ...  alerts PAGE availability 1h+6h (firing 15 s), ..."
LEAF_ROW = re.compile(r"^\[\s*(\d+)s\] leaf: .*  alerts PAGE availability [1h6+]+ \(firing \d+ s\)")


@pytest.fixture
def run(tmp_path):
    args = written_stack(tmp_path, "burning", STACK)
    started = MeshRun(tmp_path, [*args, "--duration", "300", "--summary", "s.json"])
    yield started
    started.cleanup()


def test_the_live_view_names_the_culprits_page_firing_and_not_its_callers(run, tmp_path):
    run.wait_for(STARTED, 60)
    run.wait_for(LEAF_PAGE_FIRING, 180)
    # The table's next plain print (every 10 s) shows it in leaf's row.
    stamp = run.wait_for(LEAF_ROW, 60).group(1)
    assert not [line for line in run.stdout if FRONT_PAGE.search(line)], run.output()
    front = next(line for line in run.stdout if line.startswith(f"[{stamp:>5}s] front:"))
    assert "MeshErrorBudgetBurn" not in front and "PAGE" not in front, run.output()

    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout=90) == 0, run.output()
    nothing_left(run, next((tmp_path / "out").glob("run-burning*")))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["prometheus"]["rules_with_errors"] == [], summary["prometheus"]
    assert not [a for a in summary["slo"]["front"]["availability"]["alerts"]["firing"]
                if "Page" in a], summary["slo"]  # fmt: skip
