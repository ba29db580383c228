"""The demo app of every service that has no image of its own: stdlib only, one file.

It runs as ``python /app/app.py`` or ``python -c <this source>`` in a public Python image on
ECS and EKS, and as a plain process in the local mesh. Its environment is the whole interface:

  SERVICE_NAME  the service it plays                       KIND      app (default) | load
  PORT          port to listen on (apps)                   HOST      bind address (default 0.0.0.0)
  UPSTREAMS     ``name=http://127.0.0.1:9001,...`` in the service's ``upstreams`` order
  RATE          requests per second to each upstream (load; default 1)
  INSTANCE      the name it answers with (default: the host name)
  WORDS         optional comma list of words a leaf answers with

A leaf answers one word (text/plain) and names itself in ``X-Served-By``. A service with
upstreams calls each one through its sidecar's egress listener and answers, like the original
greeter, ``From <instance>: <answer 1> <answer 2> ...``. ``/health`` answers 200 on every app.
A load generator calls each upstream ``RATE`` times a second, forever.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Words a leaf picks from when WORDS is not set, by well-known service name.
DEFAULT_WORDS = {
    "greeting": ("Hello", "Hi", "Howdy", "Hey", "Greetings", "Good day"),
    "name": ("Jane", "Alice", "Bob", "Carlos", "Mei", "Priya", "Olu", "Sven"),
}
UPSTREAM_TIMEOUT = 10.0  # the sidecar's route timeout: Envoy answers 504 before this fires
LOAD_TIMEOUT = 15.0
LOAD_CONCURRENCY = 32  # requests in flight per load generator; beyond it a tick is skipped
LOG_INTERVAL = 10.0
# Headers passed from an inbound request to the calls it causes, so one request can be
# followed through every sidecar's access log.
PROPAGATED = ("x-request-id", "traceparent", "tracestate")


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def parse_upstreams(value: str) -> list[tuple[str, str]]:
    """``name=url,name=url`` -> [(name, url), ...] in the given order."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"UPSTREAMS entry {item!r} is not name=url")
        pairs.append((name.strip(), url.strip().rstrip("/")))
    return pairs


def call(url: str, headers: dict[str, str], timeout: float) -> tuple[int, str, str]:
    """GET ``url``: status code, body text and who served it (an HTTP error is an answer too)."""
    request = urllib.request.Request(url + "/", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return (
                response.status,
                response.read().decode("utf-8", "replace").strip(),
                response.headers.get("X-Served-By", ""),
            )
    except urllib.error.HTTPError as err:
        return (
            err.code,
            err.read().decode("utf-8", "replace").strip(),
            err.headers.get("X-Served-By", ""),
        )


class App:
    """What an app service answers: a word (leaf) or the joined answers of its upstreams."""

    def __init__(
        self, service: str, instance: str, upstreams: list[tuple[str, str]], words: tuple[str, ...]
    ) -> None:
        self.service = service
        self.instance = instance
        self.upstreams = upstreams
        self.words = words

    def answer(self, inbound: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """Status, body and extra headers for one request.

        A joiner names the replica behind each part in ``X-Upstreams-Served-By``, which shows
        the sidecars spreading calls over the upstream replicas.
        """
        if not self.upstreams:
            return 200, random.choice(self.words), {}
        parts, served_by = [], []
        for name, url in self.upstreams:
            try:
                status, body, server = call(url, inbound, UPSTREAM_TIMEOUT)
            except OSError as err:
                status, body, server = 502, str(err), ""
            if status != 200:
                # The caller sees which upstream failed and how; the sidecar counts a 502.
                return 502, f"{name} answered {status}: {body}", {}
            parts.append(body)
            served_by.append(f"{name}={server}")
        return (
            200,
            f"From {self.instance}: {' '.join(parts)}",
            {"X-Upstreams-Served-By": ", ".join(served_by)},
        )


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive: the sidecar reuses its connections to the app, as it does in a task.
        protocol_version = "HTTP/1.1"
        server_version = "meshvis-demo"
        # Headers and body leave in two writes; with Nagle's algorithm the body waits for the
        # ACK of the headers, which a keep-alive peer delays by up to 40 ms (every answer's
        # latency would be the delayed-ACK timer, not the app).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?", 1)[0] == "/health":
                self._send(200, "ok")
                return
            inbound = {h: v for h in PROPAGATED if (v := self.headers.get(h))}
            self._send(*app.answer(inbound))

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = (body + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Served-By", app.instance)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Envoy's access log already has one line per request; keep the app's log quiet.
            pass

    return Handler


class Server(ThreadingHTTPServer):
    """The stdlib threading server with a listen backlog that holds a burst of connections."""

    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (every
    # upstream call of a caller's urllib is one); each dropped one costs its caller a 1 s
    # SYN retransmit.
    request_queue_size = 128
    daemon_threads = True


def serve(app: App, host: str, port: int, stop: threading.Event) -> None:
    server = Server((host, port), make_handler(app))
    log(
        f"{app.service} ({app.instance}) listening on {host}:{port}, "
        f"upstreams: {', '.join(n for n, _ in app.upstreams) or 'none'}"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop.wait()
    server.shutdown()
    server.server_close()
    log(f"{app.service} ({app.instance}) stopped")


class Load:
    """Calls each upstream ``rate`` times a second with bounded concurrency, forever."""

    def __init__(self, service: str, upstreams: list[tuple[str, str]], rate: float) -> None:
        self.service = service
        self.upstreams = upstreams
        self.rate = rate
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(LOAD_CONCURRENCY)
        self.counts = {name: {"ok": 0, "error": 0, "skipped": 0} for name, _ in upstreams}

    def _one(self, name: str, url: str) -> None:
        try:
            status, _, _ = call(url, {}, LOAD_TIMEOUT)
            outcome = "ok" if status < 500 else "error"
        except OSError:
            outcome = "error"
        finally:
            self.slots.release()
        with self.lock:
            self.counts[name][outcome] += 1

    def run(self, stop: threading.Event) -> None:
        log(
            f"{self.service}: {self.rate:g} req/s to each of "
            f"{', '.join(n for n, _ in self.upstreams)}"
        )
        interval = 1.0 / self.rate
        next_tick = next_log = time.monotonic()
        while not stop.is_set():
            for name, url in self.upstreams:
                if self.slots.acquire(blocking=False):
                    # Daemon threads: a stop does not wait for calls still in flight.
                    threading.Thread(target=self._one, args=(name, url), daemon=True).start()
                else:
                    with self.lock:
                        self.counts[name]["skipped"] += 1
            now = time.monotonic()
            if now >= next_log:
                self._log_counts()
                next_log = now + LOG_INTERVAL
            # Ticks follow a fixed schedule so the rate holds whatever each call takes; after
            # a stall (a suspended process) it restarts from now instead of bursting.
            next_tick = max(next_tick + interval, now - 1.0)
            stop.wait(max(0.0, next_tick - time.monotonic()))
        self._log_counts()

    def _log_counts(self) -> None:
        with self.lock:
            line = "; ".join(
                f"{name}: ok {c['ok']}, errors {c['error']}, skipped {c['skipped']}"
                for name, c in self.counts.items()
            )
        log(f"{self.service}: {line}")


def main() -> int:
    env = os.environ
    service = env.get("SERVICE_NAME", "demo")
    kind = env.get("KIND", "app")
    instance = env.get("INSTANCE") or socket.gethostname()
    upstreams = parse_upstreams(env.get("UPSTREAMS", ""))
    stop = threading.Event()
    # SIGTERM (ECS, Kubernetes, the local runner) ends the process cleanly, like Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    if kind == "load":
        if not upstreams:
            print("a load generator needs UPSTREAMS", file=sys.stderr)
            return 2
        Load(service, upstreams, float(env.get("RATE", "1"))).run(stop)
        return 0
    if kind != "app":
        print(f"KIND must be app or load, not {kind!r}", file=sys.stderr)
        return 2
    words = tuple(
        w.strip() for w in env.get("WORDS", "").split(",") if w.strip()
    ) or DEFAULT_WORDS.get(service, (service,))
    app = App(service, instance, upstreams, words)
    serve(app, env.get("HOST", "0.0.0.0"), int(env.get("PORT", "3000")), stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
