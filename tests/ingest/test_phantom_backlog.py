"""The phantom backlog after a Redis restart from a rewritten AOF (real redis-server, AOF on).

Redis 7.0 restores a group's ``entries-read`` from the AOF rewrite's base, and the replayed
reads after it do not advance it: XINFO GROUPS then reports a lag that does not exist, for
good. The admission function, the stats and the gauges must report the real backlog, and the
producer must not block on the phantom.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from ingest import admission
from ingest import state_gauges as sg
from ingest.codec import Event, encode
from ingest.groups import group_backlogs
from ingest.groupstate import read_state
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from tests.helpers import wait_for

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def append(client: redis.Redis, n: int, start: int) -> None:
    entries = [encode(Event(f"e:{i}", {"i": i}, source="t")) for i in range(start, start + n)]
    assert admission.admit(client, STREAM, entries, maxlen=10_000, limit=10_000).admitted


def consume_all(client: redis.Redis) -> None:
    reply: Any = client.xreadgroup("workers", "c", {STREAM: ">"}, count=10_000)
    client.xack(STREAM, "workers", *[entry_id for entry_id, _ in reply[0][1]])


def rewrite_done(client: redis.Redis) -> bool:
    info: Any = client.info("persistence")
    return bool(info["aof_rewrite_in_progress"] == 0 and info["aof_rewrite_scheduled"] == 0)


def gauge_points(state: Any) -> dict[str, Any]:
    reader = InMemoryMetricReader()
    holder = sg.StateHolder(stream=STREAM, group="workers")
    assert sg.register_state_gauges(holder, meter_provider=MeterProvider(metric_readers=[reader]))
    holder.update(state)
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric.data.data_points[0].value  # type: ignore[union-attr]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name.startswith("ingest.group.")
    }


@pytest.fixture
def phantom(make_redis_server) -> Any:
    """A server restarted from a rewritten AOF: 30 entries really undelivered, Redis says 230."""
    server = make_redis_server(appendonly=True)
    client = redis.Redis.from_url(server.url, decode_responses=True)
    admission.ensure_loaded(client)
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    append(client, 300, 0)
    consume_all(client)
    client.bgrewriteaof()
    wait_for(lambda: rewrite_done(client), 20, what="the AOF rewrite")
    append(client, 200, 300)
    consume_all(client)  # these reads are replayed from the AOF tail, without the counter
    append(client, 30, 500)
    client.close()
    server.restart()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    yield server, client
    client.close()


def test_stats_gauges_and_admission_report_the_real_backlog_after_an_aof_restart(phantom, caplog):
    server, client = phantom
    # Given: Redis' own counter is wrong (the reproduction of the issue)
    raw = client.xinfo_groups(STREAM)[0]
    assert (raw["lag"], raw["pending"]) == (230, 0)
    # Then: the stats view counts what is really after the last-delivered ID
    group = read_state(client, STREAM).groups[0]
    assert (group.backlog, group.undelivered_source, group.lag_stale) == (30, "counted", True)
    assert group.lag == 230  # Redis' figure is still shown, as Redis' figure
    # And: the gauges report the same
    points = gauge_points(read_state(client, STREAM, consumers=False))
    assert (points["ingest.group.backlog"], points["ingest.group.lag"]) == (30, 30)
    # And: the server's rule agrees, without repairing anything when asked not to
    _, rows, repairs = group_backlogs(client, STREAM)
    assert [(r.undelivered, r.source, r.stale) for r in rows] == [(30, "counted", True)]
    assert repairs == ()
    # When: a producer with a high-water mark of 100 (below the phantom 230) sends 50 events
    settings = ProducerSettings(
        redis=RedisSettings(server.url), maxlen=10_000, high_water=100, max_block_s=0
    )
    producer = Producer(client, settings)
    with caplog.at_level(logging.WARNING, logger="ingest.admitting"):
        producer.send_many(Event(f"n:{i}", {"i": i}, source="t") for i in range(50))
        producer.close()
    # Then: it is not blocked, and the counter is repaired for everyone who reads it (KEDA)
    assert (producer.stats.produced, producer.stats.blocks) == (50, 0)
    assert client.xinfo_groups(STREAM)[0]["lag"] == 80
    assert read_state(client, STREAM).groups[0].lag_stale is False
    warned = [r.getMessage() for r in caplog.records]
    assert any(
        "said 230 entries, 30 are really undelivered" in m and "repaired" in m for m in warned
    )


def test_a_caught_up_group_with_a_phantom_lag_is_zero_and_admits(phantom):
    # Given: the group catches up after the restart (Redis keeps its offset: 200)
    _, client = phantom
    consume_all(client)
    raw = client.xinfo_groups(STREAM)[0]
    assert raw["lag"] == 200
    assert raw["last-delivered-id"] == client.xinfo_stream(STREAM)["last-generated-id"]
    # Then: stats say 0, and a batch is admitted under a high-water mark of 100
    assert read_state(client, STREAM).groups[0].backlog == 0
    result = admission.admit(client, STREAM, [{"k": "v"}], maxlen=10_000, limit=99)
    assert (result.admitted, result.backlog, result.lag_source) == (True, 0, "caught-up")
    assert [(r.group, r.redis_lag, r.undelivered, r.repaired) for r in result.repairs] == [
        ("workers", 200, 0, True)
    ]
    assert client.xinfo_groups(STREAM)[0]["lag"] == 1
