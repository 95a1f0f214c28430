"""A worker never sits on entries it cannot start: an entry that waits behind busy slots
longer than ``--max-wait`` is handed back, and an idle worker handles it. Real redis-server."""

from __future__ import annotations

import asyncio
from typing import Any

import redis

from ingest.codec import Event, encode
from tests.workers.util import GROUP, STREAM, add_events, running, settings_for, wait_async


async def test_an_entry_waiting_behind_busy_slots_is_handed_to_an_idle_worker(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: worker A, one of its two slots busy with a long handler
    release = asyncio.Event()
    handled: dict[str, list[str]] = {"a": [], "b": []}

    def handler(name: str) -> Any:
        async def handle(event: Event) -> None:
            if event.event_id == "long0":
                await release.wait()
            handled[name].append(event.event_id)

        return handle

    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1, prefix="long", start=0)
    quick: dict[str, Any] = {
        "max_wait_s": 0.5, "liveness_ttl_s": 1.0, "max_crashes": 5, "min_idle_s": 1.0,
    }  # fmt: skip
    a_settings = settings_for(redis_url, consumer="a", concurrency=2, **quick)
    async with running(a_settings, handler("a")) as a:
        await wait_async(lambda: a.stats.in_flight == 1, what="A busy")
        # ... and an entry that crashed a worker before (a suspect: it must run alone), left by
        # a dead consumer, so A takes it over and it has to wait for A's busy slot
        pipe = client.pipeline(transaction=True)
        pipe.xadd(STREAM, encode(Event("s", {"n": 1}, source="test")))  # type: ignore[arg-type]
        pipe.xreadgroup(GROUP, "dead", {STREAM: ">"})
        [entry_id, _] = pipe.execute()
        client.xclaim(STREAM, GROUP, "dead", 0, [entry_id])

        # When: it has waited past --max-wait in A, and an idle worker B runs
        await wait_async(lambda: a.stats.released >= 1, what="A hands it back")
        b_settings = settings_for(redis_url, consumer="b", concurrency=1, **quick)
        async with running(b_settings, handler("b")) as b:
            # Then: B handles it while A's long handler still runs
            await wait_async(lambda: "s" in handled["b"], what="B handles it")
            assert "s" not in handled["a"]
            assert a.stats.in_flight == 1
            await wait_async(lambda: b.stats.acked >= 1, what="B acknowledged it")
        release.set()
        await wait_async(lambda: "long0" in handled["a"], what="the long one done")
