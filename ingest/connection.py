"""Building Redis clients and waiting for Redis at start (shared by producer and workers).

Clients are built once per process and reused: a client per command costs more than the
command (redis-py's connection pool set-up). Single-command blips (a dropped connection) are
absorbed by redis-py's own ``retry=`` with capped exponential backoff and jitter; callers do not
wrap the same call in tenacity again, since nested retries multiply.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import redis.asyncio
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

from ingest.errors import RedisUnavailable
from ingest.settings import RedisSettings, redact_url

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


def sync_client(settings: RedisSettings) -> redis.Redis:
    """A ``redis.Redis`` for ``settings.redis_url`` with ``decode_responses=True``.

    Socket timeout is ``settings.socket_timeout_s``; connect timeout is
    ``min(5, connect_timeout_s)`` seconds per attempt.
    """
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=min(5.0, settings.connect_timeout_s),
        retry=_retry(),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
    )


def async_client(settings: RedisSettings) -> redis.asyncio.Redis:
    """A ``redis.asyncio.Redis`` built like :func:`sync_client`."""
    return redis.asyncio.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=min(5.0, settings.connect_timeout_s),
        retry=redis.asyncio.retry.Retry(EqualJitterBackoff(cap=2.0, base=0.05), retries=3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
    )


def wait_until_reachable(
    client: redis.Redis,
    settings: RedisSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """PING until it answers, for at most ``settings.connect_timeout_s`` seconds.

    Backs off from 0.1 s doubling to 2 s between attempts.

    Raises:
        RedisUnavailable: not reachable in time; the message names the redacted URL and the
            last error.
    """
    deadline = clock() + settings.connect_timeout_s
    delay = 0.1
    while True:
        try:
            client.ping()
            return
        except CONNECTION_ERRORS as exc:
            if clock() + delay > deadline:
                raise RedisUnavailable(
                    f"Redis at {redact_url(settings.redis_url)} is unreachable after "
                    f"{settings.connect_timeout_s:g} s: {exc}"
                ) from None
            sleep(delay)
            delay = min(delay * 2, 2.0)
