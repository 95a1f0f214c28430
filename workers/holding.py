"""The entries this consumer holds, kept from looking idle, and handed back at shutdown.

While an entry is held (read but not started, handler running or backing off, or awaiting
its XACK) its idle time is reset every refresh interval with ``XCLAIM ... JUSTID`` to
ourselves, so no other consumer's XAUTOCLAIM takes it. JUSTID does not advance the delivery
count (https://redis.io/docs/latest/commands/xclaim/), which is what a refresh needs. The
refresh only touches entries the PEL still assigns to us, so a refresh never takes back an
entry another consumer had claimed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, cast

import redis.asyncio

from ingest.keys import StreamKeys
from ingest.streams import EntryId
from workers.delivery import Delivery
from workers.reclaimer import interrupted_field

CHUNK = 1000
RELEASE_IDLE_MS = 365 * 24 * 3600 * 1000
"""Idle time given to released entries: above any ``--min-idle``, claimable at once."""

# KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry IDs.
# Returns the IDs no longer pending for this consumer.
_REFRESH = """
local mine, gone = {}, {}
for i = 3, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #row == 1 then mine[#mine + 1] = ARGV[i] else gone[#gone + 1] = ARGV[i] end
end
if #mine > 0 then
  mine[#mine + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(mine))
end
return gone
"""


class Holding:
    """The held entries of one consumer (``entry ID -> Delivery``) and their Redis upkeep.

    Args:
        client: the worker's async client.
        keys: the stream's keys.
        group, consumer: who holds.
        alive_ttl_s: TTL of the liveness key refreshed with every refresh.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        keys: StreamKeys,
        group: str,
        consumer: str,
        alive_ttl_s: int,
        alive_value: str,
    ) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        self.consumer = consumer
        self.alive_ttl_s = alive_ttl_s
        self.alive_value = alive_value
        self.held: dict[EntryId, Delivery] = {}
        self.settling: set[EntryId] = set()
        """Entries whose XACK or dead-letter transaction is on its way (a refresh racing it
        finds them gone from the PEL: that is not a loss of ownership)."""
        self.failed: set[EntryId] = set()
        """Entries left pending after a failed delivery (not held; claimable after min-idle)."""
        self._upkeep = asyncio.Lock()
        """Serialises refresh and release: a refresh snapshots the held IDs and then awaits;
        a release landing in between would be undone by it (idle time reset to 0)."""

    def hold(self, deliveries: Iterable[Delivery]) -> None:
        """Start holding ``deliveries``."""
        for d in deliveries:
            self.held[d.entry_id] = d
            self.failed.discard(d.entry_id)

    def drop(self, deliveries: Iterable[Delivery]) -> None:
        """Stop holding (acked, dead-lettered, released, or left to be claimed later)."""
        for d in deliveries:
            self.held.pop(d.entry_id, None)

    def leave_pending(self, deliveries: Iterable[Delivery]) -> None:
        """Stop holding entries whose delivery failed: they stay pending and become claimable
        (by anyone, us included) once idle for ``--min-idle``."""
        for d in deliveries:
            self.held.pop(d.entry_id, None)
            self.failed.add(d.entry_id)

    async def refresh(self) -> list[EntryId]:
        """Reset the idle time of every held entry and refresh the liveness key (one pipeline).

        Returns:
            IDs that are no longer ours (claimed by another consumer or the group vanished);
            they are dropped from the held set.

        Raises:
            redis.ResponseError: NOGROUP and other error replies.
        """
        async with self._upkeep:
            return await self._refresh()

    async def _refresh(self) -> list[EntryId]:
        ids = list(self.held)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(
            self.keys.consumer_alive(self.group, self.consumer),
            self.alive_value,
            ex=self.alive_ttl_s,
        )
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            pipe.eval(_REFRESH, 1, self.keys.stream, self.group, self.consumer, *chunk)
        replies = await pipe.execute()
        gone = [
            EntryId(str(i))
            for reply in replies[1:]
            for i in reply
            if i in self.held and i not in self.settling
        ]
        for entry_id in gone:
            self.held.pop(entry_id, None)
        return gone

    async def release(self, ids: Sequence[EntryId]) -> None:
        """Hand entries back so any consumer can claim them at once.

        ``XCLAIM stream group me 0 ids IDLE <1 year> JUSTID`` makes them look idle past any
        ``--min-idle``, and ``HINCRBY <attempts> <id>:i 1`` records that our shutdown, not a
        handler failure, interrupted this delivery; both in one ``MULTI``/``EXEC``. Waits for
        a refresh in progress, which would otherwise reset the idle time just set.
        """
        async with self._upkeep:
            await self._release(ids)

    async def _release(self, ids: Sequence[EntryId]) -> None:
        attempts = self.keys.attempts(self.group)
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            pipe = self.client.pipeline(transaction=True)
            pipe.xclaim(
                self.keys.stream,
                self.group,
                self.consumer,
                0,
                cast("list[Any]", chunk),
                idle=RELEASE_IDLE_MS,
                justid=True,
            )
            for entry_id in chunk:
                pipe.hincrby(attempts, interrupted_field(entry_id), 1)
            await pipe.execute()
            for entry_id in chunk:
                self.held.pop(entry_id, None)

    async def forget_liveness(self) -> None:
        """Delete the liveness key (a clean exit frees the consumer name at once)."""
        await self.client.delete(self.keys.consumer_alive(self.group, self.consumer))
