"""Claiming entries left idle by crashed or stalled consumers, and pruning dead consumers.

Semantics from https://redis.io/docs/latest/commands/xautoclaim/: one call scans at most
COUNT x 10 pending entries, returns a cursor to continue from (``0-0`` once the scan reached
the end of the pending entries list), the claimed entries (their delivery count advanced),
and, since Redis 7, the IDs of entries that were pending but deleted from the stream (Redis
has already removed those from the PEL).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
import redis.asyncio

from ingest.keys import StreamKeys
from ingest.streams import (
    ZERO_ID,
    ClaimPage,
    EntryId,
    parse_autoclaim,
    parse_consumers,
    parse_pending_range,
)
from workers.consumer import is_group_missing
from workers.delivery import Delivery
from workers.errors import GroupMissingError
from workers.wording import plural

log = logging.getLogger(__name__)


def interrupted_field(entry_id: str) -> str:
    """Attempts-hash field counting shutdown interruptions (the plain ID counts failures)."""
    return f"{entry_id}:i"


async def load_history(
    client: redis.asyncio.Redis,
    keys: StreamKeys,
    group: str,
    consumer: str,
    deliveries: Sequence[Delivery],
) -> None:
    """Fill in ``delivery_count``, ``failed_attempts`` and ``interrupted`` of ``deliveries``.

    One pipelined round trip: ``XPENDING stream group id id 1 consumer`` per entry (the PEL's
    times-delivered) and one ``HMGET`` of the attempts hash. Used for entries that may have
    been delivered before (history reads and claims), never for fresh ``>`` reads.

    Raises:
        GroupMissingError: on NOGROUP (the group or the stream was deleted).
    """
    if not deliveries:
        return
    pipe = client.pipeline(transaction=False)
    for d in deliveries:
        pipe.xpending_range(keys.stream, group, d.entry_id, d.entry_id, 1, consumer)
    names: list[str] = []
    for d in deliveries:
        names += [d.entry_id, interrupted_field(d.entry_id)]
    pipe.hmget(keys.attempts(group), names)
    try:
        replies = await pipe.execute()
    except redis.ResponseError as exc:
        if is_group_missing(exc):
            raise GroupMissingError(keys.stream, group) from None
        raise
    counts = replies[-1]
    for i, d in enumerate(deliveries):
        rows = parse_pending_range(replies[i])
        if rows:
            d.delivery_count = rows[0].delivery_count
        d.failed_attempts = int(counts[2 * i] or 0)
        d.interrupted = int(counts[2 * i + 1] or 0)
        d.has_record = True


@dataclass(slots=True)
class Reclaimer:
    """XAUTOCLAIM sweeps that keep their cursor between calls.

    Attributes:
        client: the worker's async client.
        keys: the stream's keys.
        group: the consumer group.
        consumer: who claims (this worker).
        min_idle_ms: only entries idle at least this long are claimed.
        cursor: where the next XAUTOCLAIM starts (``0-0`` = a new sweep).
    """

    client: redis.asyncio.Redis
    keys: StreamKeys
    group: str
    consumer: str
    min_idle_ms: int
    cursor: EntryId = ZERO_ID
    sweeps: int = field(default=0)

    async def reclaim_once(self, count: int) -> ClaimPage:
        """One ``XAUTOCLAIM stream group consumer min_idle_ms cursor COUNT count``.

        Advances :attr:`cursor`. An empty page with a non-zero cursor only means this call's
        scan found nothing: the caller goes on until the cursor is back at ``0-0``.

        Raises:
            GroupMissingError: on NOGROUP.
        """
        try:
            raw = await self.client.xautoclaim(
                self.keys.stream,
                self.group,
                self.consumer,
                self.min_idle_ms,
                start_id=self.cursor,
                count=count,
            )
        except redis.ResponseError as exc:
            if is_group_missing(exc):
                self.cursor = ZERO_ID
                raise GroupMissingError(self.keys.stream, self.group) from None
            raise
        page = parse_autoclaim(raw)
        self.cursor = page.cursor
        if page.cursor == ZERO_ID:
            self.sweeps += 1
        return page

    async def forget_lost(self, ids: Sequence[EntryId]) -> None:
        """Drop the attempts records of entries deleted while pending.

        Redis already removed them from the PEL (XAUTOCLAIM does); the XACK covers history
        reads, where a deleted entry stays pending until acknowledged.
        """
        if not ids:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.keys.stream, self.group, *ids)
        pipe.hdel(self.keys.attempts(self.group), *ids, *[interrupted_field(i) for i in ids])
        await pipe.execute()
        log.warning(
            "%s deleted or trimmed while pending, so lost: %s",
            plural(len(ids), "entry was", "entries were"),
            " ".join(ids[:50]) + (" ..." if len(ids) > 50 else ""),
        )

    async def forget_self_claims(self, ids: Sequence[EntryId]) -> None:
        """Record that our own sweep claimed entries we were already holding.

        XAUTOCLAIM advanced their delivery count although no new delivery happened; one
        ``HINCRBY <attempts> <id>:i 1`` each (pipelined) counts the claim like an interruption,
        so :func:`workers.dead_letter.should_dead_letter` does not count it. Deleted with the
        entry's other attempts fields on ack or dead-lettering.
        """
        attempts = self.keys.attempts(self.group)
        pipe = self.client.pipeline(transaction=False)
        for entry_id in ids:
            pipe.hincrby(attempts, interrupted_field(entry_id), 1)
        await pipe.execute()
        log.info(
            "our own claim sweep took %s we hold (idle-time refresh lagged, e.g. after an "
            "outage); not counted as deliveries",
            plural(len(ids), "entry", "entries"),
        )


# Deletes a consumer only if it still has no pending entries, has been idle long enough and
# its liveness key is gone, all in one step: between a check and a separate DELCONSUMER the
# consumer could read entries, which DELCONSUMER would then drop from the PEL (loss).
_DELETE_IF_IDLE = """
local rows = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, row in ipairs(rows) do
  local info = {}
  for i = 1, #row, 2 do info[row[i]] = row[i + 1] end
  if info['name'] == ARGV[2] then
    if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[3])
       and redis.call('EXISTS', KEYS[2]) == 0 then
      return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    end
    return -1
  end
end
return -2
"""


async def prune_consumers(
    client: redis.asyncio.Redis, keys: StreamKeys, group: str, me: str, ttl_ms: int
) -> list[str]:
    """Remove consumers idle longer than ``ttl_ms`` with zero pending entries and no
    liveness key. Consumers that still hold entries are left for XAUTOCLAIM to empty first.

    Returns:
        The names removed.
    """
    try:
        raw = await client.xinfo_consumers(keys.stream, group)
    except redis.ResponseError as exc:
        if is_group_missing(exc):
            return []
        raise
    removed: list[str] = []
    for row in parse_consumers(raw):
        if row.name == me or row.idle_ms < ttl_ms or row.pending:
            continue
        alive = keys.consumer_alive(group, row.name)
        result = await client.eval(
            _DELETE_IF_IDLE, 2, keys.stream, alive, group, row.name, str(ttl_ms)
        )
        if result == 0:  # DELCONSUMER answers the pending count it dropped: 0
            removed.append(row.name)
    if removed:
        log.info(
            "removed %s with no pending entries: %s",
            plural(len(removed), "idle consumer"),
            removed,
        )
    return removed
