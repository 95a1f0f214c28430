"""The one admit-and-wait (``ingest.admitting.Admitter``) as a replay would use it (real server).

Batches of field dicts in, their entry IDs out; it waits on backpressure with an injected
sleep and clock, reloads a flushed function, names what blocks when it gives up, and warns at
start when Redis persists nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from ingest.admitting import Admitter
from ingest.backpressure import Limits, Watermarks
from ingest.blocked import Blocked
from ingest.preflight import check_persistence, persists_nothing
from ingest.settings import RedisSettings

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


class FakeTime:
    """A monotonic clock that moves only when the admitter sleeps; runs a hook on each sleep."""

    def __init__(self, on_sleep: Any = None) -> None:
        self.now, self.on_sleep = 0.0, on_sleep
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


def admitter(client: redis.Redis, url: str, fake: FakeTime, **limits: Any) -> Admitter:
    marks = Watermarks(limits.pop("high", 10), limits.pop("low", 5))
    return Admitter(
        client,
        STREAM,
        Limits(limits.pop("maxlen", 100), marks, **limits),
        redis=RedisSettings(url),
        sleep=fake.sleep,
        clock=fake.clock,
    )


def test_a_batch_of_field_dicts_comes_back_with_its_entry_ids(client, redis_url):
    fields = [{"event_id": f"d:{n}", "data": "{}"} for n in range(3)]
    result = admitter(client, redis_url, FakeTime()).admit(fields)
    added = client.xrange(STREAM, result.first_id, result.last_id)
    assert [f["event_id"] for _, f in added] == ["d:0", "d:1", "d:2"]


def test_it_waits_on_backpressure_until_the_low_water_mark(client, redis_url):
    # Given: a group 12 entries behind, above the high-water mark of 10
    for n in range(12):
        client.xadd(STREAM, {"n": str(n)})
    client.xgroup_create(STREAM, "workers", id="0")

    def consume_some() -> None:  # the group reads and acknowledges 4 entries per wait
        reply: Any = client.xreadgroup("workers", "w", {STREAM: ">"}, count=4)
        if reply:
            client.xack(STREAM, "workers", *[entry_id for entry_id, _ in reply[0][1]])

    fake = FakeTime(consume_some)
    gate = admitter(client, redis_url, fake, max_block_s=5)
    # When: a batch is offered
    result = gate.admit([{"n": "new"}])
    # Then: it waited twice (12 -> 8 -> 4 <= 5), as one episode, and was admitted
    assert result.admitted
    assert len(fake.slept) == 2
    assert (gate.stats.blocks, gate.stats.batches) == (1, 1)
    assert gate.stats.blocked_s == pytest.approx(sum(fake.slept))


def test_a_flushed_function_is_loaded_again(client, redis_url):
    gate = admitter(client, redis_url, FakeTime())
    gate.admit([{"n": "1"}])
    client.function_flush()
    assert gate.admit([{"n": "2"}]).admitted
    assert client.xlen(STREAM) == 2


def test_giving_up_names_the_group_that_holds_the_backlog(client, redis_url):
    for n in range(20):
        client.xadd(STREAM, {"n": str(n)})
    client.xgroup_create(STREAM, "reports", id="0")
    gate = admitter(client, redis_url, FakeTime(), max_block_s=1)
    with pytest.raises(Blocked) as raised:
        gate.admit([{"n": "x"}])
    assert raised.value.reason == "high-water"
    text = str(raised.value)
    assert text.startswith("backpressure: backlog 20 entries did not fall to the low-water mark 5")
    assert "held by consumer group: 'reports': backlog 20 (20 undelivered, 0 pending)" in text
    assert "python -m ingest.groups delete NAME --stream ingest:events" in text


def test_a_cap_refusal_says_the_groups_pin_the_stream(client, redis_url):
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    gate = admitter(client, redis_url, FakeTime(), maxlen=10, high=10, low=5, max_block_s=0)
    gate.admit([{"n": str(n)} for n in range(5)])
    client.xreadgroup("workers", "w", {STREAM: ">"}, count=5)  # pending, never acknowledged
    with pytest.raises(Blocked) as raised:
        gate.admit([{"n": str(n)} for n in range(6)])
    assert raised.value.reason == "cap"
    assert "no room under the cap (10 entries) without trimming entries" in str(raised.value)


def test_a_server_that_persists_nothing_is_warned_about(make_redis_server, caplog):
    assert persists_nothing({"appendonly": "no", "save": ""})
    assert not persists_nothing({"appendonly": "no", "save": "3600 1"})
    assert not persists_nothing({"appendonly": "yes", "save": ""})
    bare, aof = make_redis_server(), make_redis_server(appendonly=True)
    with caplog.at_level(logging.WARNING, logger="ingest.preflight"):
        for server, expected in ((bare, False), (aof, True)):
            checked = redis.Redis.from_url(server.url, decode_responses=True)
            assert check_persistence(checked) is expected
            checked.close()
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert "Redis persists nothing" in warned[0]
    assert "enable AOF" in warned[0]
