"""The worker in-process against the real redis-server: retries, dead letters, claims, loss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis

from ingest.codec import Event, encode
from tests.workers.util import (
    GROUP,
    STREAM,
    add_events,
    dead_letters,
    running,
    settings_for,
    wait_async,
)
from workers.errors import PermanentError
from workers.handlers import batch_handler
from workers.sinks.sqlite import SqliteSink


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def test_handler_failing_twice_then_succeeding_is_acked_once_with_one_row(
    redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    # Given a sink whose first two writes fail
    sink = SqliteSink(tmp_path / "x.db")
    calls = 0

    @batch_handler
    def flaky(events: list[Event]) -> list[BaseException | None]:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionError("database briefly away")
        return sink.handle_batch(events)

    add_events(client, 1)
    # When a worker with 3 attempts runs it
    async with running(settings_for(redis_url, retry_attempts=3), flaky) as runner:
        await wait_async(lambda: runner.stats.acked == 1, what="acked")
    # Then: acked once, one row, two retries, nothing pending or dead
    assert calls == 3
    assert sink.count() == 1
    assert (runner.stats.acked, runner.stats.retried, runner.stats.dead_lettered) == (1, 2, 0)
    assert _pending(client) == 0
    assert client.hlen("{ingest:events}:attempts:workers") == 0


async def test_permanent_error_is_dead_lettered_without_retries(
    redis_url: str, client: redis.Redis
) -> None:
    calls: list[str] = []

    async def reject(event: Event) -> None:
        calls.append(event.event_id)
        raise PermanentError("unknown sensor")

    add_events(client, 1)
    async with running(settings_for(redis_url, retry_attempts=5), reject) as runner:
        await wait_async(lambda: runner.stats.dead_lettered == 1, what="dead-lettered")

    assert calls == ["e0"]
    [(_, fields)] = dead_letters(client)
    assert fields["dead_reason"] == "permanent"
    assert fields["dead_error"] == "unknown sensor"
    assert fields["event_id"] == "e0"
    assert _pending(client) == 0


async def test_entry_without_payload_is_dead_lettered_on_first_delivery(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: good, broken (no data field), good
    good = encode(Event("g1", {"x": 1}))
    broken = {k: v for k, v in encode(Event("bad", {"x": 2})).items() if k != "data"}
    for fields in (good, broken, encode(Event("g2", {"x": 3}))):
        client.xadd(STREAM, fields)  # type: ignore[arg-type]
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    async with running(settings_for(redis_url), handle) as runner:
        await wait_async(lambda: runner.stats.acked == 2 and runner.stats.dead_lettered == 1)

    assert sorted(handled) == ["g1", "g2"]
    [(_, fields)] = dead_letters(client)
    assert (fields["dead_reason"], fields["dead_delivery_count"]) == ("decode", "1")
    assert fields["event_id"] == "bad"
    assert _pending(client) == 0


async def test_poison_entry_is_delivered_exactly_max_deliveries_times(
    redis_url: str, client: redis.Redis
) -> None:
    calls: list[str] = []

    async def poison(event: Event) -> None:
        calls.append(event.event_id)
        raise RuntimeError("always broken")

    add_events(client, 1)
    # min-idle well above the refresh interval (a quarter of it), as in production
    settings = settings_for(redis_url, max_deliveries=3, retry_attempts=1, min_idle_s=0.3)
    async with running(settings, poison) as runner:
        await wait_async(lambda: runner.stats.dead_lettered == 1, what="dead-lettered")

    assert calls == ["e0"] * 3
    [(_, fields)] = dead_letters(client)
    assert fields["dead_reason"] == "max-deliveries"
    assert fields["dead_error"] == "always broken"
    assert fields["dead_failed_attempts"] == "3"
    assert _pending(client) == 0
    assert client.hlen("{ingest:events}:attempts:workers") == 0


async def test_entry_deleted_while_pending_is_counted_lost_and_not_retried(
    redis_url: str, client: redis.Redis
) -> None:
    # Given a dead consumer holding two entries, one of them deleted since
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    ids = add_events(client, 2)
    client.xreadgroup(GROUP, "dead-one", {STREAM: ">"})
    client.xdel(STREAM, ids[0])
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    async with running(settings_for(redis_url, min_idle_s=0.0), handle) as runner:
        await wait_async(lambda: runner.stats.acked == 1 and runner.stats.lost == 1)
        sweeps = runner.reclaimer.sweeps
        await wait_async(lambda: runner.reclaimer.sweeps >= sweeps + 3, what="more sweeps")
        assert runner.stats.lost == 1

    assert handled == ["e1"]
    assert _pending(client) == 0


async def test_150_pending_entries_of_a_dead_consumer_are_taken_over_at_once(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: 150 entries pending in a consumer with no liveness key (dead), min-idle 60 s
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 150)
    client.xreadgroup(GROUP, "dead-one", {STREAM: ">"})
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    settings = settings_for(redis_url, min_idle_s=60.0, consumer_ttl_s=120.0, read_count=10)
    async with running(settings, handle) as runner:
        # When/Then: they are taken over without waiting for --min-idle, each handled once
        await wait_async(lambda: runner.stats.acked == 150, what="all acked")
        assert runner.stats.taken_over == 150

    assert sorted(handled) == sorted(f"e{i}" for i in range(150))
    assert _pending(client) == 0


async def test_150_idle_entries_of_a_stalled_consumer_are_claimed_in_bounded_sweeps(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: 150 entries pending in a consumer that looks alive (its liveness key is fresh)
    # but stalls
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 150)
    client.xreadgroup(GROUP, "stalled", {STREAM: ">"})
    client.set("{ingest:events}:alive:workers:stalled", "elsewhere:1:1", ex=60)
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    settings = settings_for(redis_url, min_idle_s=0.2, read_count=10)
    async with running(settings, handle) as runner:
        await wait_async(lambda: runner.stats.acked == 150, what="all acked")
        assert runner.stats.claimed == 150
        assert runner.stats.taken_over == 0
        assert runner.reclaimer.sweeps <= 20

    assert sorted(handled) == sorted(f"e{i}" for i in range(150))
    assert _pending(client) == 0


async def test_sink_outage_longer_than_retry_budget_dead_letters_nothing(
    redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    sink = SqliteSink(tmp_path / "x.db")
    down = True

    @batch_handler
    def handle(events: list[Event]) -> list[BaseException | None]:
        if down:
            raise ConnectionError("database down")
        return sink.handle_batch(events)

    add_events(client, 20)
    settings = settings_for(redis_url, retry_attempts=2, max_deliveries=50, min_idle_s=0.2)
    async with running(settings, handle) as runner:
        await wait_async(lambda: runner.stats.failed_attempts >= 40, what="several failed rounds")
        down = False
        await wait_async(lambda: sink.count() == 20, what="all stored")
        await wait_async(lambda: _pending(client) == 0, what="all acked")

    assert runner.stats.dead_lettered == 0
    assert dead_letters(client) == []


async def test_handler_taking_three_min_idle_completes_once_and_is_not_claimed(
    redis_url: str, client: redis.Redis
) -> None:
    calls: list[str] = []

    def slow(event: Event) -> None:
        import time

        calls.append(event.event_id)
        time.sleep(1.5)  # a long, blocking job: 3 x min-idle of 0.5 s

    other_calls: list[str] = []

    async def other(event: Event) -> None:
        other_calls.append(event.event_id)

    add_events(client, 1)
    settings = settings_for(redis_url, min_idle_s=0.5)
    async with running(settings, slow) as first:
        await wait_async(lambda: calls, what="slow handler started")
        second_settings = settings_for(redis_url, min_idle_s=0.5, consumer="second")
        async with running(second_settings, other) as second:
            await wait_async(lambda: first.stats.acked == 1, what="slow handler done")
            assert second.stats.claimed == 0
    assert calls == ["e0"]
    assert other_calls == []


async def test_stream_deleted_under_a_running_worker_recreates_the_group_without_spinning(
    redis_url: str, client: redis.Redis
) -> None:
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    async with running(settings_for(redis_url), handle) as runner:
        client.delete(STREAM)
        await wait_async(lambda: runner.stats.groups_recreated >= 1, what="group recreated")
        before = client.info("commandstats").get("cmdstat_xreadgroup", {}).get("calls", 0)
        await asyncio.sleep(1.0)  # a window to count reads in, not a wait for an outcome
        after = client.info("commandstats").get("cmdstat_xreadgroup", {}).get("calls", 0)
        add_events(client, 1, prefix="after")
        await wait_async(lambda: handled == ["after0"], what="event after deletion handled")
        assert runner.stats.groups_recreated <= 2
    assert after - before < 30


async def test_second_process_with_a_live_consumer_name_is_refused(redis_url: str) -> None:
    import pytest

    from workers.errors import ConsumerNameTaken

    async def handle(event: Event) -> None:
        return None

    settings = settings_for(redis_url, consumer="same")
    async with running(settings, handle):
        # simulate another host holding the name: the key's holder is not provably dead
        c = redis.Redis.from_url(redis_url, decode_responses=True)
        c.set("{ingest:events}:alive:workers:same", "elsewhere:1", ex=30)
        with pytest.raises(ConsumerNameTaken, match="same"):
            async with running(settings, handle):
                pass
        c.close()


async def test_idle_consumers_without_pending_are_removed_but_not_those_with_pending(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a consumer that holds an entry and looks alive (its liveness key is fresh), and
    # an empty one
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1)
    client.xreadgroup(GROUP, "holds-one", {STREAM: ">"}, count=1)
    client.set("{ingest:events}:alive:workers:holds-one", "elsewhere:1:1", ex=60)
    client.xgroup_createconsumer(STREAM, GROUP, "empty")

    async def handle(event: Event) -> None:
        return None

    # min-idle high so the entry is not claimed
    settings = settings_for(redis_url, min_idle_s=30.0, consumer_ttl_s=30.5, claim_interval_s=0.1)
    async with running(settings, handle) as runner:
        # When: consumers idle for 0 ms or more are pruned
        removed = await runner.reclaimer.prune(idle_ms=0)
    # Then: only the empty one goes
    names = {c["name"] for c in client.xinfo_consumers(STREAM, GROUP)}
    assert removed == ["empty"]
    assert "holds-one" in names
    assert "empty" not in names
