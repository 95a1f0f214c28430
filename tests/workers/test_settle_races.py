"""Races around holding, releasing and settling entries, against the real redis-server,
driven through the Redis-command seam (a :class:`StreamIO` subclass), never by patching."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from ingest.codec import Event
from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.streams import EntryId
from tests.workers.util import (
    GROUP,
    STREAM,
    add_events,
    dead_letters,
    iter_ids,
    settings_for,
    wait_async,
)
from workers.acks import AckQueue
from workers.delivery import History
from workers.handlers import wrap
from workers.ledger import Ledger
from workers.redis_io import RELEASE_IDLE_MS, StreamIO
from workers.rows import EntryLimits, Page, Row
from workers.runner import Runner
from workers.settlement import Report
from workers.stats import Hooks, Stats
from workers.tracing import DeliveryTracer
from workers.verdict import REASON_PERMANENT, Limits


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


def _io(aclient: Any, consumer: str, cls: type[StreamIO] = StreamIO) -> StreamIO:
    return cls(aclient, StreamKeys(STREAM), GROUP, consumer, EntryLimits(10**6, 1000))


def _ledger(io: StreamIO) -> Ledger:
    report = Report(Stats(), Hooks())
    tracer = DeliveryTracer(STREAM, GROUP, io.consumer)
    return Ledger(io, Limits(), report, tracer, retry_attempts=1, acks=AckQueue())


async def test_a_claim_whose_reply_is_lost_once_is_still_handled_and_acked(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: an entry pending in a dead consumer, and a claim call that fails once on the way
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1)
    client.xreadgroup(GROUP, "dead-one", {STREAM: ">"})
    failures = 0

    class BlipIO(StreamIO):
        async def take_over(self, dead: str, count: int) -> Page | None:
            nonlocal failures
            if failures == 0:
                failures += 1
                raise redis.ConnectionError("connection blip")
            return await super().take_over(dead, count)

    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    # When: a worker takes it over
    settings = settings_for(redis_url, min_idle_s=30.0, consumer_ttl_s=60.0, liveness_ttl_s=1.0)
    executor = ThreadPoolExecutor(2)
    aclient = async_client(settings.redis)
    runner = Runner(
        settings,
        wrap(handle, executor),
        aclient,
        executor,
        io=_io(aclient, "test-consumer", BlipIO),
    )
    task = asyncio.create_task(runner.run())
    try:
        await wait_async(lambda: runner.stats.acked == 1, what="acked")
        # Then: it is handled once, acknowledged, and nothing stays held
        assert runner.ledger.held_count == 0
    finally:
        runner.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
        await aclient.aclose()
        executor.shutdown(wait=False)
    assert failures == 1
    assert handled == ["e0"]
    assert _pending(client) == 0


async def test_release_racing_a_refresh_is_not_undone_by_it(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a held entry and a refresh stuck between its snapshot and its round trip
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1)
    reply: Any = client.xreadgroup(GROUP, "me", {STREAM: ">"})
    [(entry_id, fields)] = reply[0][1]
    gate, entered = asyncio.Event(), asyncio.Event()

    class SlowRefresh(StreamIO):
        async def refresh(self, ids: Any) -> list[EntryId]:
            entered.set()
            await gate.wait()
            return await super().refresh(ids)

    aclient = async_client(settings_for(redis_url).redis)
    ledger = _ledger(_io(aclient, "me", SlowRefresh))
    try:
        [delivery] = await ledger.admit([Row(EntryId(entry_id), fields)], claimed=False)
        refresh = asyncio.create_task(ledger.refresh())
        await entered.wait()

        # When: the entry is released meanwhile, and then the refresh goes on
        release = asyncio.create_task(ledger.release([delivery], "at shutdown"))
        # A bounded wait for something that must NOT happen (the release finishing first).
        done, _ = await asyncio.wait([release], timeout=0.3)
        released_early = bool(done)
        gate.set()
        await asyncio.gather(refresh, release)
    finally:
        await aclient.aclose()

    # Then: the release waited for the refresh, and the entry keeps its year of idle time
    assert not released_early
    rows = client.xpending_range(STREAM, GROUP, entry_id, entry_id, 1)
    assert int(rows[0]["time_since_delivered"]) >= RELEASE_IDLE_MS


async def test_dead_lettering_skips_an_entry_another_consumer_claimed_and_acknowledged(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: two entries read by "me"; the first is claimed and acknowledged by "other"
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    stolen, mine = add_events(client, 2)
    client.xreadgroup(GROUP, "me", {STREAM: ">"})
    client.xclaim(STREAM, GROUP, "other", 0, [stolen])
    client.xack(STREAM, GROUP, stolen)
    letter = [REASON_PERMANENT, "PermanentError", "bad", "1", "0"]

    # When: "me" dead-letters both
    aclient = async_client(settings_for(redis_url).redis)
    try:
        result = await _io(aclient, "me").dead_letter([[stolen, *letter], [mine, *letter]], 7)
    finally:
        await aclient.aclose()

    # Then: only the entry still ours is in the dead-letter stream, with the usual fields
    assert result[0] == ""
    dead = dead_letters(client)
    assert [d[0] for d in dead] == [result[1]]
    fields = dead[0][1]
    assert fields["dead_entry_id"] == mine
    assert fields["dead_reason"] == REASON_PERMANENT
    assert (fields["dead_consumer"], fields["dead_at_ms"]) == ("me", "7")
    assert fields["event_id"] == "e1"
    assert _pending(client) == 0


async def test_history_of_a_claimed_entry_comes_with_the_claim(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: an entry delivered twice, one failed attempt and one interruption recorded
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    [entry_id] = add_events(client, 1)
    client.xreadgroup(GROUP, "a", {STREAM: ">"})
    client.xclaim(STREAM, GROUP, "b", 0, [entry_id])
    client.hset(StreamKeys(STREAM).attempts(GROUP), mapping={entry_id: 1, f"{entry_id}:i": 1})
    aclient = async_client(settings_for(redis_url).redis)
    try:
        # When: "me" claims it
        page = await _io(aclient, "me").claim("0-0", 10, 0)
    finally:
        await aclient.aclose()
    # Then: the claim is the third delivery; no crash (failed + interrupted explain two)
    [row] = page.rows
    assert row.history == History(3, 1, 1)
    assert row.history.crashes == 0
    assert list(iter_ids(client)) == [entry_id]
