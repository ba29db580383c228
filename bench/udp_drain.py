"""A live UDP receiver that only counts: what stands for each task's CloudWatch agent while a
benchmark times a sidecar. The datagrams are received (so the kernel never answers with an
ICMP error, as it would for a port nobody reads) but not parsed: the agent's own parsing runs
in its own container, in Go, and is not the sidecar's cost."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Sequence

MAX_DATAGRAM = 64 * 1024


class UdpDrain:
    """Receive and count datagrams on every (host, port) of ``addresses`` (a context manager)."""

    def __init__(self, addresses: Sequence[tuple[str, int]]) -> None:
        self._sockets = []
        for host, port in addresses:
            assert host.startswith("127."), host
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, port))
            sock.setblocking(False)
            self._sockets.append(sock)
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True, name="udp-drain")

    def _drain(self) -> None:
        with selectors.DefaultSelector() as selector:
            for sock in self._sockets:
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    try:
                        while True:
                            readable = key.fileobj
                            assert isinstance(readable, socket.socket)
                            readable.recv(MAX_DATAGRAM)
                            self.datagrams += 1
                    except BlockingIOError:
                        pass

    def __enter__(self) -> UdpDrain:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self._sockets:
            sock.close()
