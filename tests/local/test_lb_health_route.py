"""Issue 20 items 4 and 10 on real Envoys: the ALB's health check goes to one fixed path of the
entry service's sidecar (``LB_HEALTH_PATH``), which answers with the app's ``healthPath``,
starts no trace and stays out of the access-log sample; every other request is traced and
sampled as before.

The dev stack (ecs, entry ``greeter`` with ``healthPath: /health``) on the local mesh, every
request traced and 100 % of the healthy ones in the access-log sample, so that a health check
that were traced or sampled would show. The checks are sent as the ALB sends them
(``User-Agent: ELB-HealthChecker/2.0``) to each greeter replica's ingress.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.names import INGRESS_PREFIX, LB_HEALTH_PATH
from components.sidecar.tracing import span_name
from meshvis.local.mesh import LocalMesh
from meshvis.local.summary import access_log_lines

pytestmark = pytest.mark.integration

CHECKS = 20
REQUESTS = 5
ALB_AGENT = "ELB-HealthChecker/2.0"


def _get(url: str, agent: str | None = None) -> tuple[int, str]:
    headers = {"User-Agent": agent} if agent else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status, r.read().decode()


def test_health_checks_reach_the_health_path_untraced_and_unsampled(tmp_path):
    config = stack_config("dev")
    config.update(
        {
            # Every request traced: the flat share at 100 %, without the ceiling's sampler.
            "mesh-visibility:traceLimitPerMinute": 0,
            "mesh-visibility:traceSampleRate": 100,
            "mesh-visibility:accessLogSamplePercent": 100,
        }
    )
    settings = settings_from_config(config)
    with LocalMesh(settings, tmp_path) as mesh:
        mesh.start()
        entries = mesh.plan.of("greeter")
        answers = [
            _get(entries[i % len(entries)].url(15000, LB_HEALTH_PATH), ALB_AGENT)
            for i in range(CHECKS)
        ]
        [load] = mesh.plan.of("load-generator")
        for _ in range(REQUESTS):
            assert _get(load.egress_url("greeter"))[0] == 200
        assert mesh.traces is not None
        mesh.traces.wait_quiet(6.0, 20.0)
        spans = mesh.traces.spans()
        logs = mesh.logs
    # The demo app's /health answers (its "/" would call the upstreams and name them).
    assert {status for status, _ in answers} == {200}
    assert all("From " not in body for _, body in answers)
    greeter_ingress = [
        e
        for e in map(json.loads, access_log_lines(logs))
        if e["service"] == "greeter" and e["listener"] == INGRESS_PREFIX
    ]
    assert len(greeter_ingress) == REQUESTS
    assert all(
        e["path"] != LB_HEALTH_PATH and e["user_agent"] != ALB_AGENT for e in greeter_ingress
    )
    # Every end-to-end request is one trace through the greeter's ingress; no health check is.
    assert len({s.trace_id for s in spans}) == REQUESTS
    entered = {s.trace_id for s in spans if s.name == span_name("greeter", INGRESS_PREFIX)}
    assert len(entered) == REQUESTS
