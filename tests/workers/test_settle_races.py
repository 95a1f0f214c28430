"""Races around holding, releasing and settling entries, against the real redis-server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from redis.asyncio.client import Pipeline

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
    running,
    settings_for,
    wait_async,
)
from workers import reclaimer
from workers import runner as runner_module
from workers.dead_letter import DEAD_FIELDS, REASON_PERMANENT, DeadLetter, dead_letter
from workers.delivery import Delivery
from workers.errors import PermanentError
from workers.holding import RELEASE_IDLE_MS, Holding


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def test_claimed_batch_whose_history_load_fails_once_is_still_handled_and_acked(
    redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: an entry pending in a dead consumer, and a history load that fails once
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1)
    client.xreadgroup(GROUP, "dead-one", {STREAM: ">"})
    real_load = reclaimer.load_history
    failures = 0

    async def load_history(*args: object, **kwargs: object) -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise redis.ConnectionError("connection blip")
        await real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner_module, "load_history", load_history)
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    # When: a worker claims it (min-idle above 0, so a sweep never re-claims the entry
    # while it is being acknowledged: that would be a second, unrelated delivery)
    async with running(settings_for(redis_url, min_idle_s=0.4), handle) as runner:
        await wait_async(lambda: runner.stats.acked == 1, what="acked")
        # Then: it is handled once, acknowledged, and nothing stays held
        assert not runner.holding.held
    assert failures == 1
    assert handled == ["e0"]
    assert _pending(client) == 0


async def test_release_racing_a_refresh_is_not_undone_by_it(
    redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a held entry and a refresh stuck between its snapshot and its round trip
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1)
    client.xreadgroup(GROUP, "me", {STREAM: ">"})
    aclient = async_client(settings_for(redis_url).redis)
    holding = Holding(aclient, StreamKeys(STREAM), GROUP, "me", 30, "x")
    entry_id = EntryId(next(iter(iter_ids(client))))
    holding.hold([Delivery(entry_id=entry_id, fields={}, event=None)])
    gate = asyncio.Event()
    entered = asyncio.Event()
    real_execute = Pipeline.execute

    async def execute(self: Pipeline, raise_on_error: bool = True) -> list[object]:
        if not self.is_transaction:
            entered.set()
            await gate.wait()
        return await real_execute(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", execute)
    try:
        refresh = asyncio.create_task(holding.refresh())
        await entered.wait()

        # When: the entry is released meanwhile, and then the refresh goes on
        release = asyncio.create_task(holding.release([entry_id]))
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
    add_events(client, 2)
    client.xreadgroup(GROUP, "me", {STREAM: ">"})
    entries: list[Any] = client.xrange(STREAM)  # type: ignore[assignment]
    stolen, mine = (Delivery(entry_id=EntryId(i), fields=f, event=None) for i, f in entries)
    client.xclaim(STREAM, GROUP, "other", 0, [stolen.entry_id])
    client.xack(STREAM, GROUP, stolen.entry_id)
    letters = [DeadLetter(d, REASON_PERMANENT, PermanentError("bad")) for d in (stolen, mine)]

    # When: "me" dead-letters both
    aclient = async_client(settings_for(redis_url).redis)
    try:
        result = await dead_letter(aclient, StreamKeys(STREAM), GROUP, "me", letters)
    finally:
        await aclient.aclose()

    # Then: only the entry still ours is in the dead-letter stream, with the usual fields
    assert result[0] is None
    assert result[1] is not None
    dead = dead_letters(client)
    assert [d[0] for d in dead] == [result[1]]
    fields = dead[0][1]
    assert fields["dead_entry_id"] == mine.entry_id
    assert fields["dead_reason"] == REASON_PERMANENT
    assert set(DEAD_FIELDS) <= set(fields)
    assert _pending(client) == 0
