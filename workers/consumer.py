"""Joining the consumer group and reading from it (thin Redis I/O over ``ingest`` parsers).

Semantics from https://redis.io/docs/latest/commands/xgroup-create/ and
https://redis.io/docs/latest/commands/xreadgroup/: ``XGROUP CREATE ... MKSTREAM`` answers
``BUSYGROUP`` when the group exists; ``XREADGROUP`` with ID ``0`` returns this consumer's own
pending entries (its history), with ``>`` entries never delivered to the group.
"""

from __future__ import annotations

import logging
import os
import socket

import redis
import redis.asyncio

from ingest.keys import StreamKeys
from ingest.streams import (
    EntryId,
    StreamEntry,
    next_entry_id,
    parse_pending_range,
    parse_read_reply,
)
from workers.errors import ConsumerNameTaken, GroupCreateError, GroupMissingError

log = logging.getLogger(__name__)


def is_group_missing(exc: BaseException) -> bool:
    """True for the replies meaning the group or stream is gone.

    ``NOGROUP`` for commands on a missing group; Redis >= 7 also unblocks a blocked
    XREADGROUP with ``UNBLOCKED the stream key no longer exists`` when the key is deleted.
    """
    if not isinstance(exc, redis.ResponseError):
        return False
    text = str(exc)
    return "NOGROUP" in text or "no longer exists" in text


async def ensure_group(
    client: redis.asyncio.Redis, stream: str, group: str, start_id: str = "0"
) -> bool:
    """Create ``group`` on ``stream`` (``XGROUP CREATE stream group start_id MKSTREAM``).

    Returns:
        True when this call created it, False when it existed already (``BUSYGROUP``).

    Raises:
        GroupCreateError: any other error reply, e.g. ``WRONGTYPE`` when the key holds a string.
    """
    try:
        await client.xgroup_create(stream, group, id=start_id, mkstream=True)
    except redis.ResponseError as exc:
        if str(exc).startswith("BUSYGROUP"):
            return False
        raise GroupCreateError(stream, group, str(exc)) from None
    return True


async def read_batch(
    client: redis.asyncio.Redis,
    stream: str,
    group: str,
    consumer: str,
    *,
    start: str,
    count: int,
    block_ms: int | None,
) -> list[StreamEntry]:
    """One ``XREADGROUP GROUP group consumer COUNT count [BLOCK block_ms] STREAMS stream start``.

    ``start`` is ``">"`` for new entries or an entry ID for this consumer's history. History
    entries that were deleted come back with ``fields`` ``None`` (redis-py gives ``{}``).

    Raises:
        GroupMissingError: NOGROUP (or the stream was deleted while blocked).
    """
    try:
        raw = await client.xreadgroup(group, consumer, {stream: start}, count=count, block=block_ms)
    except redis.ResponseError as exc:
        if is_group_missing(exc):
            raise GroupMissingError(stream, group) from None
        raise
    entries: list[StreamEntry] = []
    for _, items in parse_read_reply(raw):
        # Only empty fields need a new StreamEntry; the rest are kept (a hot path).
        entries.extend(e if e.fields else StreamEntry(e.entry_id, None) for e in items)
    return entries


def liveness_value() -> str:
    """What the liveness key holds: ``<hostname>:<pid>`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_gone(holder: str) -> bool:
    """True when the liveness key's holder is provably dead: same host, and its pid is ours
    (a restarted container reuses pid 1) or no longer exists."""
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def claim_consumer_name(
    client: redis.asyncio.Redis, keys: StreamKeys, group: str, consumer: str, ttl_s: int
) -> None:
    """Take the liveness key of ``consumer`` (``SET key host:pid NX EX ttl_s``).

    A key left by a process on this host that no longer runs (SIGKILL, then a restart under
    the same name) is taken over.

    Raises:
        ConsumerNameTaken: a live process holds the name.
    """
    key = keys.consumer_alive(group, consumer)
    mine = liveness_value()
    if await client.set(key, mine, nx=True, ex=ttl_s):
        return
    holder = await client.get(key)
    if holder is None or holder == mine or holder_is_gone(str(holder)):
        log.info("consumer %s: taking over the liveness key left by %s", consumer, holder)
        await client.set(key, mine, ex=ttl_s)
        return
    raise ConsumerNameTaken(consumer, str(holder))


async def own_pending_ids(
    client: redis.asyncio.Redis, stream: str, group: str, consumer: str, page: int = 1000
) -> list[EntryId]:
    """IDs of every entry pending for ``consumer`` (``XPENDING ... (last + count consumer``).

    Pages with an exclusive start, so no entry is visited twice and the loop ends.
    """
    ids: list[EntryId] = []
    start = "-"
    while True:
        try:
            raw = await client.xpending_range(stream, group, start, "+", page, consumer)
        except redis.ResponseError as exc:
            if is_group_missing(exc):
                return ids
            raise
        rows = parse_pending_range(raw)
        ids.extend(row.entry_id for row in rows)
        if len(rows) < page:
            return ids
        start = next_entry_id(rows[-1].entry_id)
