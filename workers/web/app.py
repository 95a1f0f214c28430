"""The Starlette application: routes, the session cookie, the gate that asks for a login, and
the security headers every response carries.

Layers, outermost first: ``SessionMiddleware`` (a signed cookie: ``HttpOnly``,
``SameSite=Strict``, ``Secure`` with ``--secure-cookie``), :class:`Gate` (401 or the login
page for a request without credentials when credentials are configured; adds the headers
below), then the routes of :mod:`workers.web.pages` (GET) and :mod:`workers.web.actions`
(POST), and ``/static`` (the stylesheet and the vendored htmx).

Headers: a Content-Security-Policy that allows scripts, styles and forms from the dashboard
itself only (no inline script can run, even if some text escaped its escaping), no framing,
``nosniff``, and no ``Referer`` to other sites.
"""

from __future__ import annotations

from pathlib import Path

import redis
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workers.web import actions, pages
from workers.web.dashboard import Dashboard
from workers.web.render import query
from workers.web.security import Access, session_key
from workers.web.settings import WebSettings

__all__ = ["SECURITY_HEADERS", "Gate", "build_app"]

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "ingest_web"
SESSION_MAX_AGE_S = 12 * 3600

SECURITY_HEADERS = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
)


class Gate:
    """ASGI middleware: refuses a request :meth:`Access.may_view` refuses (basic auth: 401 with
    a challenge; token: a redirect to the login page for a page, 401 otherwise) and adds
    :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        conn = HTTPConnection(scope)
        refusal = self.access.may_view(conn)
        if refusal is None:
            await self.app(scope, receive, send_with_headers)
            return
        await self._refuse(conn)(scope, receive, send_with_headers)

    def _refuse(self, conn: HTTPConnection) -> Response:
        creds = self.access.credentials
        if creds is not None and creds.kind == "basic":
            challenge = {
                "www-authenticate": 'Basic realm="redis-ingest dashboard", charset="UTF-8"'
            }
            return PlainTextResponse("log in first\n", 401, headers=challenge)
        if conn.scope["method"] in ("GET", "HEAD") and "hx-request" not in conn.headers:
            target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
            return RedirectResponse(query("/login", next=target), status_code=303)
        return PlainTextResponse("log in first\n", 401)


async def _http_error(request: Request, exc: Exception) -> Response:
    dash: Dashboard = request.app.state.dashboard
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return dash.message(request, status, f"Error {status}", str(detail))


def build_app(settings: WebSettings, client: redis.Redis) -> Starlette:
    """The dashboard for ``settings``, reading and writing through ``client`` (a sync client
    with ``decode_responses=True`` and ``surrogateescape``, as
    :func:`ingest.connection.sync_client` builds). The caller owns and closes ``client``."""
    dashboard = Dashboard(settings, client)
    routes: list[Route | Mount] = [Route(path, handler) for path, handler in pages.ROUTES]
    routes += [Route(path, handler, methods=list(m)) for path, handler, m in actions.ROUTES]
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=session_key(settings.credentials),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE_S,
            same_site="strict",
            https_only=settings.secure_cookie,
        ),
        Middleware(Gate, access=dashboard.access),
    ]
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error}
    )
    app.state.dashboard = dashboard
    return app
