"""A tiny OTLP/HTTP receiver: accepts ``POST /v1/traces`` (and metrics, logs), counts, drops.

Stands in for a collector in the ``e2e-traced`` scenario. It does not decode the protobuf
bodies: the benchmark only needs the exporter's real work (encoding, HTTP) to happen and a
count showing that spans arrived.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.record(self.path, len(body))
        # An empty body is a valid (empty) Export*ServiceResponse protobuf message.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class OtlpReceiver(ThreadingHTTPServer):
    """An OTLP/HTTP sink on ``127.0.0.1`` and a free port, served from a daemon thread.

    Attributes:
        requests: POSTs received per path (``/v1/traces``, ...).
        bytes: body bytes received per path.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:4318`` (append ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, path: str, size: int) -> None:
        """Count one request of ``size`` body bytes on ``path``."""
        with self._lock:
            self.requests[path] += 1
            self.bytes[path] += size

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
