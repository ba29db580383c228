"""The load balancer's place in the local mesh: one 127.0.0.1 port in front of the entry service.

On AWS users reach the entry service through the ALB, which spreads connections over its
tasks' ingress listeners. ``meshvis run --port N`` gives the same: ``http://127.0.0.1:N/``
forwards each connection, in turn, to the next entry replica's ingress (its own address,
port 15000). It is a thread of the runner, not a process, and stops with it.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Sequence

LOOPBACK = "127.0.0.1"


class PortInUse(RuntimeError):
    """A port the user asked for is already taken on 127.0.0.1."""


class EntryBalancer:
    """Listens on 127.0.0.1:``port`` as soon as it is made (so a taken port is reported
    before anything starts) and forwards connections once ``start`` is called."""

    def __init__(self, port: int, targets: Sequence[tuple[str, int]]) -> None:
        self._targets = itertools.cycle(list(targets))
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As Envoy binds: a port whose old connections linger in TIME_WAIT is not "in use".
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind((LOOPBACK, port))
            # Listening now holds the port (connections wait in the backlog until ``start``).
            self._server.listen(128)
        except OSError as err:
            self._server.close()
            raise PortInUse(
                f"port {port} on {LOOPBACK} is already in use ({err.strerror})"
            ) from None
        self.url = f"http://{LOOPBACK}:{port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept, name="entry", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting (open connections end with their peers)."""
        self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        if self._thread is not None:
            self._thread.join()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(next(self._targets), timeout=5)
            except OSError:
                client.close()  # as an ALB with no healthy target: the connection ends
                continue
            upstream.settimeout(None)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``source`` to ``sink`` until either side closes."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        source.close()
