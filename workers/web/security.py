"""Who may see and change what: read-only mode, a token or basic auth, CSRF on every change.

* **Read-only** (no ``--token-file``, no ``--basic-auth-file``): every page can be read, no
  request changes anything (a POST gets 403 and the page says read-only mode).
* **Token**: every page needs a session, which the login form opens with the token; the
  session lives in a signed cookie (``HttpOnly``, ``SameSite=Strict``; Starlette's
  ``SessionMiddleware``), signed with a key derived from the token, so rotating the token
  ends every session.
* **Basic auth**: every request carries ``user:password`` (the browser asks once).

A change is a POST (never a GET), and it must carry the session's CSRF token in the form field
``csrf`` (synchronizer token, compared in constant time); a request whose ``Origin`` (or
``Sec-Fetch-Site``) says it comes from another site is refused before that. With basic auth,
which browsers send along with cross-site requests too, the token is what stops a forged form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from workers.web.settings import Credentials

__all__ = ["CSRF_FIELD", "Access", "Refusal", "cross_site", "csrf_ok", "csrf_token", "session_key"]

CSRF_FIELD = "csrf"
SESSION_USER = "user"
OPEN_PATHS = ("/static/", "/login", "/healthz")
"""Paths served without authentication (the login form itself, the stylesheet and htmx)."""


def session_key(credentials: Credentials | None) -> str:
    """The key that signs session cookies: derived from the credentials (rotating them ends
    every session), random for a read-only dashboard (whose sessions only hold CSRF tokens)."""
    if credentials is None:
        return secrets.token_hex(32)
    message = f"ingest-web-session:{credentials.kind}:{credentials.user}".encode()
    return hmac.new(credentials.secret.encode(), message, hashlib.sha256).hexdigest()


def csrf_token(session: MutableMapping[str, str]) -> str:
    """The session's CSRF token (made on first use: 32 random bytes, URL-safe base64)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_ok(session: MutableMapping[str, str], given: str | None) -> bool:
    """Whether ``given`` is the session's CSRF token (both non-empty; constant time)."""
    expected = session.get(CSRF_FIELD)
    return bool(expected) and bool(given) and _same(str(given), str(expected))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: an HTTP status and a one-line reason."""

    status: int
    reason: str


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class Access:
    """The access rules of one dashboard (see the module docstring)."""

    credentials: Credentials | None

    @property
    def read_only(self) -> bool:
        """No credentials configured."""
        return self.credentials is None

    def user(self, conn: HTTPConnection) -> str | None:
        """The authenticated user of a request, or ``None`` (always ``None`` read-only)."""
        creds = self.credentials
        if creds is None:
            return None
        if creds.kind == "basic":
            header = conn.headers.get("authorization", "")
            return creds.user if _basic_ok(creds, header) else None
        user = conn.session.get(SESSION_USER)
        return user if isinstance(user, str) and user else None

    def check_token(self, given: str) -> bool:
        """Whether ``given`` is the configured token (constant time)."""
        creds = self.credentials
        return creds is not None and creds.kind == "token" and _same(given, creds.secret)

    def may_view(self, conn: HTTPConnection) -> Refusal | None:
        """``None`` when the request may be served, else why not (401)."""
        path = conn.url.path
        if self.read_only or any(path.startswith(p) for p in OPEN_PATHS):
            return None
        if self.user(conn) is None:
            return Refusal(401, "log in first")
        return None

    def may_change(self, conn: HTTPConnection, form_token: str) -> Refusal | None:
        """``None`` when a POST may change things, else why not (403): read-only mode, not
        logged in, a cross-site request, or a missing or wrong CSRF token."""
        if self.read_only:
            return Refusal(403, "read-only mode: the dashboard was started without a token or "
                           "basic-auth file, so nothing can be changed from it")  # fmt: skip
        if self.user(conn) is None:
            return Refusal(403, "log in first")
        cross = cross_site(conn)
        if cross:
            return Refusal(403, cross)
        if not csrf_ok(conn.session, form_token):
            return Refusal(403, "the form's CSRF token is missing or stale: reload the page "
                           "and try again")  # fmt: skip
        return None


def _basic_ok(creds: Credentials, header: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared, always, so the time taken does not tell which one was wrong.
    return _same(user, creds.user) & _same(password, creds.secret)


def cross_site(conn: HTTPConnection) -> str | None:
    """Why a request comes from another site (by ``Sec-Fetch-Site`` or ``Origin``), or ``None``."""
    fetch_site = conn.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    origin = conn.headers.get("origin")
    if origin is not None:
        own = f"{conn.url.scheme}://{conn.url.netloc}"
        if origin != own:
            return "cross-site request refused (Origin does not match this dashboard)"
    return None
