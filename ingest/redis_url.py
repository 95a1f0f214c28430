"""Checking a Redis URL's query parameters before redis-py sees them (standard library only).

redis-py turns every query parameter of a URL into a connection keyword and lets it win over
the client's own arguments (``ConnectionPool.from_url``: "querystring arguments always win").
So a URL could silently undo a setting (``?socket_timeout=`` against ``--socket-timeout``),
turn TLS verification off with no word (``?ssl_cert_reqs=none``,
``?ssl_check_hostname=false``), or crash a CLI with a traceback (``?socket_timeout=abc``
raises inside redis-py; an unknown name is a ``TypeError`` at the first connection). This
module accepts a short list of parameters, checks their values, and refuses the rest with a
message naming the setting to use instead.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

TLS_INSECURE_LABEL = "--tls-insecure / INGEST_TLS_INSECURE"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _any(value: str) -> None:
    return None


def _digits(value: str) -> None:
    if not (value.isascii() and value.isdigit()):
        raise ValueError("must be a non-negative integer")


def _protocol(value: str) -> None:
    if value not in {"2", "3"}:
        raise ValueError("must be 2 or 3")


def _cert_reqs(value: str) -> None:
    if value.lower() not in {"required", "cert_required"}:
        raise ValueError(
            f"would turn certificate verification off; verification stays on unless "
            f"{TLS_INSECURE_LABEL} is set (which logs a warning and shows in /readyz)"
        )


def _check_hostname(value: str) -> None:
    lowered = value.lower()
    if lowered in _FALSE:
        raise ValueError(
            f"would turn host name verification off; it stays on unless {TLS_INSECURE_LABEL} "
            "is set (which logs a warning and shows in /readyz)"
        )
    if lowered not in _TRUE:
        raise ValueError("must be true")


def _flag(value: str) -> None:
    if value.lower() not in _TRUE | _FALSE:
        raise ValueError("must be true or false")


ACCEPTED: dict[str, Callable[[str], None]] = {
    "db": _digits,
    "username": _any,
    "password": _any,
    "client_name": _any,
    "protocol": _protocol,
    "health_check_interval": _digits,
    "socket_keepalive": _flag,
    "ssl_ca_certs": _any,
    "ssl_ca_path": _any,
    "ssl_certfile": _any,
    "ssl_keyfile": _any,
    "ssl_password": _any,
    "ssl_cert_reqs": _cert_reqs,
    "ssl_check_hostname": _check_hostname,
}
"""Query parameters a URL may carry, each with its value check."""

TLS_PARAMETERS = frozenset(name for name in ACCEPTED if name.startswith("ssl_"))

REPLACED_BY_SETTINGS = {
    "socket_timeout": "--socket-timeout / INGEST_SOCKET_TIMEOUT",
    "socket_connect_timeout": "--connect-timeout / INGEST_CONNECT_TIMEOUT",
    "timeout": "--socket-timeout / INGEST_SOCKET_TIMEOUT",
    "retry_on_timeout": "nothing: retries are built in",
    "retry_on_error": "nothing: retries are built in",
    "max_connections": "nothing: each command sizes its own pool",
}
"""Parameters refused because a setting of ours owns them (the URL would silently win)."""


def query_parameters(url: str) -> dict[str, str]:
    """The URL's query parameters, first value of each (as redis-py takes them)."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        found.setdefault(name, value)
    return found


def check_query(url: str) -> None:
    """Check the query parameters of ``url`` (see the module docstring).

    Raises:
        ValueError: an unknown parameter (naming the accepted ones), one a setting owns
            (naming the setting), a bad value, a TLS parameter on a URL that is not
            ``rediss://``, or one that would turn verification off (naming
            ``--tls-insecure``). Messages never quote a secret parameter's value.
    """
    scheme = urlsplit(url).scheme
    for name, value in query_parameters(url).items():
        if name in REPLACED_BY_SETTINGS:
            raise ValueError(
                f"the URL parameter {name!r} is not accepted; use {REPLACED_BY_SETTINGS[name]}"
            )
        check = ACCEPTED.get(name)
        if check is None:
            accepted = ", ".join(sorted(ACCEPTED))
            raise ValueError(f"unknown URL parameter {name!r} (accepted: {accepted})")
        if name in TLS_PARAMETERS and scheme not in ("rediss", "rediss+sentinel"):
            raise ValueError(f"the URL parameter {name!r} needs a rediss:// URL")
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"URL parameter {name}: {exc}") from None
