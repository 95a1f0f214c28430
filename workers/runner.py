"""The worker: read, claim, refresh and acknowledge loops around the :class:`Processor`.

Loops (one asyncio task each): the reader (own pending history with ``0``, then ``>``), the
reclaimer (XAUTOCLAIM sweeps every ``--claim-interval``; pruning of dead consumers), the
refresher (idle-time refresh of held entries and the liveness key), the acknowledger, and
``--concurrency`` processing slots fed from one local queue (no task per entry). Any loop
ending with an unexpected error ends :meth:`Runner.run` with exit code 1.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import redis.asyncio
from opentelemetry import trace

from ingest.connection import CONNECTION_ERRORS, wait_until_reachable_async
from ingest.keys import StreamKeys
from ingest.streams import (
    EntryId,
    StreamEntry,
)
from workers import consumer as group_io
from workers.acks import AckBuffer
from workers.backoff import LoopBackoff
from workers.burst import BurstCheck
from workers.delivery import Delivery
from workers.errors import GroupMissingError
from workers.handlers import LoadedHandler
from workers.holding import Holding
from workers.processing import Processor
from workers.reclaimer import Reclaimer, load_history, prune_consumers
from workers.settings import WorkerSettings
from workers.stats import Health, Hooks, Stats
from workers.supervise import Supervisor
from workers.systemd import Notifier
from workers.tracing import DeliveryTracer
from workers.wording import plural

log = logging.getLogger(__name__)

_STOP = None


class Runner:
    """One worker process's consumer.

    Args:
        settings: validated settings.
        handler: the loaded handler (see :func:`workers.handlers.load`).
        client: an async client (``decode_responses=True``); the runner closes it.
        executor: thread pool the handler's sync code runs in (shut down at the end).
        tracer_provider: for process spans; default the global provider.
        notifier: systemd notifications (no-op without ``NOTIFY_SOCKET``).
        sleep: awaitable sleep for retry waits (tests inject one).

    Attributes:
        stats, health, hooks: for the observability layer (see :mod:`workers.stats`).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        handler: LoadedHandler,
        client: redis.asyncio.Redis,
        executor: ThreadPoolExecutor | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        notifier: Notifier | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.client = client
        self.executor = executor
        self.keys = StreamKeys(settings.stream)
        self.stats = Stats()
        self.health = Health()
        self.hooks = Hooks()
        self.notifier = notifier or Notifier({})
        self.holding = Holding(
            client,
            self.keys,
            settings.group,
            settings.consumer,
            settings.alive_ttl_s,
            group_io.liveness_value(),
        )
        self.acks = AckBuffer(
            client,
            self.keys,
            settings.group,
            self.holding,
            self.stats,
            self.hooks,
            self.health,
            max_batch=max(settings.read_count, 100),
        )
        self.tracer = DeliveryTracer(
            settings.stream,
            settings.group,
            settings.consumer,
            tracer_provider,
            per_batch=settings.trace_spans == "batch",
        )
        self.processor = Processor(
            client,
            self.keys,
            settings,
            handler,
            self.holding,
            self.acks,
            self.stats,
            self.hooks,
            self.tracer,
            sleep,
        )
        self.reclaimer = Reclaimer(
            client, self.keys, settings.group, settings.consumer, settings.min_idle_ms
        )
        self.queue: asyncio.Queue[Delivery | None] = asyncio.Queue()
        self.room = asyncio.Event()
        self.room.set()
        self.stopping = asyncio.Event()
        self.history_done = asyncio.Event()
        """Set once the reader went through our own pending entries; claims wait for it, or a
        sweep would claim our own released entries again (double delivery count)."""
        self.burst_done = False
        self.burst_check = BurstCheck(client, settings)
        self._group_lock = asyncio.Lock()
        self._group_recreated_at = -float("inf")

    # ---- control ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful stop (idempotent): no new reads, in-flight work may finish."""
        self.stopping.set()

    async def run(self) -> int:
        """Join the group, run every loop until stopped or a loop fails; returns the exit
        code (0 after a graceful stop or a finished burst, 1 after a failed loop).

        Raises:
            RedisUnavailable: Redis unreachable for ``--connect-timeout`` at start.
            GroupCreateError, ConsumerNameTaken: start-up refused.
        """
        await self._start()
        return await Supervisor(self).run()

    async def _start(self) -> None:
        s = self.settings
        await wait_until_reachable_async(self.client, self.settings.redis)
        if await group_io.ensure_group(self.client, s.stream, s.group, s.start_id):
            log.info("created consumer group %s on %s from %s", s.group, s.stream, s.start_id)
        await group_io.claim_consumer_name(
            self.client, self.keys, s.group, s.consumer, s.alive_ttl_s
        )
        self.health.connected = self.health.group_exists = self.health.joined = True
        log.info(
            "consumer %s joined group %s on %s (handler %s, concurrency %d, batch %d)",
            s.consumer,
            s.group,
            s.stream,
            self.handler.name,
            s.concurrency,
            s.read_count,
        )
        self.notifier.ready(f"consumer {s.consumer} in group {s.group}")

    # ---- entering deliveries ------------------------------------------------------------

    def _room_left(self) -> int:
        return self.settings.capacity - self.queue.qsize()

    async def _admit(self, entries: list[StreamEntry], *, claimed: bool, history: bool) -> None:
        """Turn entries into held deliveries and queue them; deleted ones count as lost."""
        lost = [EntryId(e.entry_id) for e in entries if e.fields is None]
        if lost:
            self.stats.lost += len(lost)
            await self.reclaimer.forget_lost(lost)
        held = self.holding.held
        # A sweep can claim entries we hold ourselves (after an outage longer than --min-idle
        # stopped the idle-time refresh): they are already queued or running. That claim
        # advanced their delivery count without a delivery; recording it like an interruption
        # keeps it from counting toward --max-deliveries.
        if claimed:
            ours = [EntryId(e.entry_id) for e in entries if e.fields and e.entry_id in held]
            if ours:
                for entry_id in ours:
                    held[entry_id].has_record = True  # so the ack deletes the field
                await self.reclaimer.forget_self_claims(ours)
        deliveries = [
            Delivery.from_entry(e, claimed=claimed)
            for e in entries
            if e.fields and e.entry_id not in held
        ]
        if not deliveries:
            return
        # Held before the await, so a concurrent admit skips them; dropped again if the
        # history load fails, or they would stay held (refreshed, unclaimable) forever.
        self.holding.hold(deliveries)
        if claimed or history:
            try:
                await load_history(
                    self.client, self.keys, self.settings.group, self.settings.consumer, deliveries
                )
            except BaseException:
                self.holding.drop(deliveries)
                raise
        for d in deliveries:
            self.queue.put_nowait(d)
        if self.queue.qsize() >= self.settings.read_count:
            self.room.clear()

    async def group_missing(self, exc: GroupMissingError) -> None:
        """NOGROUP: exit (``--on-missing-group=exit``) or recreate the group from ``0``,
        at most once a second however many loops notice."""
        self.health.group_exists = False
        if self.settings.on_missing_group == "exit":
            raise exc
        async with self._group_lock:
            wait = self._group_recreated_at + 1.0 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            created = await group_io.ensure_group(
                self.client, self.settings.stream, self.settings.group, "0"
            )
            self._group_recreated_at = time.monotonic()
            if created:
                self.stats.groups_recreated += 1
                log.warning(
                    "consumer group %s of %s was missing (NOGROUP); recreated it from 0, so "
                    "entries still in the stream are delivered again (the sink deduplicates)",
                    self.settings.group,
                    self.settings.stream,
                )
            self.health.group_exists = True

    # ---- loops ----------------------------------------------------------------------------

    async def guarded(self, name: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` forever; connection errors back off, NOGROUP recreates the group,
        anything else propagates (and ends the process)."""
        backoff = LoopBackoff(name, log)
        while not self.stopping.is_set():
            try:
                await step()
            except CONNECTION_ERRORS as exc:
                self.health.connected = False
                self.stats.connection_errors += 1
                await backoff.failed(exc)
                continue
            except GroupMissingError as exc:
                await self.group_missing(exc)
                continue
            self.health.connected = True
            backoff.succeeded()
            self.health.beat(name)

    async def read_loop(self) -> None:
        """Own pending entries first (``0``, paged), then new ones (``>``)."""
        history_from: str | None = "0"

        async def step() -> None:
            nonlocal history_from
            await self.room.wait()
            s = self.settings
            if history_from is not None:
                entries = await group_io.read_batch(
                    self.client,
                    s.stream,
                    s.group,
                    s.consumer,
                    start=history_from,
                    count=s.read_count,
                    block_ms=None,
                )
                history_from = entries[-1].entry_id if entries else None
                if history_from is None:
                    self.history_done.set()
                self.stats.read += len(entries)
                await self._admit(entries, claimed=False, history=True)
                return
            block = min(s.block_ms, 500) if s.burst else s.block_ms
            entries = await group_io.read_batch(
                self.client,
                s.stream,
                s.group,
                s.consumer,
                start=">",
                count=s.read_count,
                block_ms=block,
            )
            self.stats.read += len(entries)
            self.health.group_exists = True
            await self._admit(entries, claimed=False, history=False)
            if not entries and s.burst and await self._burst_finished():
                self.burst_done = True
                self.request_stop()

        await self.guarded("read", step)

    async def _burst_finished(self) -> bool:
        """True when this worker holds nothing and the group has nothing pending and nothing
        undelivered (see :class:`~workers.burst.BurstCheck`)."""
        if self.holding.held or not self.queue.empty():
            return False
        return await self.burst_check.finished()

    async def claim_loop(self) -> None:
        """Every ``--claim-interval``: an XAUTOCLAIM sweep to the end of the PEL (as far as
        there is room), then, now and then, pruning of dead consumers."""
        prune_every = max(
            self.settings.claim_interval_s, min(300.0, self.settings.consumer_ttl_s / 10)
        )
        last_prune = time.monotonic()

        async def step() -> None:
            nonlocal last_prune
            await self.history_done.wait()
            await self.sweep()
            if time.monotonic() - last_prune >= prune_every:
                last_prune = time.monotonic()
                removed = await prune_consumers(
                    self.client,
                    self.keys,
                    self.settings.group,
                    self.settings.consumer,
                    int(self.settings.consumer_ttl_s * 1000),
                )
                self.stats.consumers_removed += len(removed)
            await _sleep_or_stop(self.stopping, self.settings.claim_interval_s)

        await self.guarded("claim", step)

    async def sweep(self) -> int:
        """Claim idle entries from the kept cursor until the cursor wraps to ``0-0`` or the
        local queue is full; returns how many were claimed."""
        total = 0
        while not self.stopping.is_set():
            room = self._room_left()
            if room <= 0:
                break
            page = await self.reclaimer.reclaim_once(min(self.settings.claim_count, room))
            if page.deleted_ids:
                self.stats.lost += len(page.deleted_ids)
                await self.reclaimer.forget_lost(page.deleted_ids)
            if page.claimed:
                self.stats.claimed += len(page.claimed)
                total += len(page.claimed)
                await self._admit(page.claimed, claimed=True, history=False)
            if page.cursor == "0-0":
                break
        return total

    async def refresh_loop(self) -> None:
        """Reset the idle time of held entries every refresh interval (also during shutdown,
        until the supervisor cancels it)."""
        while True:
            try:
                gone = await self.holding.refresh()
            except CONNECTION_ERRORS as exc:
                self.health.connected = False
                log.debug("refresh failed: %s", exc)
            except redis.ResponseError as exc:
                if not group_io.is_group_missing(exc):
                    raise
                self.health.group_exists = False
            else:
                self.stats.refreshed += len(self.holding.held)
                if gone:
                    self.stats.stolen += len(gone)
                    log.warning(
                        "%s no longer ours (claimed elsewhere or the group was recreated): %s",
                        plural(len(gone), "held entry is", "held entries are"),
                        gone[:10],
                    )
                self.health.beat("refresh")
            self.stats.held = len(self.holding.held)
            await asyncio.sleep(self.settings.refresh_interval_s)

    async def slot(self) -> None:
        """One processing slot: take a delivery (or a batch of them) from the queue."""
        batched = self.handler.batched
        limit = self.settings.read_count
        while True:
            first = await self.queue.get()
            if first is _STOP:
                return
            items = [first]
            while batched and len(items) < limit and not self.queue.empty():
                item = self.queue.get_nowait()
                if item is _STOP:
                    self.queue.put_nowait(item)
                    break
                items.append(item)
            if self.queue.qsize() < self.settings.read_count:
                self.room.set()
            await self.processor.process(items)


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return
