"""What every page shares: the settings, the Redis client, the templates, the samples kept,
reading request parameters, and turning Redis' refusals into a page with one line.

A page handler gets the :class:`Dashboard` from ``request.app.state.dashboard``. Redis calls
are synchronous (the readers the CLIs use), so handlers run them in Starlette's thread pool
(:meth:`Dashboard.call`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ingest.connection import CONNECTION_ERRORS
from ingest.errors import ConfigError, IngestError
from ingest.permissions import PermissionDenied
from ingest.redaction import redact_text
from workers.web.history import History
from workers.web.overview import LogicalStream, logical_streams
from workers.web.render import build_templates, parse_pairs, unwire
from workers.web.security import Access, csrf_token
from workers.web.settings import WebSettings

__all__ = ["Dashboard", "failure"]

T = TypeVar("T")
MAX_FORM_BYTES = 1024 * 1024
"""Largest form body accepted (a selection of a few thousand entry IDs)."""
WIRED_FIELDS = frozenset(
    {"stream", "partition", "group", "reason", "error_type", "event_id", "older_than", "next"}
)
"""Form fields the pages fill in themselves (hidden inputs), always :func:`render.wire`-encoded,
so that names holding bytes that are not UTF-8 survive the round trip. Fields people type in
(``token``, ``minutes``, ``note``) are never among them."""


def failure(exc: BaseException) -> tuple[int, str] | None:
    """``(HTTP status, one-line message)`` for an error Redis (or the admission step) gave,
    or ``None`` for anything else (a bug: a 500)."""
    if isinstance(exc, PermissionDenied):
        return 403, str(exc)
    if isinstance(exc, ConfigError):  # refused credentials, TLS
        return 502, redact_text(str(exc))
    if isinstance(exc, CONNECTION_ERRORS):
        return 503, redact_text(f"Redis unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, IngestError | redis.ResponseError):  # not a stream, no admission library
        return 409, redact_text(str(exc))
    return None


class Dashboard:
    """The dashboard's shared state (one owner each).

    Args:
        settings: the checked settings.
        client: a sync Redis client (``decode_responses=True``, ``surrogateescape``), e.g.
            :func:`ingest.connection.sync_client`.
    """

    def __init__(self, settings: WebSettings, client: redis.Redis) -> None:
        self.settings = settings
        self.client = client
        self.access = Access(settings.credentials)
        self.streams = {s.name: s for s in logical_streams(settings.streams)}
        keep_ms = int(settings.history_s * 1000)
        self.history = History(keep_ms, min_gap_ms=max(500, int(settings.refresh_s * 500)))
        self.templates = build_templates({"refresh_s": settings.refresh_s})

    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous (Redis) call in the thread pool."""
        return await run_in_threadpool(func, *args, **kwargs)

    def page(
        self, request: Request, name: str, context: Mapping[str, Any], status: int = 200
    ) -> Response:
        """Render template ``name`` with ``context`` plus what every page shows: the streams,
        the mode (read-only or the user), the CSRF token, the Jaeger URL."""
        common = {
            "streams": list(self.streams.values()),
            "read_only": self.access.read_only,
            "user": self.access.user(request),
            "login_kind": None
            if self.settings.credentials is None
            else self.settings.credentials.kind,
            "csrf": csrf_token(request.session),
            "jaeger_url": self.settings.jaeger_url,
            "path": request.url.path,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        }
        return self.templates.TemplateResponse(
            request, name, {**common, **context}, status_code=status
        )

    def message(self, request: Request, status: int, title: str, text: str) -> Response:
        """A page saying ``text`` (one line), with status ``status``."""
        return self.page(request, "message.html", {"title": title, "text": text}, status)

    def stream(self, params: Mapping[str, str]) -> LogicalStream:
        """The configured stream named by the ``stream`` parameter (default the first).

        Raises:
            HTTPException: 404 for a stream the dashboard was not configured with (it reads
                only those, whatever the URL says).
        """
        name = params.get("stream") or next(iter(self.streams))
        found = self.streams.get(name)
        if found is None:
            raise HTTPException(404, "no such stream on this dashboard")
        return found

    @staticmethod
    def partition(stream: LogicalStream, params: Mapping[str, str]) -> str:
        """The ``partition`` parameter, one of ``stream``'s partitions (default the first).

        Raises:
            HTTPException: 404 for a stream key that is not one of its partitions.
        """
        name = params.get("partition") or stream.partitions[0]
        if name not in stream.partitions:
            raise HTTPException(404, "no such partition of this stream")
        return name


def params(request: Request) -> dict[str, str]:
    """The query parameters (the last value of each), decoded as :func:`render.wire` encoded
    them."""
    return dict(parse_pairs(request.scope.get("query_string", b"")))


async def form(request: Request) -> list[tuple[str, str]]:
    """The ``application/x-www-form-urlencoded`` body of a POST, as pairs, the values of
    :data:`WIRED_FIELDS` decoded.

    Raises:
        HTTPException: 415 for another content type, 413 for a body over
            :data:`MAX_FORM_BYTES`.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "a form post (application/x-www-form-urlencoded) is expected")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
    return [(k, unwire(v) if k in WIRED_FIELDS else v) for k, v in parse_pairs(body)]
