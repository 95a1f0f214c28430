"""Hung handlers never stall the worker: ``--handler-timeout`` cancels an async call and
abandons a sync one (its slot waits for the thread), the delivery counts a failed attempt
(reason ``timeout``), a WARNING names each call past ``--slow-handler``, and a worker whose
every slot is stuck exits 1 after handing back what it holds. Real redis-server.

(Found by trying: two workers, 24 events, the first 4 hang: after 40 s none of the 20 good
ones was done, and every probe said 200.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from ingest.codec import Event
from ingest.connection import async_client
from tests.workers.util import (
    GROUP,
    STREAM,
    add_events,
    dead_letters,
    running,
    settings_for,
    wait_async,
)
from workers.handlers import wrap
from workers.runner import Runner


async def test_an_async_handler_past_the_timeout_is_cancelled_and_dead_lettered_as_timeout(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: an async handler that hangs on e0 and handles the others
    cancelled: list[str] = []
    handled: list[str] = []

    async def handle(event: Event) -> None:
        if event.event_id == "e0":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(event.event_id)
                raise
        handled.append(event.event_id)

    add_events(client, 5)
    caplog.set_level(logging.WARNING, logger="workers")
    settings = settings_for(
        redis_url, handler_timeout_s=0.6, slow_handler_s=0.1, liveness_ttl_s=1.0,
        max_deliveries=2, min_idle_s=0.3, concurrency=2, retry_attempts=3,
    )  # fmt: skip
    # When: the worker runs
    async with running(settings, handle) as runner:
        await wait_async(lambda: runner.stats.dead_lettered == 1, what="dead-lettered")
        await wait_async(lambda: runner.stats.acked == 4, what="the others acked")

    # Then: cancelled twice (once per delivery, never retried in process), then dead-lettered
    assert cancelled == ["e0", "e0"]
    assert sorted(handled) == ["e1", "e2", "e3", "e4"]
    assert runner.stats.timeouts == 1  # the second timeout dead-lettered it instead
    [(_, fields)] = dead_letters(client)
    assert (fields["event_id"], fields["dead_reason"]) == ("e0", "timeout")
    assert fields["dead_error_type"] == "HandlerTimeout"
    assert fields["dead_failed_attempts"] == "2"
    # ... and each slow call was named at WARNING with its event and entry IDs
    slow = [r.getMessage() for r in caplog.records if "handler call in slot" in r.getMessage()]
    assert slow and all("events e0, entries " in line for line in slow)


async def test_a_sync_handler_past_the_timeout_is_abandoned_and_its_slot_waits_for_it(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a sync handler that blocks on e0 until released; two slots
    gate = threading.Event()
    handled: list[str] = []

    def handle(event: Event) -> None:
        if event.event_id == "e0":
            gate.wait(30)
        handled.append(event.event_id)

    add_events(client, 6)
    settings = settings_for(redis_url, handler_timeout_s=0.3, max_deliveries=1, concurrency=2)
    async with running(settings, handle) as runner:
        # When: e0 times out
        await wait_async(lambda: runner.stats.dead_lettered == 1, what="e0 dead-lettered")
        # Then: its thread still runs (abandoned, counted), the other slot handles the rest
        await wait_async(lambda: runner.stats.acked == 5, what="the others acked")
        await wait_async(lambda: runner.stats.abandoned == 1, what="gauge: one abandoned")
        assert runner.dispatch.abandoned_count() == 1
        assert runner.liveness.check()[0] is True  # one slot is still free
        # ... and once the thread returns the slot is free again
        gate.set()
        await wait_async(lambda: runner.dispatch.abandoned_count() == 0, what="slot free")
    [(_, fields)] = dead_letters(client)
    assert (fields["event_id"], fields["dead_reason"]) == ("e0", "timeout")
    assert client.xpending(STREAM, GROUP)["pending"] == 0


async def test_a_worker_whose_every_slot_is_stuck_is_not_live_and_exits_1(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: one slot, and a sync handler that never returns in time
    gate = threading.Event()

    def handle(event: Event) -> None:
        gate.wait(30)

    add_events(client, 3)
    settings = settings_for(redis_url, handler_timeout_s=0.3, concurrency=1, min_idle_s=30.0,
                            consumer_ttl_s=60.0)  # fmt: skip
    executor = ThreadPoolExecutor(1)
    aclient = async_client(settings.redis)
    runner = Runner(settings, wrap(handle, executor), aclient, executor)
    try:
        # When: it runs and its only slot waits for an abandoned call
        code = await asyncio.wait_for(runner.run(), 15)
    finally:
        gate.set()
        await aclient.aclose()
        executor.shutdown(wait=False)

    # Then: exit 1 (the supervisor restarts it), with nothing held and the stuck entry
    # counted as a failed attempt (pending, for another worker after --min-idle)
    assert code == 1
    assert runner.stats.timeouts == 1
    assert runner.ledger.held_count == 0
    assert client.xpending(STREAM, GROUP)["pending"] == 1
    entries: Any = client.xrange(STREAM)
    assert client.hget("{ingest:events}:attempts:workers", entries[0][0]) == "1"
