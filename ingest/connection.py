"""Building Redis clients and waiting for Redis at start (shared by producer and workers).

Clients are built once per process and reused: a client per command costs more than the
command (redis-py's connection pool set-up). Single-command blips (a dropped connection) are
absorbed by redis-py's own ``retry=`` with capped exponential backoff and jitter; callers do not
wrap the same call in tenacity again, since nested retries multiply.

A refusal is not an outage: when Redis rejects the credentials (wrong password, unknown or
disabled ACL user, no password given to a server that needs one) or has no database of the
URL's index, retrying cannot help. Every connection these clients open checks for that in its
handshake and raises :class:`RedisRefused` (a :class:`~ingest.errors.ConfigError`: CLI exit 2)
at once. It is not one of :data:`CONNECTION_ERRORS`, so no retry loop swallows it (redis-py
files ``AuthenticationError`` under ``ConnectionError``, which would be retried for the whole
connect timeout and then reported as "unreachable").

The same holds for the other configuration errors a connection can meet, each a
:class:`~ingest.errors.ConfigError` raised at once: a failed TLS handshake
(:class:`~ingest.tls.TlsError`), an ACL denial of any command, also one a Function runs
(:class:`~ingest.permissions.PermissionDenied`, naming the command, the key and the role that
grants it), and a peer that does not speak the Redis protocol (:class:`NotRedis`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

from ingest import permissions
from ingest.errors import ConfigError, RedisUnavailable
from ingest.settings import RedisSettings, redact_url
from ingest.tls import tls_failure, tls_options, warn_if_insecure

CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    OSError,
)
"""Errors that mean "Redis is not reachable right now" (retry, reconnect)."""

AUTH_ERRORS: tuple[type[Exception], ...] = (
    redis.AuthenticationError,
    redis.AuthenticationWrongNumberOfArgsError,
)
"""redis-py's errors for a refused AUTH/HELLO (``WRONGPASS``, ``NOAUTH``, no password set)."""

_HANDSHAKE_ERRORS: tuple[type[Exception], ...] = (redis.AuthenticationError, redis.ResponseError)


class RedisRefused(ConfigError):
    """Redis refused the credentials of the URL, or has no database of its index.

    A configuration error (CLIs exit 2), raised on the first connection attempt and never
    retried. The message names the URL with any password redacted and Redis' reply.
    """


class NotRedis(ConfigError):
    """The server at the URL answered something that is not the Redis protocol (a wrong
    port, an HTTP or TLS endpoint): a configuration error (CLIs exit 2), not retried."""


def _not_redis(safe_url: str, exc: BaseException) -> NotRedis:
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


def _checked_connect(safe_url: str) -> Callable[[redis.connection.AbstractConnection], None]:
    def on_connect(conn: redis.connection.AbstractConnection) -> None:
        handshake = getattr(conn, "on_connect_check_health", None)
        try:
            if handshake is None:  # redis-py < 5.3
                conn.on_connect()  # type: ignore[no-untyped-call]
            else:
                handshake(check_health=False)
        except _HANDSHAKE_ERRORS as exc:
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
        return _not_redis(safe_url, exc)
    return tls_failure(exc, f"{getattr(conn, 'host', '?')}:{getattr(conn, 'port', '?')}")


def _checked_connect_async(
    safe_url: str,
) -> Callable[[redis.asyncio.connection.AbstractConnection], Awaitable[None]]:
    async def on_connect(conn: redis.asyncio.connection.AbstractConnection) -> None:
        handshake = getattr(conn, "on_connect_check_health", None)
        try:
            if handshake is None:  # redis-py < 5.3
                await conn.on_connect()
            else:
                await handshake(check_health=False)
        except _HANDSHAKE_ERRORS as exc:
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


def _retry() -> Retry:
    # Capped exponential backoff with jitter: 50 ms doubling up to 2 s, 3 retries per command.
    return Retry(EqualJitterBackoff(cap=2.0, base=0.05), retries=3)


def _options(settings: RedisSettings, *, asyncio: bool) -> dict[str, Any]:
    """Keywords both clients share: decoding, timeouts, TLS, the password file."""
    warn_if_insecure(settings)
    options: dict[str, Any] = {
        "decode_responses": True,
        "encoding_errors": "surrogateescape",
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": min(5.0, settings.connect_timeout_s),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": 30,
        **tls_options(settings, asyncio=asyncio),
    }
    if settings.password_file is not None:
        options["password"] = settings.password_file.value
    return options


def _user(client: redis.Redis | redis.asyncio.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return str(kwargs.get("username") or "default")


def checked_error(exc: Exception, args: tuple[Any, ...], client: Any) -> Exception:
    """The error ``exc`` (raised by ``client`` running ``args``) stands for: a
    :class:`~ingest.permissions.PermissionDenied` for an ACL denial, :class:`NotRedis` for a peer
    that is not Redis, the :class:`~ingest.errors.ConfigError` a connection error wraps, else
    ``exc`` itself. For code that sends commands past :class:`CheckedRedis` (e.g. without
    redis-py's re-send)."""
    # redis-py's asyncio connection wraps any error of connecting (our TlsError too) in a
    # ConnectionError, which would be retried as an outage: unwrap a configuration error.
    if isinstance(exc, redis.ConnectionError) and isinstance(exc.__cause__, ConfigError):
        return exc.__cause__
    denied = permissions.denial(exc, args, _user(client))
    if denied is not None:
        return denied
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return _not_redis(
            redact_url(str(client.connection_pool.connection_kwargs.get("host"))), exc
        )
    return exc


_CHECKED = (redis.ResponseError, redis.exceptions.InvalidResponse, redis.ConnectionError)


class CheckedRedis(redis.Redis):
    """``redis.Redis`` whose ACL denials (also in pipelines) raise
    :class:`~ingest.permissions.PermissionDenied` and whose non-Redis peers :class:`NotRedis`."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CHECKED as exc:
            checked = checked_error(exc, args, self)
            if checked is exc:
                raise
            raise checked from None

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        pipe.__class__ = _checked_pipeline(type(pipe))
        return pipe


class CheckedAsyncRedis(redis.asyncio.Redis):
    """:class:`CheckedRedis` for asyncio."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CHECKED as exc:
            checked = checked_error(exc, args, self)
            if checked is exc:
                raise
            raise checked from None

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        pipe.__class__ = _checked_pipeline(type(pipe))
        return pipe


_PIPELINES: dict[Any, type] = {}


def _checked_pipeline(base: Any) -> type:
    """A subclass of redis-py's (sync or async) pipeline class whose ``execute`` translates
    errors like :class:`CheckedRedis` (the pipeline's error text names the command)."""
    found = _PIPELINES.get(base)
    if found is not None:
        return found
    if inspect.iscoroutinefunction(base.execute):

        async def execute_async(self: Any, raise_on_error: bool = True) -> Any:
            try:
                return await base.execute(self, raise_on_error)
            except _CHECKED as exc:
                checked = checked_error(exc, (), self)
                if checked is exc:
                    raise
                raise checked from None

        found = type(f"Checked{base.__name__}", (base,), {"execute": execute_async})
    else:

        def execute(self: Any, raise_on_error: bool = True) -> Any:
            try:
                return base.execute(self, raise_on_error)
            except _CHECKED as exc:
                checked = checked_error(exc, (), self)
                if checked is exc:
                    raise
                raise checked from None

        found = type(f"Checked{base.__name__}", (base,), {"execute": execute})
    _PIPELINES[base] = found
    return found


def sync_client(settings: RedisSettings) -> redis.Redis:
    """A :class:`CheckedRedis` for ``settings.redis_url`` with ``decode_responses=True``.

    Replies are decoded as UTF-8 with ``surrogateescape``: a byte that is not UTF-8 (written by
    another program) becomes a lone surrogate instead of raising ``UnicodeDecodeError`` inside
    redis-py's reader, and encodes back to the same byte when the value is written again (a
    dead-letter copy stays byte for byte). Code that hands such text on checks it
    (:func:`ingest.codec.decode` refuses it as not UTF-8).

    Socket timeout is ``settings.socket_timeout_s``; connect timeout is
    ``min(5, connect_timeout_s)`` seconds per attempt. TLS is verified unless
    ``tls_insecure`` (warned once); the password comes from the URL or ``password_file``.
    A connection whose credentials or database index Redis refuses raises
    :class:`RedisRefused`, a failed TLS handshake :class:`~ingest.tls.TlsError`, a non-Redis
    peer :class:`NotRedis`, an ACL denial :class:`~ingest.permissions.PermissionDenied`
    (none retried).
    """
    return CheckedRedis.from_url(
        settings.redis_url,
        retry=_retry(),
        redis_connect_func=_checked_connect(settings.safe_url),
        **_options(settings, asyncio=False),
    )


def async_client(settings: RedisSettings) -> redis.asyncio.Redis:
    """A :class:`CheckedAsyncRedis` built like :func:`sync_client`."""
    return CheckedAsyncRedis.from_url(
        settings.redis_url,
        retry=redis.asyncio.retry.Retry(EqualJitterBackoff(cap=2.0, base=0.05), retries=3),
        redis_connect_func=_checked_connect_async(settings.safe_url),
        **_options(settings, asyncio=True),
    )


def probe_client(settings: RedisSettings, timeout_s: float) -> redis.Redis:
    """A small :class:`CheckedRedis` for probes and samplers: ``timeout_s`` socket and connect
    timeouts, no retries (a probe reports an outage within about ``timeout_s``), the same TLS
    and credentials as :func:`sync_client`."""
    options = _options(settings, asyncio=False)
    options.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    return CheckedRedis.from_url(
        settings.redis_url,
        retry=Retry(EqualJitterBackoff(cap=2.0, base=0.05), retries=0),
        redis_connect_func=_checked_connect(settings.safe_url),
        **options,
    )


class ConnectDeadline:
    """Capped doubling waits between attempts to reach Redis, for at most
    ``settings.connect_timeout_s`` seconds; the one retry schedule of every start-up wait and
    of the producer's re-sends.

    Args:
        settings: the URL (shown redacted) and ``connect_timeout_s``.
        first_s, cap_s: first and largest wait, seconds (defaults 0.1 and 2).
        clock: injected ``time.monotonic``.
    """

    def __init__(
        self,
        settings: RedisSettings,
        *,
        first_s: float = 0.1,
        cap_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cap_s = cap_s
        self._clock = clock
        self._delay = first_s
        self._deadline = clock() + settings.connect_timeout_s

    def next_wait(self, exc: BaseException) -> float:
        """The wait before the next attempt after ``exc``, seconds.

        Raises:
            RedisUnavailable: the next attempt would start past the deadline; the message
                names the redacted URL and ``exc``.
        """
        if self._clock() + self._delay > self._deadline:
            raise RedisUnavailable(
                f"Redis at {redact_url(self.settings.redis_url)} is unreachable after "
                f"{self.settings.connect_timeout_s:g} s: {exc}"
            ) from None
        delay, self._delay = self._delay, min(self._delay * 2, self.cap_s)
        return delay


def _refused(exc: Exception, settings: RedisSettings) -> Exception:
    # Clients not built here (or RESP2 without credentials: NOAUTH comes with PING).
    return refusal(exc, redact_url(settings.redis_url)) or exc


def wait_until_reachable(
    client: redis.Redis,
    settings: RedisSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """PING until it answers, for at most ``settings.connect_timeout_s`` seconds.

    Backs off from 0.1 s doubling to 2 s between attempts (:class:`ConnectDeadline`).

    Raises:
        RedisUnavailable: not reachable in time; the message names the redacted URL and the
            last error.
        RedisRefused: the credentials or the database index were refused (at once).
    """
    deadline = ConnectDeadline(settings, clock=clock)
    while True:
        try:
            client.ping()
            return
        except _HANDSHAKE_ERRORS as exc:
            raise _refused(exc, settings) from exc
        except CONNECTION_ERRORS as exc:
            sleep(deadline.next_wait(exc))


async def wait_until_reachable_async(client: redis.asyncio.Redis, settings: RedisSettings) -> None:
    """:func:`wait_until_reachable` for an asyncio client (waits with ``asyncio.sleep``)."""
    deadline = ConnectDeadline(settings)
    while True:
        try:
            await client.ping()
            return
        except _HANDSHAKE_ERRORS as exc:
            raise _refused(exc, settings) from exc
        except CONNECTION_ERRORS as exc:
            await asyncio.sleep(deadline.next_wait(exc))
