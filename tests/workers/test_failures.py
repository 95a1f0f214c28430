"""A failing task ends the worker; a bad event in a sink batch does not hold back its batch;
the entries of a failed slot count a crash, the others are released at once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

from ingest.codec import Event
from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.streams import EntryId
from tests.workers.util import GROUP, STREAM, add_events, settings_for, wait_async
from workers import PermanentError
from workers.handlers import wrap
from workers.redis_io import StreamIO
from workers.rows import EntryLimits, Row
from workers.runner import Runner
from workers.settings import WorkerSettings
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


class ScriptedIO(StreamIO):
    """The real commands, with a hook before each new read and each acknowledgement."""

    def __init__(self, settings: WorkerSettings, client: Any) -> None:
        super().__init__(
            client, StreamKeys(STREAM), GROUP, settings.consumer, EntryLimits(10**6, 100)
        )
        self.before_read: Any = None
        self.before_ack: Any = None

    async def read_new(self, count: int) -> list[Row]:
        if self.before_read is not None:
            await self.before_read()
        return await super().read_new(count)

    async def ack(self, ids: Any, records: Any) -> int:
        if self.before_ack is not None:
            await self.before_ack()
        return await super().ack(ids, records)


async def _run(
    settings: WorkerSettings, handler: Any, io_hooks: dict[str, Any]
) -> tuple[int, Runner]:
    executor = ThreadPoolExecutor(2)
    aclient = async_client(settings.redis)
    io = ScriptedIO(settings, aclient)
    for name, hook in io_hooks.items():
        setattr(io, name, hook)
    runner = Runner(settings, wrap(handler, executor), aclient, executor, io=io)
    try:
        code = await asyncio.wait_for(runner.run(), 15)
    finally:
        await aclient.aclose()
        executor.shutdown(wait=False)
    return code, runner


async def test_an_unexpected_error_in_a_loop_ends_the_worker_non_zero(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a worker whose read loop hits a bug once the history read is done
    add_events(client, 3)

    async def bug() -> None:
        raise RuntimeError("a bug in the read loop")

    # When: it runs
    code, _ = await _run(settings_for(redis_url), lambda event: None, {"before_read": bug})

    # Then: the process would exit 1 (so systemd or Kubernetes restarts it), not live on
    assert code == 1


async def test_entries_finished_before_a_loop_fails_are_acknowledged_not_released(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: an acknowledgement that hangs the first time, and a read loop that fails once
    # three handled entries wait for their XACK (the hook: a seam at the Redis commands)
    add_events(client, 3)
    handled: list[str] = []
    reads = 0
    hang = asyncio.Event()

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    async def before_read() -> None:
        nonlocal reads
        reads += 1
        if reads > 1:
            await wait_async(lambda: len(handled) == 3 and hang.is_set(), what="3 handled")
            raise RuntimeError("a bug in the read loop")

    async def before_ack() -> None:
        if not hang.is_set():
            hang.set()
            await asyncio.Event().wait()  # cancelled by the abort

    hooks = {"before_read": before_read, "before_ack": before_ack}
    settings = settings_for(redis_url, concurrency=3)

    # When: it runs and the loop fails
    code, runner = await _run(settings, handle, hooks)

    # Then: exit 1, and the three finished entries are acknowledged, not released
    assert code == 1
    assert sorted(handled) == ["e0", "e1", "e2"]
    assert int(client.xpending(STREAM, GROUP)["pending"]) == 0
    assert runner.stats.acked == 3
    assert runner.stats.released == 0


async def test_a_failed_slot_releases_its_entry_as_crashed_and_the_others_at_once(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: four entries in four slots; the handler of e0 breaks its slot (a BaseException
    # that is not an Exception escapes the handler wrapper), the other three wait
    ids = add_events(client, 4)
    release = asyncio.Event()

    class Broken(BaseException):
        pass

    async def handle(event: Event) -> None:
        if event.event_id == "e0":
            await wait_async(lambda: len(started) == 3, what="three others running")
            raise Broken("slot bug")
        started.append(event.event_id)
        await release.wait()

    started: list[str] = []
    settings = settings_for(redis_url, concurrency=4, shutdown_timeout_s=0.2)

    # When: it runs
    code, runner = await _run(settings, handle, {})

    # Then: exit 1; all four are handed back at once (idle time a year), the three innocent
    # ones counted as interrupted, e0 not (its next delivery counts a crash)
    assert code == 1
    rows = {r["message_id"]: r for r in client.xpending_range(STREAM, GROUP, "-", "+", 10)}
    assert set(rows) == set(ids)
    assert all(int(r["time_since_delivered"]) > 10**9 for r in rows.values())
    attempts = client.hgetall(StreamKeys(STREAM).attempts(GROUP))
    assert attempts == {f"{EntryId(i)}:i": "1" for i in ids[1:]}
    assert runner.stats.acked == 0
