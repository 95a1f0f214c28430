"""Building Redis clients and waiting for Redis at start (shared by producer and workers).

Clients are built once per process and reused: a client per command costs more than the
command (redis-py's connection pool set-up). Single-command blips (a dropped connection) are
absorbed by redis-py's own ``retry=`` with capped exponential backoff and jitter; callers do not
wrap the same call in tenacity again, since nested retries multiply.

A ``redis+sentinel://`` URL gives a client of the primary behind Sentinel that follows
failovers (:mod:`ingest.sentinel`); any other URL a client of that address. Either way the
client is a :class:`~ingest.checked.CheckedRedis` (or its asyncio twin): configuration errors
(refused credentials, TLS, ACL denials, a peer that is not Redis) are raised at once as
:class:`~ingest.errors.ConfigError`, never retried as outages, and, given a wait policy,
refusals (``LOADING``, ``NOREPLICAS``, ``READONLY`` ..., :mod:`ingest.refusals`) are waited
out (:mod:`ingest.checked`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

from ingest.checked import CheckedAsyncRedis, CheckedRedis, WaitPolicy, checked_error
from ingest.errors import RedisUnavailable
from ingest.handshake import (
    AUTH_ERRORS,
    HANDSHAKE_ERRORS,
    NotRedis,
    RedisRefused,
    checked_connect,
    checked_connect_async,
    refusal,
)
from ingest.sentinel import FAILOVERS, async_sentinel_client, sync_sentinel_client
from ingest.sentinel_url import is_sentinel_url, parse_sentinel_url
from ingest.settings import RedisSettings, redact_url
from ingest.tls import tls_options, warn_if_insecure

__all__ = [
    "AUTH_ERRORS",
    "CONNECTION_ERRORS",
    "CheckedAsyncRedis",
    "CheckedRedis",
    "ConnectDeadline",
    "NotRedis",
    "RedisRefused",
    "WaitPolicy",
    "async_client",
    "checked_error",
    "describe_primary",
    "primary_label",
    "probe_client",
    "refusal",
    "sync_client",
    "wait_until_reachable",
    "wait_until_reachable_async",
]

CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    OSError,
)
"""Errors that mean "Redis is not reachable right now" (retry, reconnect)."""


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


def _build(
    settings: RedisSettings, options: dict[str, Any], policy: WaitPolicy | None
) -> CheckedRedis:
    options["redis_connect_func"] = checked_connect(settings.safe_url)
    if settings.sentinel:
        client: Any = sync_sentinel_client(settings, options, CheckedRedis)
    else:
        client = CheckedRedis.from_url(settings.redis_url, **options)
    client.wait_policy, client.safe_url = policy, settings.safe_url
    return client  # type: ignore[no-any-return]


def wait_policy(settings: RedisSettings, block_s: float | None = None) -> WaitPolicy:
    """The refusal waits of a CLI's client: ``connect_timeout_s`` for outages, ``block_s``
    (default the same) for ``NOREPLICAS``/``OOM``."""
    outage_s = settings.connect_timeout_s
    return WaitPolicy(settings.safe_url, outage_s, outage_s if block_s is None else block_s)


def sync_client(settings: RedisSettings, *, block_s: float | None = None) -> CheckedRedis:
    """A :class:`CheckedRedis` for ``settings.redis_url`` with ``decode_responses=True``.

    Replies are decoded as UTF-8 with ``surrogateescape``: a byte that is not UTF-8 (written by
    another program) becomes a lone surrogate instead of raising ``UnicodeDecodeError`` inside
    redis-py's reader, and encodes back to the same byte when the value is written again (a
    dead-letter copy stays byte for byte). Code that hands such text on checks it
    (:func:`ingest.codec.decode` refuses it as not UTF-8).

    Socket timeout is ``settings.socket_timeout_s``; connect timeout is
    ``min(5, connect_timeout_s)`` seconds per attempt. TLS is verified unless
    ``tls_insecure`` (warned once); the password comes from the URL or ``password_file``.
    A ``redis+sentinel://`` URL reaches the service's primary through the sentinels and
    follows failovers (:mod:`ingest.sentinel`). Refusals are waited out with a log line
    (:mod:`ingest.checked`): for ``connect_timeout_s``, and ``NOREPLICAS``/``OOM`` for
    ``block_s`` (default ``connect_timeout_s``; the producer passes ``--max-block``), then
    :class:`~ingest.errors.Refused`. A connection whose credentials or database index Redis
    refuses raises :class:`RedisRefused`, a failed TLS handshake
    :class:`~ingest.tls.TlsError`, a non-Redis peer :class:`NotRedis`, an ACL denial
    :class:`~ingest.permissions.PermissionDenied` (none retried).
    """
    options = _options(settings, asyncio=False)
    options["retry"] = _retry()
    return _build(settings, options, wait_policy(settings, block_s))


def async_client(settings: RedisSettings, *, wait_refusals: bool = False) -> redis.asyncio.Redis:
    """A :class:`CheckedAsyncRedis` built like :func:`sync_client`; it waits out refusals only
    with ``wait_refusals`` (the worker's loops handle them themselves)."""
    options = _options(settings, asyncio=True)
    options["retry"] = redis.asyncio.retry.Retry(EqualJitterBackoff(cap=2.0, base=0.05), retries=3)
    options["redis_connect_func"] = checked_connect_async(settings.safe_url)
    if settings.sentinel:
        client: Any = async_sentinel_client(settings, options, CheckedAsyncRedis)
    else:
        client = CheckedAsyncRedis.from_url(settings.redis_url, **options)
    client.wait_policy = wait_policy(settings) if wait_refusals else None
    client.safe_url = settings.safe_url
    return client  # type: ignore[no-any-return]


def probe_client(settings: RedisSettings, timeout_s: float) -> CheckedRedis:
    """A small :class:`CheckedRedis` for probes and samplers: ``timeout_s`` socket and connect
    timeouts, no retries and no refusal waits (a probe reports an outage within about
    ``timeout_s``), the same TLS and credentials as :func:`sync_client`."""
    options = _options(settings, asyncio=False)
    options.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    options["retry"] = Retry(EqualJitterBackoff(cap=2.0, base=0.05), retries=0)
    return _build(settings, options, None)


def describe_primary(redis_url: str) -> dict[str, Any] | None:
    """Which primary this process talks to through Sentinel: ``{"service", "primary"
    ("host:port" or ``None`` before the first connection), "sentinels" (``host:port``
    list), "failovers"}``; ``None`` for a URL without Sentinel. No credentials."""
    if not is_sentinel_url(redis_url):
        return None
    address = parse_sentinel_url(redis_url)
    primary = FAILOVERS.primary(address.sentinel_list, address.service)
    return {
        "service": address.service,
        "primary": None if primary is None else f"{primary[0]}:{primary[1]}",
        "sentinels": [f"{host}:{port}" for host, port in address.sentinels],
        "failovers": FAILOVERS.failovers(address.sentinel_list, address.service),
    }


def primary_label(redis_url: str) -> str:
    """``service 'ingest', primary 10.0.0.5:6379, 1 failover`` for a Sentinel URL, "" for any
    other (for titles and probe details; no credentials)."""
    found = describe_primary(redis_url)
    if found is None:
        return ""
    count = found["failovers"]
    failovers = f", {count} failover{'s' if count != 1 else ''}" if count else ""
    return f"service {found['service']!r}, primary {found['primary'] or 'not found yet'}{failovers}"


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
        except HANDSHAKE_ERRORS as exc:
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
        except HANDSHAKE_ERRORS as exc:
            raise _refused(exc, settings) from exc
        except CONNECTION_ERRORS as exc:
            await asyncio.sleep(deadline.next_wait(exc))
