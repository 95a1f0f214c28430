"""Clients of a primary behind Sentinel, and the failovers this process has seen.

How redis-py follows a failover (``redis.sentinel``, also its asyncio twin): a client from
``Sentinel(...).master_for(service)`` asks the sentinels for the primary's address
(``SENTINEL MASTERS``; the first sentinel that names the service up and not down wins) every
time it opens a connection. When the answer changes, its pool drops its idle connections; a
connection still open to a primary that was demoted gets ``READONLY`` (or ``UNBLOCKED`` on a
blocking read), which redis-py turns into a ``ConnectionError`` after dropping that
connection, so the next attempt asks the sentinels again. A primary that died shows as
connection errors until the sentinels have promoted a replica. Every client built here
therefore reaches the new primary on its next connection; what is left to this module is
noticing it (one log line and a counter per failover and process: :class:`FailoverRecord`),
and to the callers re-sending what was in flight (the producer's idempotent re-send,
:mod:`ingest.admitting`).

Our handshake hook (:func:`ingest.handshake.checked_connect`) runs on these connections too
(redis-py calls ``redis_connect_func`` from the Sentinel connection's connect), so refused
credentials, TLS failures and non-Redis peers stay configuration errors. The sentinels get
their own credentials and the same TLS settings (:mod:`ingest.sentinel_url`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.connection
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ingest.handshake import checked_connect, checked_connect_async
from ingest.sentinel_url import SentinelAddress, data_node_url, parse_sentinel_url
from ingest.settings import RedisSettings
from ingest.tls import AsyncVerifiedSSLConnection, VerifiedSSLConnection, tls_options

log = logging.getLogger(__name__)

SENTINEL_TIMEOUT_S = 2.0
"""Socket timeouts towards one sentinel, seconds: a sentinel that does not answer is skipped
for the next one rather than waited on for the data nodes' socket timeout."""


class FailoverRecord:
    """The primary each service was last found at, and the failovers seen since (thread-safe).

    Every Sentinel client of a process reports each address it discovers here, so a failover
    is logged and counted once per process however many clients noticed it. The first
    address of a service is no failover. A service is known by its name and its sentinels
    (``host:port,...`` as the URL lists them): two deployments may share a service name.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._primaries: dict[tuple[str, str], tuple[str, int]] = {}
        self._failovers: dict[tuple[str, str], int] = {}

    def observe(self, sentinels: str, service: str, address: tuple[str, int]) -> bool:
        """Note that ``service`` (of ``sentinels``) has its primary at ``address``; ``True``
        (after one WARNING line) when it was elsewhere before: a failover."""
        key, address = (sentinels, service), (str(address[0]), int(address[1]))
        with self._lock:
            before = self._primaries.get(key)
            self._primaries[key] = address
            if before is None or before == address:
                return False
            self._failovers[key] = self._failovers.get(key, 0) + 1
        log.warning(
            "failover: the primary of Sentinel service %r is now %s:%s (was %s:%s); "
            "reconnected there",
            service,
            *address,
            *before,
        )
        return True

    def primary(self, sentinels: str, service: str) -> tuple[str, int] | None:
        """Where ``service``'s primary was last found, or ``None`` before the first time."""
        with self._lock:
            return self._primaries.get((sentinels, service))

    def failovers(self, sentinels: str, service: str) -> int:
        """Failovers of ``service`` seen by this process."""
        with self._lock:
            return self._failovers.get((sentinels, service), 0)


FAILOVERS = FailoverRecord()
"""This process's record (every client built here reports to it unless given another)."""


class TrackedSentinel(redis.sentinel.Sentinel):
    """redis-py's ``Sentinel`` reporting each primary it discovers to a :class:`FailoverRecord`
    (``record``, under the name ``known_as``: the sentinels as the URL lists them)."""

    record: FailoverRecord = FAILOVERS
    known_as: str = ""

    def discover_master(self, service_name: str) -> Any:
        address = super().discover_master(service_name)
        self.record.observe(self.known_as, service_name, address)
        return address


class TrackedAsyncSentinel(redis.asyncio.sentinel.Sentinel):
    """:class:`TrackedSentinel` for asyncio."""

    record: FailoverRecord = FAILOVERS
    known_as: str = ""

    async def discover_master(self, service_name: str) -> Any:
        address = await super().discover_master(service_name)
        self.record.observe(self.known_as, service_name, address)
        return address


class PrimaryMoved(redis.ConnectionError):
    """The node a connection writes to is no longer the service's primary (Sentinel names
    another): what it acknowledges may be dropped when it is demoted. Carries the code
    ``READONLY`` (:mod:`ingest.refusals`: reconnect, then send again)."""


def moved_primary(client: redis.Redis, conn: Any) -> tuple[str, int] | None:
    """The primary the sentinels name now when it is not the node ``conn`` (a connection of
    ``client``'s pool) is connected to; ``None`` when it is the same, when no sentinel
    answered, or for a client without Sentinel. One ``SENTINEL MASTERS`` round trip; a
    change is logged and counted as a failover (:class:`FailoverRecord`)."""
    pool: Any = client.connection_pool
    manager = getattr(pool, "sentinel_manager", None)
    if manager is None:
        return None
    try:
        host, port = manager.discover_master(pool.service_name)
    except redis.ConnectionError:
        return None
    found = (str(host), int(port))
    return None if found == (str(conn.host), int(conn.port)) else found


class VerifiedSentinelSSLConnection(
    redis.sentinel.SentinelManagedConnection, VerifiedSSLConnection
):
    """A Sentinel-managed connection with our TLS handshake checks (:mod:`ingest.tls`)."""


class AsyncVerifiedSentinelSSLConnection(
    redis.asyncio.sentinel.SentinelManagedConnection, AsyncVerifiedSSLConnection
):
    """:class:`VerifiedSentinelSSLConnection` for asyncio."""


@dataclass(frozen=True, slots=True)
class SentinelParts:
    """Keywords for redis-py's ``Sentinel`` and ``master_for``.

    Attributes:
        address: what the URL names.
        sentinel_kwargs: for each sentinel's connection (timeouts, TLS, its credentials).
        node_kwargs: for the data nodes' connections (the URL's credentials, database and
            query parameters, plus ``options``).
    """

    address: SentinelAddress
    sentinel_kwargs: dict[str, Any]
    node_kwargs: dict[str, Any]


def sentinel_parts(
    settings: RedisSettings, options: Mapping[str, Any], *, asyncio: bool
) -> SentinelParts:
    """Split ``settings`` (a ``redis+sentinel://`` URL) and the client ``options`` of
    :mod:`ingest.connection` into sentinel and data-node keywords.

    Raises:
        ValueError: not a Sentinel URL.
    """
    address = parse_sentinel_url(settings.redis_url)
    node = dict(redis.connection.parse_url(data_node_url(settings.redis_url)))  # type: ignore[no-untyped-call]
    for placeholder in ("host", "port", "connection_class", "path"):
        node.pop(placeholder, None)
    node.update(options)
    if address.tls:
        node["connection_class"] = (
            AsyncVerifiedSentinelSSLConnection if asyncio else VerifiedSentinelSSLConnection
        )
    timeout = min(SENTINEL_TIMEOUT_S, settings.socket_timeout_s)
    # No retries against one sentinel: discovery moves on to the next one (redis-py's own
    # default for Sentinel, which our pools would otherwise not get).
    retry = redis.asyncio.retry.Retry(NoBackoff(), 0) if asyncio else Retry(NoBackoff(), 0)
    sentinel: dict[str, Any] = {
        "retry": retry,
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, settings.connect_timeout_s),
        "redis_connect_func": (checked_connect_async if asyncio else checked_connect)(
            f"sentinel {address.sentinel_list}"
        ),
        **tls_options(settings, asyncio=asyncio),
    }
    if settings.sentinel_password_file is not None:
        sentinel["password"] = settings.sentinel_password_file.value
        sentinel["username"] = settings.sentinel_username
    return SentinelParts(address, sentinel, node)


# redis-py's Sentinel builds its sentinel clients as Redis(host, port, **kwargs), which takes
# no connection class: ours (TLS failures as configuration errors) goes in through a pool.


def _sentinel_clients(parts: SentinelParts) -> list[redis.Redis]:
    return [
        redis.Redis(connection_pool=redis.ConnectionPool(host=h, port=p, **parts.sentinel_kwargs))
        for h, p in parts.address.sentinels
    ]


def _async_sentinel_clients(parts: SentinelParts) -> list[redis.asyncio.Redis]:
    return [
        redis.asyncio.Redis(
            connection_pool=redis.asyncio.ConnectionPool(host=h, port=p, **parts.sentinel_kwargs)
        )
        for h, p in parts.address.sentinels
    ]


def sync_sentinel_client(
    settings: RedisSettings,
    options: Mapping[str, Any],
    redis_class: type[redis.Redis],
    record: FailoverRecord = FAILOVERS,
) -> redis.Redis:
    """A ``redis_class`` client of the primary of ``settings``' Sentinel service (see the
    module docstring); ``options`` are the data nodes' connection keywords."""
    parts = sentinel_parts(settings, options, asyncio=False)
    sentinel = TrackedSentinel([], sentinel_kwargs=parts.sentinel_kwargs)
    sentinel.sentinels = _sentinel_clients(parts)
    sentinel.record, sentinel.known_as = record, parts.address.sentinel_list
    client: redis.Redis = sentinel.master_for(
        parts.address.service, redis_class=redis_class, **parts.node_kwargs
    )
    return client


def async_sentinel_client(
    settings: RedisSettings,
    options: Mapping[str, Any],
    redis_class: type[redis.asyncio.Redis],
    record: FailoverRecord = FAILOVERS,
) -> redis.asyncio.Redis:
    """:func:`sync_sentinel_client` for asyncio."""
    parts = sentinel_parts(settings, options, asyncio=True)
    sentinel = TrackedAsyncSentinel(parts.address.sentinels, sentinel_kwargs=parts.sentinel_kwargs)
    sentinel.record, sentinel.known_as = record, parts.address.sentinel_list
    client: redis.asyncio.Redis = sentinel.master_for(
        parts.address.service, redis_class=redis_class, **parts.node_kwargs
    )
    return client
