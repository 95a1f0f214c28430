"""A ``--burst`` worker waiting on entries pending in other (dead) consumers says so, once per
change, then claims them after ``--min-idle`` and exits 0. Real redis-server."""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from ingest.codec import Event, encode
from ingest.connection import async_client
from tests.workers.util import GROUP, STREAM, add_events, settings_for, wait_async
from workers.handlers import wrap
from workers.runner import Runner

WAITING = "burst: waiting for"
CLAIMABLE = (
    "claimable once its liveness key expires (--liveness-ttl) or once idle >= 1.5 s (--min-idle)"
)
WAIT_1 = f"burst: waiting for 3 entries pending in consumer dead-1: {CLAIMABLE}"


def _waiting_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(WAITING)]


async def test_burst_worker_waiting_on_dead_consumers_says_so_once_per_change(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: 3 entries pending in consumer dead-1, which stalls (never acknowledges) while its
    # liveness key still looks alive (so its entries wait for --min-idle)
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 3)
    client.xreadgroup(GROUP, "dead-1", {STREAM: ">"})
    for name in ("dead-1", "dead-2"):
        client.set(f"{{ingest:events}}:alive:workers:{name}", "elsewhere:1:1", ex=60)
    caplog.set_level(logging.INFO, logger="workers")
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    # When: a burst worker under a new name starts (min-idle 1.5 s)
    settings = settings_for(redis_url, burst=True, min_idle_s=1.5)
    executor = ThreadPoolExecutor(settings.concurrency)
    async_redis = async_client(settings.redis)
    runner = Runner(settings, wrap(handle, executor), async_redis, executor)
    task = asyncio.create_task(runner.run())
    try:
        # Then: it says at once what it is waiting for, and only once while nothing changes
        await wait_async(lambda: _waiting_lines(caplog), what="the waiting line")
        assert _waiting_lines(caplog) == [WAIT_1]
        # When: a second consumer dies holding 2 more (added and read in one transaction, so
        # the burst worker cannot read them first)
        pipe = client.pipeline(transaction=True)
        for i in (3, 4):
            pipe.xadd(STREAM, encode(Event(f"e{i}", {"n": i}, source="test")))  # type: ignore[arg-type]
        pipe.xreadgroup(GROUP, "dead-2", {STREAM: ">"})
        pipe.execute()
        code = await asyncio.wait_for(task, 15)
    finally:
        runner.request_stop()
        await asyncio.gather(task, return_exceptions=True)
        await async_redis.aclose()
        executor.shutdown(wait=False)

    # Then: one line per change of the consumers it waited on; everything handled; exit 0.
    # Whether dead-1's entries are claimed before dead-2's are idle long enough (a line for
    # dead-2 alone) or all five at once depends on timing: each change is logged once.
    first = WAIT_1
    both = f"burst: waiting for 5 entries pending in consumers dead-1, dead-2: {CLAIMABLE}"
    # dead-2's entries may be claimed a few at a time (a sweep takes what free slots take)
    alone = re.compile(r"burst: waiting for \d entr(y|ies) pending in consumer dead-2: .*")
    lines = _waiting_lines(caplog)
    assert lines[0] == first
    rest = lines[1:]
    if rest and rest[0] == both:
        rest = rest[1:]
    assert all(alone.fullmatch(line) for line in rest), lines
    assert len(set(rest)) == len(rest)  # each change once
    assert code == 0
    assert sorted(handled) == ["e0", "e1", "e2", "e3", "e4"]
    assert runner.stats.claimed == 5
    assert client.xpending(STREAM, GROUP)["pending"] == 0


async def test_burst_worker_with_nothing_pending_elsewhere_does_not_log_waiting(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    add_events(client, 4)
    caplog.set_level(logging.INFO, logger="workers")
    settings = settings_for(redis_url, burst=True)
    executor = ThreadPoolExecutor(settings.concurrency)
    async_redis = async_client(settings.redis)
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    runner = Runner(settings, wrap(handle, executor), async_redis, executor)
    try:
        code = await asyncio.wait_for(runner.run(), 15)
    finally:
        await async_redis.aclose()
        executor.shutdown(wait=False)

    assert code == 0
    assert len(handled) == 4
    assert _waiting_lines(caplog) == []
