"""The exit summary's counters: ``acked`` is what Redis acknowledged, ``held`` ends at 0."""

from __future__ import annotations

import threading

import redis

from ingest.codec import Event
from tests.workers.util import GROUP, STREAM, add_events, running, settings_for, wait_async


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def test_entries_claimed_from_a_holder_are_acked_once_across_both_consumers(
    redis_url: str, client: redis.Redis
) -> None:
    # Given consumer "holder" stuck on 8 entries it read
    gate = threading.Event()
    held_calls: list[str] = []

    def stuck(event: Event) -> None:
        gate.wait(10)
        held_calls.append(event.event_id)

    async def quick(event: Event) -> None:
        return None

    add_events(client, 8)
    holder_settings = settings_for(
        redis_url, consumer="holder", concurrency=8, min_idle_s=60.0, consumer_ttl_s=120.0
    )
    async with running(holder_settings, stuck) as holder:
        await wait_async(lambda: holder.stats.in_flight == 8, what="holder busy with all 8")
        # When another consumer claims them (min-idle 0) and acknowledges them
        thief_settings = settings_for(redis_url, consumer="thief", min_idle_s=0.0)
        async with running(thief_settings, quick) as thief:
            await wait_async(lambda: thief.stats.acked == 8, what="thief acked all")
        assert _pending(client) == 0
        # and the holder then finishes and acknowledges them too
        gate.set()
        await wait_async(lambda: len(held_calls) == 8, what="holder finished")
    # Then Redis acknowledged each entry once: the holder's XACKs acknowledged nothing
    assert thief.stats.acked + holder.stats.acked == 8
    assert holder.stats.acked == 0
    assert holder.stats.held == 0


async def test_burst_worker_ends_with_nothing_held(redis_url: str, client: redis.Redis) -> None:
    # Given a refresh (every 2 s) that sees 8 held entries, then a burst that finishes at once
    gate = threading.Event()

    def handle(event: Event) -> None:
        gate.wait(10)

    add_events(client, 8)
    settings = settings_for(
        redis_url, burst=True, concurrency=8, min_idle_s=8.0, consumer_ttl_s=20.0
    )
    async with running(settings, handle) as runner:
        await wait_async(lambda: runner.stats.held == 8, what="a refresh saw 8 held")
        gate.set()
        await wait_async(lambda: runner.stopping.is_set(), what="burst finished")
    # Then the gauge says nothing is held any more
    assert runner.stats.acked == 8
    assert runner.stats.held == 0
    assert _pending(client) == 0
