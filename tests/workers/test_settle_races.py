"""Races around holding, releasing and settling entries, against the real redis-server."""

from __future__ import annotations

import pytest
import redis

from ingest.codec import Event
from tests.workers.util import GROUP, STREAM, add_events, running, settings_for, wait_async
from workers import runner as runner_module


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


async def test_claimed_batch_whose_history_load_fails_once_is_still_handled_and_acked(
    redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: an entry pending in a dead consumer, and a history load that fails once
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 1)
    client.xreadgroup(GROUP, "dead-one", {STREAM: ">"})
    real_load = runner_module.load_history
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

    # When: a worker claims it
    async with running(settings_for(redis_url, min_idle_s=0.0), handle) as runner:
        await wait_async(lambda: runner.stats.acked == 1, what="acked")
        # Then: it is handled once, acknowledged, and nothing stays held
        assert not runner.holding.held
    assert failures == 1
    assert handled == ["e0"]
    assert _pending(client) == 0
