"""NOGROUP and a deleted stream on the less travelled paths, against the real redis-server."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.streams import EntryId
from tests.workers.util import GROUP, STREAM, add_events, settings_for
from workers.acks import AckQueue
from workers.burst import BurstCheck
from workers.errors import GroupMissingError
from workers.ledger import Ledger
from workers.redis_io import StreamIO
from workers.rows import EntryLimits, Row
from workers.settlement import Report
from workers.stats import Hooks, Stats
from workers.tracing import DeliveryTracer
from workers.verdict import Limits


def _io(aclient: redis.asyncio.Redis) -> StreamIO:
    return StreamIO(aclient, StreamKeys(STREAM), GROUP, "me", EntryLimits(10**6, 100))


@pytest.mark.parametrize("call", ["history", "claim", "release"])
async def test_every_entry_command_on_a_missing_group_raises_group_missing(
    redis_url: str, client: redis.Redis, call: str
) -> None:
    # Given: a stream whose group is gone
    ids = add_events(client, 1)
    aclient = async_client(settings_for(redis_url).redis)
    io = _io(aclient)
    try:
        # When/Then: each command raises the loops' NOGROUP error
        with pytest.raises(GroupMissingError):
            if call == "history":
                await io.read_history("0", 10)
            elif call == "claim":
                await io.claim("0-0", 10, 0)
            else:
                await io.release([EntryId(ids[0])], interrupted=True)
    finally:
        await aclient.aclose()


async def test_burst_check_on_a_deleted_stream_is_not_finished(redis_url: str) -> None:
    # Given: no stream at all (deleted under the worker)
    settings = settings_for(redis_url, burst=True)
    aclient = async_client(settings.redis)
    try:
        # When/Then: not finished, and no crash
        io = StreamIO.for_settings(aclient, settings)
        assert await BurstCheck(aclient, settings, io).finished() is False
    finally:
        await aclient.aclose()


async def test_shutdown_releases_on_a_missing_group_log_and_go_on(
    redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: a ledger holding a delivery, and its group deleted
    ids = add_events(client, 1)
    aclient = async_client(settings_for(redis_url).redis)
    stats = Stats()
    ledger = Ledger(
        _io(aclient),
        Limits(),
        Report(stats, Hooks()),
        DeliveryTracer(STREAM, GROUP, "me"),
        retry_attempts=1,
        acks=AckQueue(),
    )
    fields: Any = client.xrange(STREAM)[0][1]  # type: ignore[index]
    [delivery] = await ledger.admit([Row(EntryId(ids[0]), fields)], claimed=False)
    caplog.set_level(logging.WARNING, logger="workers")
    try:
        # When: both shutdown release steps run
        assert await ledger.release([delivery], "read but not started") is False
        with pytest.raises(GroupMissingError):
            await ledger.release_rest()
    finally:
        await aclient.aclose()

    # Then: nothing counted as released, nothing held, and it was logged
    assert stats.released == 0
    assert ledger.held_count == 0
    assert "could not release" in caplog.text
