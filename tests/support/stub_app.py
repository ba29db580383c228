"""A stand-in app behind a test sidecar:
``python tests/support/stub_app.py PORT [UPSTREAM_URL ...]``.

Listens on $HOST:PORT (default 127.0.0.1; the local mesh gives each replica its own address).
``GET /status/<code>`` answers ``<code>`` on a leaf; with upstreams
it forwards the path to each (through the sidecar's egress listeners) and answers 200 if all
of them did, else the first failing code, so a test can make errors travel the mesh the way a
real call graph would. Any other path answers 200 (joined upstream answers on a caller).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(argv: list[str]) -> None:
    port = int(argv[0])
    upstreams = argv[1:]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            code, parts = 200, []
            if upstreams:
                for base in upstreams:
                    try:
                        with urllib.request.urlopen(base + self.path, timeout=5) as response:
                            parts.append(response.read().decode())
                    except urllib.error.HTTPError as err:
                        code = err.code if code == 200 else code
            elif self.path.startswith("/status/"):
                code = int(self.path.rsplit("/", 1)[1])
            body = (" ".join(parts) or f"stub {port}").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # the sidecar's access log is the record
            pass

    ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
