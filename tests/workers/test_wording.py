"""Log wording a human reads: counts in the right number, and what ``released`` means."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis

from ingest.codec import Event
from tests.workers.util import add_events, running, settings_for, wait_async
from workers.errors import PermanentError
from workers.wording import agree, plural


def test_plural_matches_the_count() -> None:
    assert plural(1, "delivery", "deliveries") == "1 delivery"
    assert plural(0, "delivery", "deliveries") == "0 deliveries"
    assert plural(2, "attempt") == "2 attempts"


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_dead_letter_after_one_delivery_says_delivery(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async def reject(event: Event) -> None:
        raise PermanentError("bad reading")

    add_events(client, 1)
    caplog.set_level(logging.INFO, logger="workers")
    async with running(settings_for(redis_url), reject) as runner:
        await wait_async(lambda: runner.stats.dead_lettered == 1, what="dead-lettered")

    [line] = _messages(caplog, "dead-lettered entry")
    assert " after 1 delivery: " in line
    assert "deliveries" not in line


async def test_exit_summary_explains_released_entries(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: five slots busy with handlers that never finish
    never = asyncio.Event()

    async def stuck(event: Event) -> None:
        await never.wait()

    add_events(client, 5)
    caplog.set_level(logging.INFO, logger="workers")
    settings = settings_for(redis_url, concurrency=5, shutdown_timeout_s=0.2)
    # When: the worker stops (the five interrupted at the timeout)
    async with running(settings, stuck) as runner:
        await wait_async(lambda: runner.stats.read == 5 and runner.stats.in_flight == 5)

    # Then: the summary counts them and says they are handed back, not lost
    assert runner.stats.released == 5
    [line] = _messages(caplog, "handed back")
    assert line.startswith("5 entries released")
    assert "stay in the pending entries list" in line
    assert "another consumer claims them" in line
    attempts = client.hgetall("{ingest:events}:attempts:workers")
    assert sorted(attempts.values()) == ["1"] * 5  # each delivery interrupted once, not twice
    assert client.xpending("ingest:events", "workers")["pending"] == 5


def test_verb_agrees_with_the_count() -> None:
    assert agree(1, "stays", "stay") == "stays"
    assert agree(2, "stays", "stay") == "stay"
    assert agree(0, "stays", "stay") == "stay"


async def test_one_failed_entry_stays_pending_in_the_singular(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async def down(event: Event) -> None:
        raise ConnectionError("database away")

    add_events(client, 1)
    caplog.set_level(logging.WARNING, logger="workers")
    settings = settings_for(redis_url, retry_attempts=2, max_deliveries=5)
    async with running(settings, down) as runner:
        await wait_async(lambda: runner.stats.failed_attempts == 1, what="failed once")

    [line] = _messages(caplog, "pending (first:")
    assert line.startswith("1 entry failed after 2 attempts and stays pending")


async def test_exit_summary_of_one_released_entry_is_in_the_singular(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    never = asyncio.Event()

    async def stuck(event: Event) -> None:
        await never.wait()

    add_events(client, 1)
    caplog.set_level(logging.INFO, logger="workers")
    settings = settings_for(redis_url, concurrency=1, shutdown_timeout_s=0.2)
    async with running(settings, stuck) as runner:
        await wait_async(lambda: runner.stats.in_flight == 1)

    [line] = _messages(caplog, "handed back")
    assert line.startswith("1 entry released: handed back, not lost. It stays in the pending")
    assert "another consumer claims it," in line
    assert "reads it first" in line
