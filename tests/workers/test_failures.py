"""A failing loop ends the worker; a bad event in a sink batch does not hold back its batch."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from ingest.codec import Event
from ingest.connection import async_client
from tests.workers.util import GROUP, STREAM, add_events, settings_for, wait_async
from workers import PermanentError
from workers import consumer as group_io
from workers.acks import AckBuffer
from workers.handlers import wrap
from workers.runner import Runner
from workers.sinks.sqlite import SqliteSink


def test_a_bad_event_is_found_by_splitting_and_its_neighbours_are_stored(tmp_path: Path) -> None:
    # Given: 7 events, the fourth one holding a number SQLite cannot store
    sink = SqliteSink(tmp_path / "s.db")
    events = [Event(f"e{i}", {"i": i}, produced_at_ms=1) for i in range(7)]
    events[3] = Event("e3", {"i": 3}, produced_at_ms=2**70)

    # When: they are written as one batch
    outcomes = sink.handle_batch(events)

    # Then: only that event fails (permanently), and the six others are stored
    assert [type(o) if o else None for o in outcomes] == [None] * 3 + [PermanentError] + [None] * 3
    assert sink.count() == 6
    assert sink.inserted == 6
    sink.close()


async def test_an_unexpected_error_in_a_loop_ends_the_worker_non_zero(
    redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a worker whose read loop hits a bug once the history read is done
    add_events(client, 3)
    real_read = group_io.read_batch

    async def read_batch(*args: object, **kwargs: object) -> object:
        if kwargs.get("start") == ">":
            raise RuntimeError("a bug in the read loop")
        return await real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(group_io, "read_batch", read_batch)
    settings = settings_for(redis_url)
    executor = ThreadPoolExecutor(2)
    aclient = async_client(settings.redis)
    runner = Runner(settings, wrap(lambda event: None, executor), aclient, executor)

    # When: it runs
    try:
        code = await asyncio.wait_for(runner.run(), 15)
    finally:
        await aclient.aclose()
        executor.shutdown(wait=False)

    # Then: the process would exit 1 (so systemd or Kubernetes restarts it), not live on
    assert code == 1


async def test_entries_finished_before_a_loop_fails_are_acknowledged_not_released(
    redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: an acknowledger that never flushes on its own, and a read loop that fails once
    # three handled entries wait for their XACK
    add_events(client, 3)
    handled: list[str] = []
    real_read = group_io.read_batch
    reads = 0

    async def never_flush(self: AckBuffer) -> None:
        await asyncio.Event().wait()

    async def read_batch(*args: object, **kwargs: object) -> object:
        nonlocal reads
        if kwargs.get("start") == ">":
            reads += 1
            if reads > 1:
                await wait_async(lambda: len(handled) == 3, what="3 handled")
                raise RuntimeError("a bug in the read loop")
        return await real_read(*args, **kwargs)  # type: ignore[arg-type]

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    monkeypatch.setattr(AckBuffer, "run", never_flush)
    monkeypatch.setattr(group_io, "read_batch", read_batch)
    settings = settings_for(redis_url)
    executor = ThreadPoolExecutor(2)
    aclient = async_client(settings.redis)
    runner = Runner(settings, wrap(handle, executor), aclient, executor)

    # When: it runs and the loop fails
    try:
        code = await asyncio.wait_for(runner.run(), 15)
    finally:
        await aclient.aclose()
        executor.shutdown(wait=False)

    # Then: exit 1, and the three finished entries are acknowledged, not released
    assert code == 1
    assert sorted(handled) == ["e0", "e1", "e2"]
    assert int(client.xpending(STREAM, GROUP)["pending"]) == 0
    assert runner.stats.acked == 3
    assert runner.stats.released == 0
