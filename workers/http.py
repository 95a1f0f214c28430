"""The worker's ``--http-port`` server: ``/metrics``, ``/livez``, ``/readyz``.

uvicorn (HTTP/1.1 through h11) serves a tiny ASGI app on its own event loop in a daemon
thread, so the loop that reads and acknowledges entries never waits on it; a scrape and a
probe run their callbacks in a small thread pool (:data:`CALLBACK_THREADS`), never on the
server's loop.

* ``GET /metrics``: Prometheus text format (version 0.0.4) of a ``prometheus_client``
  registry; the worker fills it through OpenTelemetry's ``PrometheusMetricReader``.
* ``GET /livez``: 200 when ``live()`` says ``(True, detail)``, else 503; the body is the
  detail. Kubernetes restarts a pod that keeps failing it.
* ``GET /readyz``: the same with ``ready()`` (connected to Redis, the group exists), then one
  ``name: value`` line per field of ``ready_fields`` (``tls: verified|insecure|off``). The
  detail never names the Redis user or database, nor the host and port of a plain URL;
  through Sentinel it names the service and the primary found (a failover shows there).
* anything else: 404 (405 for a method other than GET and HEAD).

Bounds, so that idle, slow or half-open clients cannot exhaust the worker: a connection with
no request in progress (never sent one, sent half of one, or kept alive after a response) is
closed after ``idle_timeout_s`` (default 10 s) whatever it trickles in; at most
``max_connections`` (default 64) are open: beyond that the oldest connection without a
request in progress is closed to make room (or the new one, when every connection is busy),
so probes keep being answered under a flood of idle sockets; a request head is at most
16 KiB. The server's own log records go through ``logging`` (JSON with the CLI's set-up);
client disconnects are not errors and print nothing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from uvicorn.protocols.http.h11_impl import H11Protocol

from ingest.connection import CONNECTION_ERRORS, primary_label, probe_client
from ingest.errors import ConfigError
from ingest.logs import redact_text
from ingest.settings import RedisSettings

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]
"""A probe: returns ``(ok, detail)``; ``detail`` is a short human-readable line."""

IDLE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
MAX_REQUEST_HEAD_BYTES = 16 * 1024
CALLBACK_THREADS = 2
TEXT = b"text/plain; charset=utf-8"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with an idle deadline and a cap on open connections (see the
    module docstring); subclassed per server with its own class attributes."""

    idle_timeout_s = IDLE_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_since = self.loop.time()
        self._timer = self.loop.call_later(self.idle_timeout_s, self._expire)
        live = [c for c in self.connections if not c.transport.is_closing()]
        if len(live) > self.max_connections:
            self._make_room(live)

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._idle_since = self.loop.time()
        super().on_response_complete()

    def busy(self) -> bool:
        """A request is in progress (its response not yet complete)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _expire(self) -> None:
        left = self._idle_since + self.idle_timeout_s - self.loop.time()
        if self.busy() or left > 0:
            self._timer = self.loop.call_later(max(left, 0.1), self._expire)
        elif not self.transport.is_closing():
            self.transport.close()

    def _make_room(self, live: list[Any]) -> None:
        # Closing is asynchronous (connection_lost comes later): closing ones are skipped.
        idle = [
            c for c in live if isinstance(c, BoundedH11Protocol) and c is not self and not c.busy()
        ]
        victim = min(idle, key=lambda c: c._idle_since) if idle else self
        victim.transport.close()


class _App:
    """The ASGI app: three GET routes, callbacks run in a bounded thread pool."""

    def __init__(
        self,
        live: Check,
        ready: Check,
        registry: CollectorRegistry,
        ready_fields: Mapping[str, str],
    ) -> None:
        self.live, self.ready, self.registry = live, ready, registry
        self.ready_fields = dict(ready_fields)
        self.pool = ThreadPoolExecutor(CALLBACK_THREADS, thread_name_prefix="http-callback")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            status, body, kind = 405, b"method not allowed\n", TEXT
        elif path == "/metrics":
            body = await self._run(generate_latest, self.registry)
            status, kind = 200, CONTENT_TYPE_LATEST.encode()
        elif path in ("/livez", "/readyz"):
            ok, detail = await self._run(_probe, self.live if path == "/livez" else self.ready)
            if path == "/readyz":
                detail += "".join(f"\n{k}: {v}" for k, v in self.ready_fields.items())
            status, body, kind = 200 if ok else 503, redact_text(detail).encode() + b"\n", TEXT
        else:
            status, body, kind = 404, b"not found\n", TEXT
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)


def _probe(check: Check) -> tuple[bool, str]:
    try:
        return check()
    except Exception as exc:  # a failing probe is a 503, never a dead server
        return False, f"probe failed: {type(exc).__name__}: {exc}"


class HttpServer:
    """A running server; :attr:`port` is the bound port (useful with port 0)."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket, app: _App) -> None:
        self._server, self._sock, self._app = server, sock, app
        self.port = int(sock.getsockname()[1])
        self.host = str(sock.getsockname()[0])
        self._thread = threading.Thread(target=self._serve, name="http-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def shutdown(self) -> None:
        """Stop serving, close the socket and the callback threads (waits up to 5 s)."""
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()
        self._app.pool.shutdown(wait=False, cancel_futures=True)


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def start_http_server(
    port: int,
    *,
    live: Check,
    ready: Check,
    registry: CollectorRegistry | None = None,
    host: str = "127.0.0.1",
    ready_fields: Mapping[str, str] | None = None,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
) -> HttpServer:
    """Serve ``/metrics``, ``/livez`` and ``/readyz`` on ``host:port`` in a daemon thread.

    Args:
        port: TCP port; 0 picks a free one (read it back from :attr:`HttpServer.port`).
        live: probe for ``/livez``.
        ready: probe for ``/readyz``.
        registry: what ``/metrics`` exposes; default ``prometheus_client.REGISTRY``.
        host: address to bind; default loopback (``0.0.0.0`` for all IPv4 interfaces, as the
            container image and the Kubernetes manifests set with ``--http-host``).
        ready_fields: ``name: value`` lines added to the ``/readyz`` body (``tls``).
        idle_timeout_s: close a connection without a request in progress after this, seconds.
        max_connections: open connections at most (see the module docstring).

    Raises:
        OSError: the address cannot be bound (port taken, not permitted, no such address).
    """
    sock = _listen(host, port)
    app = _App(live, ready, REGISTRY if registry is None else registry, ready_fields or {})
    protocol = type(
        "WorkerHttpProtocol",
        (BoundedH11Protocol,),
        {"idle_timeout_s": idle_timeout_s, "max_connections": max_connections},
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=max(1, int(idle_timeout_s)),
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )
    # uvicorn announces itself at INFO on every start; our own line below says where.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = HttpServer(uvicorn.Server(config), sock, app)
    log.info("serving /metrics, /livez, /readyz on %s port %d", server.host, server.port)
    return server


def redis_ready_check(settings: RedisSettings, stream: str, group: str) -> Check:
    """A ``/readyz`` probe that asks Redis itself: PING, then the group in XINFO GROUPS.

    It uses its own small client (:func:`ingest.connection.probe_client`: 1 s timeouts, no
    retries, the worker's TLS and credentials), so a probe never queues behind the worker's
    blocking reads and reports an outage within about a second. Its details name the stream
    and the group, never the Redis user or database; through Sentinel also the service and
    the primary (``connected to service 'ingest', primary 10.0.0.5:6379; group ...``).
    """
    client = probe_client(settings, timeout_s=1.0)

    def check() -> tuple[bool, str]:
        try:
            client.ping()
            groups = client.xinfo_groups(stream)
        except ConfigError as exc:  # TLS, ACL or protocol: the line says which, no address
            command = getattr(exc, "command", None)
            return False, f"redis refused: {type(exc).__name__}" + (
                f" ({command})" if command else ""
            )
        except CONNECTION_ERRORS as exc:
            return False, f"redis unreachable: {type(exc).__name__}"
        except Exception as exc:  # an error reply (WRONGTYPE, NOGROUP, ...)
            return False, f"stream {stream!r}: {str(exc).split(' ', 1)[0]}"
        if not any(str(row.get("name")) == group for row in groups):
            return False, f"group {group!r} does not exist on stream {stream!r}"
        label = primary_label(settings.redis_url)
        return True, f"connected{f' to {label}' if label else ''}; group {group!r} exists"

    return check
