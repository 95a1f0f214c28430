"""A batch call that fails as a whole (raises, or breaks the return contract) names no
culprit: its events are re-run one by one, and only an error for one event settles that
event. Real redis-server."""

from __future__ import annotations

import logging

import pytest
import redis

from ingest.codec import Event
from tests.workers.util import (
    GROUP,
    STREAM,
    add_events,
    dead_letters,
    running,
    settings_for,
    wait_async,
)
from workers import PermanentError
from workers.handlers import BatchContractError, BatchFailure, batch_handler, check_outcomes

ATTEMPTS_KEY = "{ingest:events}:attempts:workers"


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def test_permanent_error_raised_by_a_batch_dead_letters_only_its_event(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: 5 events and a batch handler whose loop raises PermanentError at the 2nd
    calls: list[list[str]] = []
    stored: set[str] = set()

    @batch_handler
    def write(events: list[Event]) -> None:
        calls.append([e.event_id for e in events])
        for event in events:
            if event.event_id == "e1":
                raise PermanentError("no temperature")
            stored.add(event.event_id)

    add_events(client, 5)

    # When: a worker runs it
    async with running(settings_for(redis_url), write) as runner:
        await wait_async(
            lambda: runner.stats.acked == 4 and runner.stats.dead_lettered == 1, what="settled"
        )

    # Then: the batch came in one call, then each event alone; 4 stored and acked, and only
    # e1 dead-lettered, as permanent
    assert calls[0] == [f"e{i}" for i in range(5)]
    assert sorted(calls[1:]) == [[f"e{i}"] for i in range(5)]
    assert stored == {"e0", "e2", "e3", "e4"}
    assert (runner.stats.acked, runner.stats.dead_lettered) == (4, 1)
    [(_, fields)] = dead_letters(client)
    assert (fields["event_id"], fields["dead_reason"]) == ("e1", "permanent")
    assert fields["dead_error_type"] == "PermanentError"
    assert _pending(client) == 0


async def test_a_raising_batch_is_re_run_per_event_even_without_retries(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a batch handler that fails (transient-looking) whenever e2 is in its batch
    @batch_handler
    def write(events: list[Event]) -> None:
        if any(e.event_id == "e2" for e in events):
            raise ValueError("e2 does not fit")

    add_events(client, 4)

    # When: a worker with a single attempt per delivery runs it
    settings = settings_for(redis_url, retry_attempts=1, max_deliveries=5)
    async with running(settings, write) as runner:
        await wait_async(
            lambda: runner.stats.acked == 3 and runner.stats.failed_attempts == 1,
            what="settled",
        )

    # Then: its neighbours are acked; only e2 has a failed attempt and stays pending
    assert runner.stats.dead_lettered == 0
    [entry] = client.xpending_range(STREAM, GROUP, "-", "+", 10)
    assert client.hgetall(ATTEMPTS_KEY) == {entry["message_id"]: "1"}
    assert dead_letters(client) == []


async def test_wrong_length_return_is_logged_once_and_events_are_re_run(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: a batch handler that always returns one outcome, whatever the batch size
    calls: list[int] = []

    @batch_handler
    def write(events: list[Event]) -> list[BaseException | None]:
        calls.append(len(events))
        return [None]

    add_events(client, 3)
    caplog.set_level(logging.ERROR, logger="workers")

    # When: a worker reads the 3 events as one batch
    async with running(settings_for(redis_url), write) as runner:
        await wait_async(lambda: runner.stats.acked == 3, what="acked")

    # Then: one ERROR names the handler and what it returned; each event ran alone and
    # succeeded; nothing was retried or dead-lettered
    assert calls == [3, 1, 1, 1]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "batch handler" in errors[0] and "write" in errors[0]
    assert "returned [None] (1 items) for 3 events" in errors[0]
    assert (runner.stats.retried, runner.stats.dead_lettered) == (0, 0)
    assert _pending(client) == 0


async def test_returning_booleans_is_a_handler_bug_not_a_permanent_error(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: a batch handler returning True per event (not None or an exception)
    @batch_handler
    def write(events: list[Event]) -> list[bool]:
        return [True] * len(events)

    add_events(client, 3)
    caplog.set_level(logging.ERROR, logger="workers")

    # When: a worker with 2 attempts runs it
    settings = settings_for(redis_url, retry_attempts=2, max_deliveries=5)
    async with running(settings, write) as runner:
        await wait_async(lambda: runner.stats.failed_attempts == 3, what="failed attempts")

    # Then: nothing is dead-lettered "permanent" with error "True": each event was re-run
    # and retried, failed once, and stays pending; one ERROR line for the batch
    assert (runner.stats.acked, runner.stats.dead_lettered) == (0, 0)
    assert runner.stats.retried == 3
    assert dead_letters(client) == []
    assert _pending(client) == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "returned [True, True, True] (3 items) for 3 events" in errors[0]


def test_return_contract() -> None:
    boom = ValueError("x")
    assert check_outcomes(None, 2, "h") == [None, None]
    assert check_outcomes((None, boom), 2, "h") == [None, boom]
    bads: list[object] = [
        [True, None],
        [None],
        (x for x in [None, None]),
        "ab",
        [ValueError, None],
        {},
    ]
    for bad in bads:
        failure = check_outcomes(bad, 2, "mod:h")
        assert isinstance(failure, BatchFailure), bad
        assert isinstance(failure.cause, BatchContractError)
        assert failure.contract_broken
        assert "batch handler mod:h returned" in str(failure.cause)
