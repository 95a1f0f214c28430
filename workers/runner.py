"""One worker process's consumer: its start (library, group, consumer name) and its loops.

Its parts are built by :func:`workers.wiring.build`; the loops are the reader, the claim loop
(takeover of dead consumers every heartbeat, XAUTOCLAIM every ``--claim-interval``, pruning),
the heartbeat, the acknowledger, and one task per handler slot, run and stopped by
:class:`~workers.supervise.Supervisor`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio
from opentelemetry import trace

from ingest import library
from ingest.connection import wait_until_reachable_async
from ingest.keys import StreamKeys
from workers import consumer, wiring
from workers.handlers import LoadedHandler
from workers.loops import sleep_or_stop, stop_if_cancelled
from workers.redis_io import StreamIO
from workers.settings import WorkerSettings
from workers.slots import Slot
from workers.stats import Health, Hooks, Stats
from workers.supervise import Supervisor
from workers.systemd import Notifier

log = logging.getLogger(__name__)


class Runner:
    """One worker process's consumer.

    Args:
        settings: validated settings.
        handler: the loaded handler (see :func:`workers.loading.load`).
        client: an async client (:func:`ingest.connection.async_client`).
        executor: the thread pool sync handlers run in (shut down by the caller).
        tracer_provider: for process spans; default the global provider.
        notifier: systemd notifications (no-op without ``NOTIFY_SOCKET``).
        sleep: awaitable sleep for retry waits (tests inject one).
        io: replaces the Redis commands about entries (a test seam, see
            :func:`workers.wiring.build`).

    Attributes:
        stats, health, hooks: for the observability layer (see :mod:`workers.stats`).
        parts: the parts (see :func:`workers.wiring.build`); ``ledger``, ``dispatch``,
            ``reclaimer`` and ``liveness`` are shortcuts.
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
        io: StreamIO | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.client = client
        self.executor = executor
        self.stats, self.health, self.hooks = Stats(), Health(), Hooks()
        self.notifier = notifier or Notifier({})
        self.stopping = asyncio.Event()
        self.parts = wiring.build(
            settings,
            handler,
            client,
            self.stats,
            self.health,
            self.hooks,
            self.stopping,
            tracer_provider=tracer_provider,
            sleep=sleep,
            io=io,
        )
        self.ledger = self.parts.ledger
        self.dispatch = self.parts.dispatch
        self.reclaimer = self.parts.reclaimer
        self.liveness = self.parts.liveness

    @property
    def burst_done(self) -> bool:
        """A ``--burst`` run found nothing left and stopped."""
        return self.parts.reader.burst_done

    def request_stop(self) -> None:
        """Begin a graceful stop (idempotent): no new reads, in-flight work may finish."""
        self.stopping.set()

    async def run(self) -> int:
        """Join the group, run every loop until stopped or a task fails; returns the exit
        code (0 after a graceful stop or a finished burst, 1 after a failed task or with
        every handler slot stuck).

        Raises:
            RedisUnavailable: Redis unreachable for ``--connect-timeout`` at start.
            GroupCreateError, ConsumerNameTaken, AdmissionUnavailable: start-up refused.
        """
        await self._start()
        p, s = self.parts, self.settings
        loops = {
            "read": lambda: p.guard.run("read", p.reader.step),
            "claim": self._claim_loop,
            "heartbeat": lambda: p.guard.run(
                "heartbeat", self._beat, backoff_cap_s=s.heartbeat_s, forever=True
            ),
            "acknowledge": lambda: p.guard.run("acknowledge", self._acknowledge, forever=True),
        }
        supervisor = Supervisor(
            loops,
            self._run_slot,
            io=p.io,
            dispatch=p.dispatch,
            ledger=p.ledger,
            stats=self.stats,
            notifier=self.notifier,
            liveness=p.liveness,
            stopping=self.stopping,
            shutdown_timeout_s=s.shutdown_timeout_s,
        )
        return await supervisor.run()

    async def _start(self) -> None:
        s = self.settings
        await wait_until_reachable_async(self.client, s.redis)
        await library.ensure_loaded_async(self.client)
        await consumer.warn_if_not_persistent(self.client)
        if await consumer.ensure_group(self.client, s.stream, s.group, s.start_id):
            log.info("created consumer group %s on %s from %s", s.group, s.stream, s.start_id)
        keys = StreamKeys(s.stream)
        await consumer.claim_consumer_name(self.client, keys, s.group, s.consumer, s.liveness_ttl_s)
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

    async def _beat(self) -> None:
        await self.parts.heartbeat.step()
        await asyncio.sleep(self.settings.heartbeat_s)

    async def _acknowledge(self) -> None:
        await self.parts.ledger.acks_due()
        await self.parts.ledger.flush_acks()

    async def _claim_loop(self) -> None:
        """Every heartbeat (and whenever room frees up while a dead consumer's entries wait):
        take over dead consumers; every ``--claim-interval``: an XAUTOCLAIM sweep; now and
        then: pruning of idle consumers."""
        p, s = self.parts, self.settings
        prune_every = max(s.claim_interval_s, min(300.0, s.consumer_ttl_s / 10))
        last = {"sweep": -float("inf"), "prune": time.monotonic()}

        async def step() -> None:
            await p.reader.history_done.wait()
            more = await p.reclaimer.take_over()
            now = time.monotonic()
            if now - last["sweep"] >= s.claim_interval_s:
                last["sweep"] = now
                await p.reclaimer.sweep()
            if now - last["prune"] >= prune_every:
                last["prune"] = now
                await p.reclaimer.prune()
            if more:  # a dead consumer's entries wait for room: go on as soon as a slot frees
                await p.dispatch.wait_room()
            else:
                await sleep_or_stop(self.stopping, min(s.heartbeat_s, s.claim_interval_s))

        await p.guard.run("claim", step)

    async def _run_slot(self, slot: Slot) -> None:
        """One handler slot: take work, run it, settle it, repeat until closed."""
        p = self.parts
        while True:
            work = await p.dispatch.take(slot)
            if work is None:
                return
            if work.isolated:
                await p.ledger.isolate(work.waiting)
            await p.ledger.unmark(work.items)
            result = await p.processor.run(work.items, slot)
            await p.ledger.settle(zip(work.items, result.outcomes, strict=True))
            for call in result.abandoned:
                await p.dispatch.abandon(slot, call)
            await p.dispatch.done(slot)
            stop_if_cancelled()
