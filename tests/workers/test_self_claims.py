"""Our own sweep claiming entries we hold does not count toward --max-deliveries."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from ingest.codec import Event
from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.streams import EntryId
from tests.workers.util import GROUP, STREAM, add_events, settings_for, wait_async
from workers.handlers import wrap
from workers.redis_io import StreamIO
from workers.rows import EntryLimits
from workers.runner import Runner


class LostRefresh(StreamIO):
    """Idle-time refreshes that never reach Redis (as in an outage longer than --min-idle)."""

    async def refresh(self, ids: Any) -> list[EntryId]:
        return []


async def test_self_claims_are_recorded_so_delivery_counts_stay_honest(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a worker holding one entry in a long handler whose idle-time refresh does not get
    # through, so its own sweeps claim the entry back
    (entry_id,) = add_events(client, 1)
    attempts = StreamKeys(STREAM).attempts(GROUP)
    release = asyncio.Event()
    calls: list[str] = []

    async def handle(event: Event) -> None:
        calls.append(event.event_id)
        await release.wait()

    settings = settings_for(redis_url, min_idle_s=0.3, claim_interval_s=0.05)
    executor = ThreadPoolExecutor(1)
    aclient = async_client(settings.redis)
    io = LostRefresh(aclient, StreamKeys(STREAM), GROUP, settings.consumer, EntryLimits(10**6, 99))
    runner = Runner(settings, wrap(handle, executor), aclient, executor, io=io)
    task = asyncio.create_task(runner.run())
    try:
        await wait_async(lambda: runner.health.joined, what="joined")

        def delivered() -> int:
            rows = client.xpending_range(STREAM, GROUP, entry_id, entry_id, 1)
            return int(rows[0]["times_delivered"]) if rows else 0

        # When: several sweeps have claimed it while the handler runs
        await wait_async(lambda: delivered() >= 3, what="a few self-claims")
        # Then: every extra delivery count is recorded as not a delivery
        await wait_async(
            lambda: int(client.hget(attempts, f"{entry_id}:i") or 0) == delivered() - 1,
            what="self-claims recorded",
        )
        assert calls == ["e0"]  # never handed to the handler a second time
        release.set()
        await wait_async(lambda: runner.stats.acked == 1, what="acked")
    finally:
        release.set()
        runner.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
        await aclient.aclose()
        executor.shutdown(wait=False)

    # ... and the ack deleted the record
    assert client.hlen(attempts) == 0
    assert client.xpending(STREAM, GROUP)["pending"] == 0
