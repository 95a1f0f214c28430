"""Acknowledgements coalesced across reads: many entry IDs per XACK, flushed on a short timer.

At a moderate steady rate each read returns one entry; acknowledging per read would cost a
round trip per entry. Instead finished deliveries collect here and one ``XACK`` (plus one
``HDEL`` of their attempts records, when any have one) goes out when ``max_batch`` are
waiting or ``delay_s`` after the first one arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio

from ingest.codec import now_ms
from ingest.connection import CONNECTION_ERRORS
from ingest.keys import StreamKeys
from workers.backoff import LoopBackoff
from workers.delivery import Delivery
from workers.holding import Holding
from workers.reclaimer import interrupted_field
from workers.stats import Health, Hooks, Stats
from workers.tracing import DeliveryTracer

log = logging.getLogger(__name__)


class AckBuffer:
    """Finished deliveries waiting for their XACK, and the loop that sends it.

    Args:
        client, keys, group: where to acknowledge.
        holding: held entries; acknowledged ones are dropped from it only after the XACK.
        stats, hooks, health: counters, measurement hooks and health state.
        max_batch: flush at once when this many are waiting.
        delay_s: otherwise flush this long after the first one arrived.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        keys: StreamKeys,
        group: str,
        holding: Holding,
        stats: Stats,
        hooks: Hooks,
        health: Health,
        *,
        max_batch: int = 500,
        delay_s: float = 0.005,
    ) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        self.holding = holding
        self.stats = stats
        self.hooks = hooks
        self.health = health
        self.max_batch = max_batch
        self.delay_s = delay_s
        self.waiting: list[Delivery] = []
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self.backoff = LoopBackoff("acknowledge", log)

    def add(self, deliveries: list[Delivery]) -> None:
        """Queue finished deliveries for acknowledgement."""
        self.waiting.extend(deliveries)
        self._nonempty.set()
        if len(self.waiting) >= self.max_batch:
            self._full.set()

    async def flush(self) -> None:
        """Send one XACK for everything waiting (HDEL of attempts records in the same
        ``MULTI`` when some have one). On a connection error they stay queued.

        ``stats.acked`` grows by XACK's reply, the number of entries Redis acknowledged
        (https://redis.io/docs/latest/commands/xack/): entries another consumer claimed and
        acknowledged meanwhile are not counted again.

        Raises:
            CONNECTION_ERRORS: Redis is unreachable (the deliveries stay queued).
        """
        batch, self.waiting = self.waiting, []
        self._nonempty.clear()
        self._full.clear()
        if not batch:
            return
        records = [d.entry_id for d in batch if d.has_record]
        settling = self.holding.settling
        settling.update(d.entry_id for d in batch)
        try:
            if records:
                pipe = self.client.pipeline(transaction=True)
                pipe.xack(self.keys.stream, self.group, *[d.entry_id for d in batch])
                fields = records + [interrupted_field(i) for i in records]
                pipe.hdel(self.keys.attempts(self.group), *fields)
                acked = (await pipe.execute())[0]
            else:
                acked = await self.client.xack(
                    self.keys.stream, self.group, *[d.entry_id for d in batch]
                )
        except BaseException:
            self.waiting[:0] = batch
            self._nonempty.set()
            raise
        finally:
            settling.difference_update(d.entry_id for d in batch)
        self._settled(batch, int(acked))

    def _settled(self, batch: list[Delivery], acked: int) -> None:
        # XACK's reply counts only entries still pending in the group: one another consumer
        # claimed and acknowledged first is not acknowledged (nor counted) twice.
        self.holding.drop(batch)
        self.stats.acked += acked
        self.stats.held = len(self.holding.held)
        if self.hooks.end_to_end is not None:
            now = now_ms()
            self.hooks.end_to_end(
                [(now - d.event.produced_at_ms) / 1000 for d in batch if d.event is not None]
            )
        for d in batch:
            if d.span is not None:
                DeliveryTracer.end(d, "acked")

    async def run(self) -> None:
        """Flush forever: on ``max_batch`` waiting or ``delay_s`` after the first arrival."""
        while True:
            await self._nonempty.wait()
            if not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.delay_s)
            try:
                await self.flush()
            except CONNECTION_ERRORS as exc:
                self.health.connected = False
                self.stats.connection_errors += 1
                await self.backoff.failed(exc)
                continue
            self.backoff.succeeded()
            self.health.beat("acknowledge")
