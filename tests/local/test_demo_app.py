"""The demo app as real processes on 127.0.0.1: leaf, joiner (the greeter) and load generator."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from meshvis.local.processes import ProcessGroup, free_ports, wait_http
from tests.conftest import ROOT

APP = ROOT / "demoapp" / "app.py"
GREETINGS = {"Hello", "Hi", "Howdy", "Hey", "Greetings", "Good day"}

pytestmark = pytest.mark.integration


@pytest.fixture
def group():
    with ProcessGroup() as started:
        yield started


def start_app(group, tmp_path, name, port, *, argv=None, **env):
    """Start the demo app as ``name`` on 127.0.0.1:``port`` and wait for /health."""
    env = {
        "SERVICE_NAME": name,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "INSTANCE": f"{name}-1",
        **env,
    }
    child = group.start(name, argv or [sys.executable, str(APP)], tmp_path / f"{name}.log", env)
    wait_http(f"http://127.0.0.1:{port}/health", group)
    return child


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers, response.read().decode()


def test_leaf_answers_a_word_and_its_name(group, tmp_path):
    greeting, custom = free_ports(2)
    start_app(group, tmp_path, "greeting", greeting)
    start_app(group, tmp_path, "custom", custom, WORDS="Bonjour, Salut")
    seen = set()
    for _ in range(20):
        status, headers, body = get(f"http://127.0.0.1:{greeting}/")
        assert status == 200 and headers["X-Served-By"] == "greeting-1"
        assert headers["Content-Type"].startswith("text/plain")
        seen.add(body.strip())
    assert seen <= GREETINGS and len(seen) > 1
    assert get(f"http://127.0.0.1:{custom}/anything")[2].strip() in {"Bonjour", "Salut"}


def test_unknown_service_answers_its_name_and_runs_from_source(group, tmp_path):
    """`python -c <source>` is how a task without a mounted file runs it."""
    (port,) = free_ports(1)
    start_app(group, tmp_path, "catalog", port, argv=[sys.executable, "-c", APP.read_text()])
    assert get(f"http://127.0.0.1:{port}/")[2] == "catalog\n"


def test_joiner_builds_the_greeters_sentence(group, tmp_path):
    greeting, name, greeter = free_ports(3)
    start_app(group, tmp_path, "greeting", greeting)
    start_app(group, tmp_path, "name", name, WORDS="Jane")
    start_app(
        group,
        tmp_path,
        "greeter",
        greeter,
        UPSTREAMS=f"greeting=http://127.0.0.1:{greeting},name=http://127.0.0.1:{name}",
    )
    status, headers, body = get(f"http://127.0.0.1:{greeter}/")
    assert status == 200
    match = re.fullmatch(r"From greeter-1: (.+) Jane\n", body)
    assert match and match.group(1) in GREETINGS
    assert headers["X-Upstreams-Served-By"] == "greeting=greeting-1, name=name-1"


def test_joiner_reports_a_failed_upstream_as_502(group, tmp_path):
    greeter, dead = free_ports(2)
    start_app(group, tmp_path, "greeter", greeter, UPSTREAMS=f"name=http://127.0.0.1:{dead}")
    with pytest.raises(urllib.error.HTTPError) as failed:
        get(f"http://127.0.0.1:{greeter}/")
    assert failed.value.code == 502
    assert failed.value.read().decode().startswith("name answered 502")
    assert get(f"http://127.0.0.1:{greeter}/health")[0] == 200


class _Counter(BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_GET(self):
        with _Counter.lock:
            _Counter.hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_load_generator_keeps_its_rate_through_errors_and_stops_on_sigterm(group, tmp_path):
    (dead,) = free_ports(1)
    _Counter.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        upstreams = f"up=http://127.0.0.1:{server.server_address[1]},gone=http://127.0.0.1:{dead}"
        load = group.start(
            "load",
            [sys.executable, str(APP)],
            tmp_path / "load.log",
            {"SERVICE_NAME": "load", "KIND": "load", "RATE": "20", "UPSTREAMS": upstreams},
        )
        deadline = time.monotonic() + 15
        while _Counter.hits < 10 and time.monotonic() < deadline:
            group.check_alive()
            time.sleep(0.1)
        assert _Counter.hits >= 10, "the load generator sent too few requests"
        assert load.alive(), "a refused upstream must not stop the load generator"
        load.process.send_signal(signal.SIGTERM)
        assert load.process.wait(10) == 0
        log = load.log_path.read_text()
        assert "20 req/s to each of up, gone" in log
        assert re.search(r"load: up: ok \d+, errors 0, skipped 0; gone: ok 0, errors [1-9]", log)
    finally:
        server.shutdown()
        server.server_close()


def test_app_stops_cleanly_on_sigterm(group, tmp_path):
    (port,) = free_ports(1)
    app = start_app(group, tmp_path, "name", port)
    app.process.send_signal(signal.SIGTERM)
    assert app.process.wait(10) == 0
    assert "name (name-1) stopped" in app.log_path.read_text()
