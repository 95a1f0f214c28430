"""The worker's Redis commands about entries: thin I/O over the ``ingest`` Functions library.

Every per-entry step of the worker is one call here (a function of ``ingest/lua/worker.lua``,
or a plain command where one is enough), so this is the one place that translates ``NOGROUP``
into :class:`~workers.errors.GroupMissingError` and reloads the library when a call finds it
missing (after a restart without persistence, or a ``FUNCTION FLUSH``). All keys of one
pipeline share the stream's hash tag (:class:`ingest.keys.StreamKeys`), so each call stays on
one Redis Cluster shard.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio

from ingest import library
from ingest.keys import StreamKeys, failed_field, interrupted_field
from ingest.streams import (
    ConsumerInfo,
    EntryId,
    PendingSummary,
    parse_consumers,
    parse_pending_range,
    parse_pending_summary,
)
from workers.errors import GroupMissingError
from workers.rows import (
    EntryLimits,
    Page,
    Row,
    parse_claim,
    parse_rows,
    parse_takeover,
    rows_of_read,
)
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)

CHUNK = 1000
"""Most entry IDs per call (Lua's unpack takes about 8,000 values)."""
RELEASE_IDLE_MS = 365 * 24 * 3600 * 1000
"""Idle time given to released entries: above any ``--min-idle``, claimable at once."""


def is_group_missing(exc: BaseException) -> bool:
    """True for the replies meaning the group or stream is gone: ``NOGROUP``, and Redis >= 7
    unblocking a blocked XREADGROUP with ``UNBLOCKED the stream key no longer exists``."""
    if not isinstance(exc, redis.ResponseError):
        return False
    text = str(exc)
    return "NOGROUP" in text or "no longer exists" in text


class StreamIO:
    """One consumer's entry commands on one stream.

    Args:
        client: the worker's async client (``decode_responses=True``, surrogateescape).
        keys: the stream's keys.
        group, consumer: who reads.
        limits: entries over these are stubs (dead-lettered ``too_large`` by ID).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        keys: StreamKeys,
        group: str,
        consumer: str,
        limits: EntryLimits,
    ) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        self.consumer = consumer
        self.limits = limits
        self._attempts = keys.attempts(group)
        self._limit_args = (str(limits.max_bytes), str(limits.max_fields))

    @classmethod
    def for_settings(cls, client: redis.asyncio.Redis, s: WorkerSettings) -> StreamIO:
        """The commands of the consumer ``s`` describes, with its entry limits."""
        limits = EntryLimits.for_payload(s.max_event_bytes, s.max_fields)
        return cls(client, StreamKeys(s.stream), s.group, s.consumer, limits)

    def _missing(self) -> GroupMissingError:
        return GroupMissingError(self.keys.stream, self.group)

    async def call(self, function: str, keys: Sequence[str], *args: Any) -> Any:
        """``FCALL function`` with the protocol version first; NOGROUP becomes
        :class:`GroupMissingError`; a missing library is loaded and the call made again.

        Raises:
            GroupMissingError: NOGROUP.
            redis.RedisError: anything else (connection errors included).
        """
        argv = (library.LIBRARY_VERSION, *args)
        for attempt in (1, 2):
            try:
                return await self.client.fcall(function, len(keys), *keys, *argv)
            except redis.ResponseError as exc:
                if is_group_missing(exc):
                    raise self._missing() from None
                if attempt == 1 and "function not found" in str(exc).lower():
                    await library.ensure_loaded_async(self.client)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- reading -------------------------------------------------------------------------

    async def read_new(self, count: int) -> list[Row]:
        """Up to ``count`` new entries (``XREADGROUP ... >`` on the server, never blocking);
        entries over the limits come back as stubs."""
        stream = self.keys.stream
        raw = await self.call(
            "ingest_read", [stream], self.group, self.consumer, count, *self._limit_args
        )
        return parse_rows(raw)

    async def wait_for_new(self, block_ms: int) -> list[Row]:
        """Block up to ``block_ms`` for one new entry (a plain ``XREADGROUP COUNT 1 BLOCK``:
        a function cannot block). At most one entry's bytes cross the wire; it is checked
        against the limits here."""
        try:
            raw = await self.client.xreadgroup(
                self.group, self.consumer, {self.keys.stream: ">"}, count=1, block=block_ms
            )
        except redis.ResponseError as exc:
            if is_group_missing(exc):
                raise self._missing() from None
            raise
        return rows_of_read(raw, self.limits)

    async def read_history(self, start: str, count: int) -> list[Row]:
        """This consumer's own pending entries after ``start``, with their history."""
        keys = [self.keys.stream, self._attempts]
        raw = await self.call(
            "ingest_history", keys, self.group, self.consumer, start, count, *self._limit_args
        )
        return parse_rows(raw)

    async def claim(self, cursor: str, count: int, min_idle_ms: int) -> Page:
        """One XAUTOCLAIM page (entries idle at least ``min_idle_ms``), with history."""
        keys = [self.keys.stream, self._attempts]
        raw = await self.call(
            "ingest_claim", keys, self.group, self.consumer, min_idle_ms, cursor, count,
            *self._limit_args,
        )  # fmt: skip
        return parse_claim(raw)

    async def take_over(self, dead: str, count: int) -> Page | None:
        """Claim up to ``count`` pending entries of consumer ``dead`` if its liveness key is
        gone (one atomic check-and-claim); ``None`` when it is alive after all."""
        alive = self.keys.consumer_alive(self.group, dead)
        keys = [self.keys.stream, self._attempts, alive]
        raw = await self.call(
            "ingest_takeover", keys, self.group, dead, self.consumer, count, *self._limit_args
        )
        return parse_takeover(raw)

    async def consumers(self) -> list[ConsumerInfo]:
        """``XINFO CONSUMERS`` of the group."""
        try:
            raw = await self.client.xinfo_consumers(self.keys.stream, self.group)
        except redis.ResponseError as exc:
            if is_group_missing(exc) or "no such key" in str(exc).lower():
                raise self._missing() from None
            raise
        return parse_consumers(raw)

    async def pending_summary(self) -> PendingSummary:
        """``XPENDING stream group``: count and pending entries per consumer."""
        try:
            raw = await self.client.xpending(self.keys.stream, self.group)
        except redis.ResponseError as exc:
            if is_group_missing(exc):
                raise self._missing() from None
            raise
        return parse_pending_summary(raw)

    async def without_liveness(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` whose liveness key does not exist (``EXISTS``, pipelined)."""
        if not names:
            return []
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.exists(self.keys.consumer_alive(self.group, name))
        found = await pipe.execute()
        return [name for name, exists in zip(names, found, strict=True) if not exists]

    async def prune(self, name: str, idle_ms: int) -> bool:
        """Delete consumer ``name`` if it has no pending entries, has been idle ``idle_ms``
        and has no liveness key (one atomic step); True when deleted."""
        keys = [self.keys.stream, self.keys.consumer_alive(self.group, name)]
        return bool(await self.call("ingest_prune", keys, self.group, name, idle_ms))

    async def own_pending(self, page: int = 1000) -> list[EntryId]:
        """IDs of every entry pending for this consumer (``XPENDING`` paged with an
        exclusive start, so no entry is visited twice and the loop ends)."""
        ids: list[EntryId] = []
        start = "-"
        while True:
            try:
                raw = await self.client.xpending_range(
                    self.keys.stream, self.group, start, "+", page, self.consumer
                )
            except redis.ResponseError as exc:
                if is_group_missing(exc):
                    raise self._missing() from None
                raise
            rows = parse_pending_range(raw)
            ids.extend(row.entry_id for row in rows)
            if len(rows) < page:
                return ids
            start = f"({rows[-1].entry_id}"

    # ---- settling --------------------------------------------------------------------------

    async def ack(self, ids: Sequence[EntryId], records: Sequence[EntryId]) -> int:
        """``XACK`` of ``ids`` and, in the same ``MULTI``, ``HDEL`` of the attempts records of
        ``records``; returns XACK's reply (entries still pending that it acknowledged)."""
        try:
            if not records:
                return int(await self.client.xack(self.keys.stream, self.group, *ids))
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.keys.stream, self.group, *ids)
            pipe.hdel(self._attempts, *records, *[interrupted_field(i) for i in records])
            return int((await pipe.execute())[0])
        except redis.ResponseError as exc:
            if is_group_missing(exc):
                raise self._missing() from None
            raise

    async def dead_letter(self, letters: Sequence[Sequence[str]], at_ms: int) -> list[str]:
        """Move entries to the dead-letter stream: per letter ``(id, reason, error type, error,
        delivery count, failed attempts)``. Returns per letter the new dead-letter ID, ``""``
        when the entry is no longer pending to us, ``"-"`` when it was deleted meanwhile."""
        keys = [self.keys.stream, self.keys.dead_letter_stream, self._attempts]
        out: list[str] = []
        for start in range(0, len(letters), 100):
            flat = [value for letter in letters[start : start + 100] for value in letter]
            args = (self.group, self.consumer, self.limits.max_fields, at_ms, *flat)
            out += [str(r) for r in await self.call("ingest_dead_letter", keys, *args)]
        return out

    async def record(
        self, ids: Sequence[EntryId], *, interrupted: bool = False, delta: int = 1
    ) -> None:
        """``HINCRBY <attempts> <field> delta`` per entry (pipelined): the failed-attempts
        field, or with ``interrupted`` the interruptions field (``ingest.keys``)."""
        pipe = self.client.pipeline(transaction=False)
        for entry_id in ids:
            field = interrupted_field(entry_id) if interrupted else failed_field(entry_id)
            pipe.hincrby(self._attempts, field, delta)
        await pipe.execute()

    async def release(self, ids: Sequence[EntryId], *, interrupted: bool) -> int:
        """Hand back the entries still pending to us: idle time a year (claimable at once by
        any sweep), one more interruption each when ``interrupted``; returns how many."""
        keys = [self.keys.stream, self._attempts]
        flag = "1" if interrupted else "0"
        total = 0
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            args = (self.group, self.consumer, RELEASE_IDLE_MS, flag, *chunk)
            total += int(await self.call("ingest_release", keys, *args))
        return total

    async def refresh(self, ids: Sequence[EntryId]) -> list[EntryId]:
        """Reset the idle time of ``ids`` still pending to us (``XCLAIM ... JUSTID``: no
        delivery count); returns those that are not (claimed elsewhere or acknowledged)."""
        gone: list[EntryId] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            reply = await self.call(
                "ingest_refresh", [self.keys.stream], self.group, self.consumer, *chunk
            )
            gone += [EntryId(str(i)) for i in reply]
        return gone

    async def forget_lost(self, ids: Sequence[EntryId]) -> None:
        """Acknowledge entries deleted while pending and drop their attempts records (a
        history read leaves them pending; XAUTOCLAIM has removed them already)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.keys.stream, self.group, *ids)
        pipe.hdel(self._attempts, *ids, *[interrupted_field(i) for i in ids])
        await pipe.execute()

    async def keep_alive(self, value: str, ttl_s: float) -> None:
        """Refresh this consumer's liveness key (``SET key value PX ttl``)."""
        key = self.keys.consumer_alive(self.group, self.consumer)
        await self.client.set(key, value, px=int(ttl_s * 1000))

    async def forget_liveness(self) -> None:
        """Delete the liveness key (a clean exit frees the consumer name at once)."""
        await self.client.delete(self.keys.consumer_alive(self.group, self.consumer))
