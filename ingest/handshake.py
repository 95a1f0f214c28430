"""The connection handshake: refused credentials, TLS failures and non-Redis peers are
configuration errors, raised at once.

A refusal of who we are is not an outage: when Redis rejects the credentials (wrong password,
unknown or disabled ACL user, no password given to a server that needs one) or has no
database of the URL's index, retrying cannot help. Every connection the project's clients open
(:mod:`ingest.connection`, the Sentinel ones of :mod:`ingest.sentinel` too) runs
:func:`checked_connect` as redis-py's ``redis_connect_func`` and raises :class:`RedisRefused`
(a :class:`~ingest.errors.ConfigError`: CLI exit 2) at once. It is not a connection error, so
no retry loop swallows it (redis-py files ``AuthenticationError`` under ``ConnectionError``,
which would be retried for the whole connect timeout and then reported as "unreachable"). The
same holds for a failed TLS handshake (:class:`~ingest.tls.TlsError`) and a peer that does not
speak the Redis protocol (:class:`NotRedis`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis
import redis.asyncio

from ingest.errors import ConfigError
from ingest.tls import tls_failure

AUTH_ERRORS: tuple[type[Exception], ...] = (
    redis.AuthenticationError,
    redis.AuthenticationWrongNumberOfArgsError,
)
"""redis-py's errors for a refused AUTH/HELLO (``WRONGPASS``, ``NOAUTH``, no password set)."""

HANDSHAKE_ERRORS: tuple[type[Exception], ...] = (redis.AuthenticationError, redis.ResponseError)


class RedisRefused(ConfigError):
    """Redis refused the credentials of the URL, or has no database of its index.

    A configuration error (CLIs exit 2), raised on the first connection attempt and never
    retried. The message names the URL with any password redacted and Redis' reply.
    """


class NotRedis(ConfigError):
    """The server at the URL answered something that is not the Redis protocol (a wrong
    port, an HTTP or TLS endpoint): a configuration error (CLIs exit 2), not retried."""


def not_redis(safe_url: str, exc: BaseException) -> NotRedis:
    """The :class:`NotRedis` for a peer at ``safe_url`` that answered ``exc``."""
    return NotRedis(
        f"the server at {safe_url} does not speak the Redis protocol ({type(exc).__name__}): "
        "is the host and port (and redis:// versus rediss://) right?"
    )


def refusal(exc: BaseException, safe_url: str, db: int | str = 0) -> RedisRefused | None:
    """The :class:`RedisRefused` that ``exc`` (raised while connecting) means, or ``None``.

    Args:
        exc: an error from the connection handshake or the first command.
        safe_url: the Redis URL, password already redacted (for the message).
        db: the database index the connection selects.
    """
    text = str(exc)
    code = getattr(exc, "status_code", None) or text.split(" ", 1)[0]
    if isinstance(exc, AUTH_ERRORS) or code in ("NOAUTH", "WRONGPASS"):
        return RedisRefused(f"Redis at {safe_url} refused the credentials: {text}")
    if isinstance(exc, redis.ResponseError) and "DB index is out of range" in text:
        return RedisRefused(
            f"Redis at {safe_url} has no database {db} ({text}): the server's `databases` "
            "setting is lower; fix the database index in the URL"
        )
    return None


# The handshake runs without redis-py's health-check PING, as its own connect path does: a
# PING refused with NOAUTH would reconnect, and so call this hook again, without end.


def checked_connect(safe_url: str) -> Callable[[redis.connection.AbstractConnection], None]:
    """redis-py's ``redis_connect_func``: the handshake, raising :class:`RedisRefused`,
    :class:`NotRedis` or :class:`~ingest.tls.TlsError` for what retrying cannot fix."""

    def on_connect(conn: redis.connection.AbstractConnection) -> None:
        handshake = getattr(conn, "on_connect_check_health", None)
        try:
            if handshake is None:  # redis-py < 5.3
                conn.on_connect()  # type: ignore[no-untyped-call]
            else:
                handshake(check_health=False)
        except HANDSHAKE_ERRORS as exc:
            refused = refusal(exc, safe_url, conn.db)
            if refused is None:
                raise
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise refused from exc
        except (redis.exceptions.InvalidResponse, redis.ConnectionError) as exc:
            failure = _handshake_failure(exc, conn, safe_url)
            if failure is None:
                raise
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise failure from None

    return on_connect


def _handshake_failure(exc: Exception, conn: object, safe_url: str) -> ConfigError | None:
    # A server refusing our client certificate says so in a TLS alert on the first read
    # (TLS 1.3), which redis-py reports as a ConnectionError caused by the ssl.SSLError.
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return not_redis(safe_url, exc)
    return tls_failure(exc, f"{getattr(conn, 'host', '?')}:{getattr(conn, 'port', '?')}")


def checked_connect_async(
    safe_url: str,
) -> Callable[[redis.asyncio.connection.AbstractConnection], Awaitable[None]]:
    """:func:`checked_connect` for asyncio connections."""

    async def on_connect(conn: redis.asyncio.connection.AbstractConnection) -> None:
        handshake = getattr(conn, "on_connect_check_health", None)
        try:
            if handshake is None:  # redis-py < 5.3
                await conn.on_connect()
            else:
                await handshake(check_health=False)
        except HANDSHAKE_ERRORS as exc:
            refused = refusal(exc, safe_url, conn.db)
            if refused is None:
                raise
            await conn.disconnect()
            raise refused from exc
        except (redis.exceptions.InvalidResponse, redis.ConnectionError) as exc:
            failure = _handshake_failure(exc, conn, safe_url)
            if failure is None:
                raise
            await conn.disconnect()
            raise failure from None

    return on_connect
