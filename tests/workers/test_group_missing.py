"""NOGROUP and a deleted stream on the less travelled paths, against the real redis-server."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.streams import EntryId
from tests.workers.util import GROUP, STREAM, add_events, settings_for
from workers.burst import BurstCheck
from workers.delivery import Delivery
from workers.errors import GroupMissingError
from workers.handlers import wrap
from workers.reclaimer import load_history
from workers.runner import Runner
from workers.supervise import Supervisor


async def test_history_load_on_a_missing_group_raises_group_missing(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a stream whose group is gone
    ids = add_events(client, 1)
    aclient = async_client(settings_for(redis_url).redis)
    delivery = Delivery(entry_id=EntryId(ids[0]), fields={}, event=None)
    try:
        # When/Then: loading the delivery history raises the loops' NOGROUP error
        with pytest.raises(GroupMissingError):
            await load_history(aclient, StreamKeys(STREAM), GROUP, "me", [delivery])
    finally:
        await aclient.aclose()


async def test_burst_check_on_a_deleted_stream_is_not_finished(redis_url: str) -> None:
    # Given: no stream at all (deleted under the worker)
    settings = settings_for(redis_url, burst=True)
    aclient = async_client(settings.redis)
    try:
        # When/Then: not finished, and no crash
        assert await BurstCheck(aclient, settings).finished() is False
    finally:
        await aclient.aclose()


async def test_shutdown_releases_on_a_missing_group_log_and_go_on(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: a runner with a queued delivery, and its group deleted
    ids = add_events(client, 1)
    settings = settings_for(redis_url)
    executor = ThreadPoolExecutor(1)
    aclient = async_client(settings.redis)
    runner = Runner(settings, wrap(lambda event: None, executor), aclient, executor)
    delivery = Delivery(entry_id=EntryId(ids[0]), fields={}, event=None)
    runner.holding.hold([delivery])
    runner.queue.put_nowait(delivery)
    supervisor = Supervisor(runner)
    caplog.set_level(logging.WARNING, logger="workers.supervise")
    try:
        # When: both shutdown release steps run
        await supervisor._release_not_started()
        await supervisor._release_rest()
    finally:
        await aclient.aclose()
        executor.shutdown(wait=False)

    # Then: no exception escaped, nothing counted as released, and it was logged
    assert runner.stats.released == 0
    assert "could not release" in caplog.text
