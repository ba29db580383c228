"""A live OTLP/gRPC metrics receiver for the benchmarks, in a process of its own: where a
task's CloudWatch agent would listen (``OTLP_GRPC_PORT`` on each of the given loopback
addresses), it answers every Export and appends the request's size to a file, a line each.

    python -m bench.otlp_receiver <file> <address> [<address> ...]

A process of its own because gRPC's threads do not survive the fork with which the benchmarks
start Envoy and nginx (a forked child aborted in gRPC's epoll poller).
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc  # type: ignore[import-untyped]  # grpcio ships no type stubs

from components.settings.ports import OTLP_GRPC_PORT
from meshvis.local.processes import ProcessGroup

EXPORT_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"


def serve(record: Path, hosts: list[str]) -> None:
    """Answer Exports on every host until SIGTERM or SIGINT."""
    lock = threading.Lock()

    def export(request: bytes, _context: object) -> bytes:
        with lock, record.open("a") as out:
            out.write(f"{len(request)}\n")
        return b""  # an empty ExportMetricsServiceResponse: everything accepted

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(export)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(EXPORT_SERVICE, {"Export": handler}),)
    )
    for host in hosts:
        if not host.startswith("127."):
            raise SystemExit(f"loopback addresses only: {host}")
        server.add_insecure_port(f"{host}:{OTLP_GRPC_PORT}")
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=None)


def start(group: ProcessGroup, folder: Path, hosts: list[str]) -> Path:
    """Run the receiver as a child of ``group`` (a meshvis ProcessGroup, stopped with it);
    returns the file it records to (``exports`` reads it)."""
    record = folder / "otlp-exports"
    root = Path(__file__).resolve().parent.parent
    group.start(
        "otlp metrics receiver",
        [sys.executable, "-m", "bench.otlp_receiver", str(record), *hosts],
        folder / "otlp-receiver.log",
        env={"PYTHONPATH": str(root)},
    )
    return record


def exports(record: Path) -> int:
    """How many Exports the receiver writing ``record`` has answered."""
    return len(record.read_text().splitlines()) if record.exists() else 0


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2:])
