"""The worker's ``--http-port`` server: ``/metrics``, ``/livez``, ``/readyz``.

It runs the standard library's ``ThreadingHTTPServer`` in a daemon thread, so the asyncio loop
that reads and acknowledges entries never waits on it; a scrape runs the metric callbacks
(which only read plain counters and the sampler's last state) in the server's thread.

* ``GET /metrics``: Prometheus text format (version 0.0.4) of a ``prometheus_client``
  registry; the worker fills it through OpenTelemetry's ``PrometheusMetricReader``.
* ``GET /livez``: 200 when ``live()`` says ``(True, detail)``, else 503; the body is the
  detail. Kubernetes restarts a pod that keeps failing it.
* ``GET /readyz``: the same with ``ready()`` (connected to Redis, the group exists).
* anything else: 404.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from ingest.connection import CONNECTION_ERRORS
from ingest.logs import redact_text
from ingest.settings import RedisSettings

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]
"""A probe: returns ``(ok, detail)``; ``detail`` is a short human-readable line."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], live: Check, ready: Check, registry: CollectorRegistry
    ) -> None:
        super().__init__(address, _Handler)
        self.live = live
        self.ready = ready
        self.registry = registry


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path in ("/livez", "/readyz"):
            self._probe(self.server.live if path == "/livez" else self.server.ready)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _probe(self, check: Check) -> None:
        try:
            ok, detail = check()
        except Exception as exc:  # a failing probe is a 503, never a dead server thread
            ok, detail = False, f"probe failed: {type(exc).__name__}: {exc}"
        body = redact_text(detail).encode() + b"\n"
        self._send(200 if ok else 503, body, "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # A scrape every few seconds would flood the log at INFO.
        log.debug("http %s", format % args)


class HttpServer:
    """A running server; :attr:`port` is the bound port (useful with port 0)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    def shutdown(self) -> None:
        """Stop serving and close the socket (waits for the serving loop to end)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_http_server(
    port: int,
    *,
    live: Check,
    ready: Check,
    registry: CollectorRegistry | None = None,
    host: str = "",
) -> HttpServer:
    """Serve ``/metrics``, ``/livez`` and ``/readyz`` on ``host:port`` in a daemon thread.

    Args:
        port: TCP port; 0 picks a free one (read it back from :attr:`HttpServer.port`).
        live: probe for ``/livez``.
        ready: probe for ``/readyz``.
        registry: what ``/metrics`` exposes; default ``prometheus_client.REGISTRY``.
        host: address to bind; default all interfaces (a container's port must be reachable).

    Raises:
        OSError: the port is taken or not allowed.
    """
    server = _Server((host, port), live, ready, REGISTRY if registry is None else registry)
    thread = threading.Thread(target=server.serve_forever, name="http-server", daemon=True)
    thread.start()
    log.info("serving /metrics, /livez, /readyz on port %d", server.server_address[1])
    return HttpServer(server, thread)


def redis_ready_check(settings: RedisSettings, stream: str, group: str) -> Check:
    """A ``/readyz`` probe that asks Redis itself: PING, then the group in XINFO GROUPS.

    It uses its own small client (1 s timeouts, no retries), so a probe never queues behind
    the worker's blocking reads and reports an outage within about a second.
    """
    client = redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry_on_timeout=False,
    )

    def check() -> tuple[bool, str]:
        try:
            client.ping()
            groups = client.xinfo_groups(stream)
        except redis.ResponseError as exc:
            return False, f"stream {stream!r}: {exc}"
        except CONNECTION_ERRORS as exc:
            return False, f"redis {settings.safe_url} unreachable: {type(exc).__name__}"
        if not any(str(row.get("name")) == group for row in groups):
            return False, f"group {group!r} does not exist on stream {stream!r}"
        return True, f"connected; group {group!r} exists"

    return check
