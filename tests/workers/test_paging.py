"""Paging through the pending entries list with an exclusive start (real redis-server)."""

from __future__ import annotations

import redis

from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.settings import RedisSettings
from tests.workers.util import GROUP, STREAM, add_events
from workers.redis_io import StreamIO
from workers.rows import EntryLimits


async def test_own_pending_ids_pages_past_the_page_size_without_repeats(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: 25 entries pending for consumer c1 and 5 for c2
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    ids = add_events(client, 30)
    client.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=25)
    client.xreadgroup(GROUP, "c2", {STREAM: ">"}, count=5)
    aclient = async_client(RedisSettings(redis_url))
    io = StreamIO(aclient, StreamKeys(STREAM), GROUP, "c1", EntryLimits(10**6, 100))
    try:
        # When: its own pending IDs are listed 10 to a page
        listed = await io.own_pending(page=10)
    finally:
        await aclient.aclose()

    # Then: each of its 25 entries once, in order, and none of c2's
    assert listed == ids[:25]
