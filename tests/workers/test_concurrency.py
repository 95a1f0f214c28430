"""Per-event handlers run ``--concurrency`` at once, each entry settled when it finishes."""

from __future__ import annotations

import threading
import time

import redis

from ingest.codec import Event
from tests.workers.util import GROUP, STREAM, add_events, running, settings_for, wait_async


class _Gauge:
    """Counts calls running at once (from the thread pool) and the most seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def test_sync_handler_runs_concurrency_calls_at_once(
    redis_url: str, client: redis.Redis
) -> None:
    # Given 8 events and a plain sync handler that blocks until released
    gauge, gate = _Gauge(), threading.Event()

    def handle(event: Event) -> None:
        gauge.enter()
        try:
            gate.wait(10)
        finally:
            gauge.leave()

    add_events(client, 8)
    # When a worker with --concurrency 4 reads them in one batch
    async with running(settings_for(redis_url, concurrency=4), handle) as runner:
        await wait_async(lambda: gauge.now == 4, what="four calls at once")
        gate.set()
        await wait_async(lambda: runner.stats.acked == 8, what="all acked")
    # Then four ran at once (never more) in the thread pool, and all were acknowledged
    assert gauge.most == 4
    assert _pending(client) == 0


async def test_sync_handler_eight_half_second_events_take_well_under_four_seconds(
    redis_url: str, client: redis.Redis
) -> None:
    def handle(event: Event) -> None:
        time.sleep(0.5)  # the handler's own work, not a wait for an outcome

    add_events(client, 8)
    async with running(settings_for(redis_url, concurrency=4), handle) as runner:
        started = time.monotonic()
        await wait_async(lambda: runner.stats.acked == 8, what="all acked")
        elapsed = time.monotonic() - started
    # 8 x 0.5 s one after another would be 4 s; four at a time is about 1 s
    assert elapsed < 3.0


async def test_each_finished_event_is_acknowledged_while_its_neighbours_still_run(
    redis_url: str, client: redis.Redis
) -> None:
    # Given one quick event among slow ones
    gate = threading.Event()

    def handle(event: Event) -> None:
        if event.event_id != "e0":
            gate.wait(10)

    add_events(client, 8)
    async with running(settings_for(redis_url, concurrency=4), handle) as runner:
        # Then the quick one is acknowledged while its neighbours still run (its slot then
        # takes one more entry: reads are bounded by the free slots)
        await wait_async(lambda: runner.stats.acked == 1, what="e0 acked alone")
        await wait_async(lambda: _pending(client) == 4, what="four running")
        assert runner.stats.acked == 1
        gate.set()
        await wait_async(lambda: runner.stats.acked == 8, what="all acked")
    assert _pending(client) == 0


async def test_async_handler_runs_concurrency_calls_at_once(
    redis_url: str, client: redis.Redis
) -> None:
    import asyncio

    gauge, gate = _Gauge(), asyncio.Event()

    async def handle(event: Event) -> None:
        gauge.enter()
        try:
            await gate.wait()
        finally:
            gauge.leave()

    add_events(client, 8)
    async with running(settings_for(redis_url, concurrency=3), handle) as runner:
        await wait_async(lambda: gauge.now == 3, what="three calls at once")
        gate.set()
        await wait_async(lambda: runner.stats.acked == 8, what="all acked")
    assert gauge.most == 3
