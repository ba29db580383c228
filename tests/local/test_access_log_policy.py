"""The default access-log policy on real Envoys: no failed or slow request is ever dropped, and
healthy requests are a sample decided once per request, logged on every hop.

The dev stack runs on the local mesh (meshvis.local.mesh.LocalMesh: every sidecar from its
deployed bootstrap, default ``accessLog: sampled`` at 1 %, the demo apps, which forward
``x-request-id``), without its load generator: the test sends the requests itself, each with
an ``x-request-id`` it chose, into the load generator's sidecar, as the load generator would.
Two settings differ from the dev stack, neither of them in the access-log policy: the latency
alarm is 500 ms, so the slow threshold that follows it is quick to reach, and the stats
profile is ``full``, so Envoy's own 5xx counter of every listener can be read to check that
every 5xx it answered is in its log. Phases, in order:

1. healthy: ``HEALTHY`` requests;
2. slow: both ``greeting`` apps are stopped (SIGSTOP) for ``STALL_S`` while requests wait;
3. reset: the same stall, and the client hangs up after 0.3 s (DC);
4. dead upstream: both ``name`` apps are killed: their sidecars cannot connect (UF), the
   greeter's sidecar retries and gives up (URX), the greeter app answers 502, and the load
   generator's sidecar retries that too.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from meshvis.local.mesh import LocalMesh
from meshvis.local.summary import access_log_lines

pytestmark = pytest.mark.integration

HEALTHY = 3000
SLOW_MS = 500
STALL_S = 0.9
FAULTS = 4
CONCURRENCY = 8
# Two-sided false-alarm probability of the sample-share check.
ALPHA = 1e-6
INGRESS_HOPS = ("greeter", "greeting", "name")


def _settings():
    config = stack_config("dev")
    config["mesh-visibility:latencyAlarmMs"] = SLOW_MS
    config["mesh-visibility:statsProfile"] = "full"
    return settings_from_config(config)


def _rid(value: str) -> str:
    """A request id without its 15th character, where Envoy's uuid extension packs the trace
    decision (so a traced request's id differs there from what the client sent)."""
    return value[:14] + value[15:]


def _get(url: str) -> tuple[str, int]:
    """GET ``url`` with a fresh x-request-id: (that id, the status code)."""
    request_id = str(uuid.uuid4())
    request = urllib.request.Request(url, headers={"x-request-id": request_id})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return request_id, response.status
    except urllib.error.HTTPError as err:
        return request_id, err.code


def _hang_up(url: str, after: float) -> str:
    """Send GET ``url`` and close the connection ``after`` seconds later; the request id."""
    request_id = str(uuid.uuid4())
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=5) as conn:
        conn.sendall(
            f"GET {where.path} HTTP/1.1\r\nHost: mesh\r\n"
            f"x-request-id: {request_id}\r\n\r\n".encode()
        )
        time.sleep(after)
    return request_id


def _stalled(mesh: LocalMesh, service: str, seconds: float) -> threading.Timer:
    """Stop the service's apps now and let them go on after ``seconds``."""
    pids = [mesh.child(f"{r.instance} app").pid for r in mesh.plan.of(service)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)

    def resume() -> None:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    timer = threading.Timer(seconds, resume)
    timer.start()
    return timer


def _five_xx(mesh: LocalMesh, instance: str) -> dict[str, int]:
    """Envoy's own count of 5xx answers per listener (``http.<listener>.downstream_rq_5xx``)."""
    url = mesh.replica(instance).admin_url("/stats?filter=downstream_rq_5xx$")
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    counts = {}
    for line in lines:
        name, _, value = line.partition(": ")
        if name.startswith("http.") and name.count(".") == 2:
            counts[name.split(".")[1]] = int(value)
    return counts


def binomial_bounds(n: int, p: float, alpha: float) -> tuple[int, int]:
    """The smallest and largest count k of Binomial(n, p) with each tail beyond it below
    ``alpha`` / 2."""
    pmf = [
        math.exp(
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        )
        for k in range(n + 1)
    ]
    low, tail = 0, 0.0
    while tail + pmf[low] < alpha / 2:
        tail += pmf[low]
        low += 1
    high, tail = n, 0.0
    while tail + pmf[high] < alpha / 2:
        tail += pmf[high]
        high -= 1
    return low, high


@pytest.fixture(scope="module")
def run(tmp_path_factory, envoy_binary):
    settings = _settings()
    observed: dict = {"settings": settings}
    with LocalMesh(settings, tmp_path_factory.mktemp("access-log")) as mesh:
        mesh.start()
        entry = mesh.plan.of("load-generator")[0].egress_url("greeter")
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            observed["healthy"] = list(pool.map(lambda _: _get(entry), range(HEALTHY)))
            stall = _stalled(mesh, "greeting", STALL_S)
            observed["slow"] = list(pool.map(lambda _: _get(entry), range(FAULTS)))
            stall.join()
            stall = _stalled(mesh, "greeting", STALL_S)
            observed["reset"] = list(pool.map(lambda _: _hang_up(entry, 0.3), range(2)))
            stall.join()
        for replica in mesh.plan.of("name"):
            mesh.child(f"{replica.instance} app").kill()
        observed["dead"] = [_get(entry) for _ in range(FAULTS)]
        time.sleep(1.0)  # the stalled requests' last calls finish
        observed["5xx_counts"] = {
            (r.service.name, r.instance): _five_xx(mesh, r.instance) for r in mesh.plan.replicas
        }
        observed["logs"] = mesh.logs
    observed["log"] = [json.loads(line) for line in access_log_lines(observed["logs"])]
    return observed


def _lines(run, service: str, listener: str) -> list[dict]:
    return [e for e in run["log"] if e["service"] == service and e["listener"] == listener]


def _failed(entry: dict) -> bool:
    return entry["response_code"] >= 500 or entry["response_flags"] != "-"


def test_every_5xx_answered_is_in_the_log_on_every_listener(run):
    """On every sidecar, Envoy's own 5xx counter of each listener equals the 5xx lines it
    logged there: no failed request is dropped on any hop, retries included."""
    assert sum(sum(c.values()) for c in run["5xx_counts"].values()) > FAULTS
    totals: dict = {}
    for (service, _), counts in run["5xx_counts"].items():
        for listener, count in counts.items():
            totals[service, listener] = totals.get((service, listener), 0) + count
    for (service, listener), count in totals.items():
        logged = [e for e in _lines(run, service, listener) if e["response_code"] >= 500]
        assert len(logged) == count, (service, listener)


def test_every_failed_request_is_logged_with_its_flags(run):
    """What the client got back is in the first sidecar's log; the flags of every kind of
    failure the phases cause are in the logs: UF (connection refused), URX (retries
    exhausted), DC (the client hung up)."""
    first = {_rid(e["request_id"]): e for e in _lines(run, "load-generator", "egress_greeter")}
    assert all(code >= 500 for _, code in run["dead"]), run["dead"]
    for request_id, code in run["dead"]:
        assert first[_rid(request_id)]["response_code"] == code
    for request_id in run["reset"]:
        assert first[_rid(request_id)]["response_flags"] == "DC"
    flags = {f for e in run["log"] for f in e["response_flags"].split(",")}
    assert {"UF", "URX", "DC"} <= flags, flags
    name = [e for e in _lines(run, "name", "ingress") if "UF" in e["response_flags"]]
    assert {_rid(e["request_id"]) for e in name} >= {_rid(run["dead"][0][0])}
    # The greeter app's own 502 (no flag: the sidecar only passed it on) is logged too.
    assert any(
        e["response_code"] == 502 and e["response_flags"] == "-"
        for e in _lines(run, "greeter", "ingress")
    )


def test_every_slow_request_is_logged_on_every_slow_hop(run):
    for request_id, code in run["slow"]:
        assert code == 200
        for service in ("greeter", "greeting"):
            hops = [
                e
                for e in _lines(run, service, "ingress")
                if _rid(e["request_id"]) == _rid(request_id)
            ]
            assert len(hops) == 1 and hops[0]["duration_ms"] >= SLOW_MS, (service, hops)


def test_healthy_requests_are_a_sample_logged_on_every_hop(run):
    healthy = {_rid(request_id) for request_id, code in run["healthy"]}
    assert all(code == 200 for _, code in run["healthy"])
    # Logged only because sampled: answered 200, fast, no flag. (Envoy flags DC on a few
    # complete answers, when a client closes its connection right after reading one, as
    # urllib does: those are logged as flagged, not sampled.)
    fast = {
        service: {
            _rid(e["request_id"])
            for e in _lines(run, service, "ingress")
            if _rid(e["request_id"]) in healthy
            and e["duration_ms"] < SLOW_MS
            and e["response_flags"] == "-"
        }
        for service in INGRESS_HOPS
    }
    logged = {
        service: {
            _rid(e["request_id"])
            for e in _lines(run, service, "ingress")
            if _rid(e["request_id"]) in healthy
        }
        for service in INGRESS_HOPS
    }
    low, high = binomial_bounds(HEALTHY, run["settings"].access_log_sample_percent / 100, ALPHA)
    assert low <= len(fast["greeter"]) <= high, (low, len(fast["greeter"]), high)
    # Decided once per request: what one hop sampled, every other hop logged too.
    for service in INGRESS_HOPS:
        for other in INGRESS_HOPS:
            assert fast[service] <= logged[other], (service, other)


def test_healthy_egress_calls_are_not_logged(run):
    egress = [e for e in run["log"] if e["listener"].startswith("egress_")]
    assert egress and all(_failed(e) for e in egress)


def test_binomial_bounds():
    assert binomial_bounds(100, 0.5, 0.05) == (40, 60)
    low, high = binomial_bounds(3000, 0.01, 1e-6)
    assert 5 < low < 30 < high <= 60
