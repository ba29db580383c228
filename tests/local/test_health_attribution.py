"""A frozen service is pinned as ``down``, its caller is not: ``meshvis run`` on a two-tier stack.

``load -> front -> leaf``, one replica each. Once traffic flows, leaf's processes (its demo
app and its Envoy) are frozen with SIGSTOP: its sidecar answers neither requests nor
Prometheus's scrapes. The live view (plain lines, stdout being a pipe) must then show leaf
``down`` and front not ``down`` (degraded at most, naming leaf as the cause). Leaf is
resumed (SIGCONT) before the run is stopped, so the run ends as a user's would. Every wait
is bounded; nothing asserts on how long anything took.
"""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from tests.local.test_local_mesh import (
    STARTED,
    MeshRun,
    nothing_left,
    pid_of,
    sidecar_pid,
    written_stack,
)

pytestmark = pytest.mark.integration

STACK = {
    "config": {
        "aws:region": "us-west-2",
        "mesh-visibility:meshName": "frozen",
        "mesh-visibility:services": [
            {"name": "front", "port": 3000, "upstreams": ["leaf"]},
            {"name": "leaf", "port": 3000},
            {"name": "load", "kind": "load", "rate": 4, "upstreams": ["front"]},
        ],
    }
}
# A live-view line: "[   30s] leaf: down (no sidecar answers its scrape (0 of 1 up))  req/s …"
LINE = re.compile(r"^\[\s*(\d+)s\] (front|leaf): (ok|degraded|down)\b(.*)$")
TRAFFIC = re.compile(r"^\[\s*\d+s\] front: ok\b.*req/s \d")
LEAF_DOWN = re.compile(r"^\[\s*(\d+)s\] leaf: down\b")


@pytest.fixture
def run(tmp_path):
    args = written_stack(tmp_path, "frozen", STACK)
    started = MeshRun(tmp_path, [*args, "--duration", "240", "--summary", "s.json"])
    yield started
    started.cleanup()


def _verdicts(lines: list[str], stamp: str) -> dict[str, tuple[str, str]]:
    """service -> (state, the rest of its line) for the live view's print at ``stamp``."""
    return {
        m.group(2): (m.group(3), m.group(4))
        for m in map(LINE.match, lines)
        if m and m.group(1) == stamp
    }


def test_a_frozen_leaf_is_down_and_its_caller_is_not(run, tmp_path):
    run.wait_for(STARTED, 60)
    run.wait_for(TRAFFIC, 60)
    frozen = [pid_of(run.tag, "INSTANCE=leaf-1"), sidecar_pid(run.tag, "leaf-1")]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        stamp = run.wait_for(LEAF_DOWN, 90).group(1)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    seen = _verdicts(run.stdout, stamp)
    assert seen["leaf"][0] == "down", run.output()
    assert "no sidecar answers its scrape (0 of 1 up)" in seen["leaf"][1], run.output()
    # Its figures are absent, not the minutes before it froze ("100 %").
    assert "ok % —" in seen["leaf"][1] and "100.00" not in seen["leaf"][1], run.output()
    assert seen["front"][0] != "down", run.output()
    if seen["front"][0] == "degraded":
        assert "upstream leaf" in seen["front"][1], run.output()

    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout=90) == 0, run.output()
    nothing_left(run, next((tmp_path / "out").glob("run-frozen*")))
    summary = json.loads((tmp_path / "s.json").read_text())
    for name in ("front", "leaf"):
        health = summary["services"][name]["health"]
        assert health["state"] in ("ok", "degraded", "down") and isinstance(
            health["reasons"], list
        ), summary["services"]
    assert summary["services"]["front"]["health"]["state"] != "down", summary["services"]
    node_states = {n["id"]: n.get("health") for n in summary["service_map"]["nodes"]}
    assert node_states["leaf"] == summary["services"]["leaf"]["health"]["state"]
