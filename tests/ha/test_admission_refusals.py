"""Refusals inside the admission loop itself (in-process producer, real server).

The CLI tests (``test_refusal_waits.py``) meet most refusals at start; these reach the
admission call: ``NOREPLICAS`` there is backpressure (the gate closes, the wait counts against
``--max-block``, the timeout names it), and a ``READONLY`` answer makes the producer drop its
connections and send again.
"""

from __future__ import annotations

import logging

import pytest

from ingest.blocked import Blocked
from ingest.codec import Event
from ingest.connection import sync_client
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def events(n: int, start: int = 0) -> list[Event]:
    return [Event(f"e:{i}", {"i": i}, source="t") for i in range(start, start + n)]


def test_noreplicas_in_the_admission_call_blocks_then_names_it(make_redis_server, caplog):
    # Given: a ready producer, then Redis wants a replica in sync and has none
    server = make_redis_server()
    settings = ProducerSettings(
        redis=RedisSettings(server.url, connect_timeout_s=5), batch_size=10, max_block_s=0.3
    )
    producer = Producer(sync_client(settings.redis), settings)
    producer.prepare()
    with server.client() as admin:
        admin.config_set("min-replicas-to-write", 1)
    # When: a batch is offered
    with caplog.at_level(logging.INFO, logger="ingest.admitting"), pytest.raises(Blocked) as got:
        producer.send_many(events(10))
    producer.client.close()
    # Then: backpressure for --max-block, a log line and a timeout naming NOREPLICAS
    assert got.value.reason == "noreplicas"
    assert "NOREPLICAS" in str(got.value)
    assert producer.stats.replica_waits >= 1
    assert producer.stats.blocks == 1
    assert producer.stats.produced == 0
    assert any("Redis refuses writes: NOREPLICAS" in r.getMessage() for r in caplog.records)


def test_noreplicas_clears_and_the_batch_lands_once(make_redis_server):
    # Given: a ready producer whose waits lift the refusal after three of them
    server = make_redis_server()
    admin = server.client(decode_responses=True)
    settings = ProducerSettings(redis=RedisSettings(server.url, connect_timeout_s=5), batch_size=10)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            admin.config_set("min-replicas-to-write", 0)

    producer = Producer(sync_client(settings.redis), settings, sleep=sleep)
    producer.prepare()
    admin.config_set("min-replicas-to-write", 1)
    # When: ten events are sent
    producer.send_many(events(10))
    producer.client.close()
    # Then: admitted after the waits, once
    assert len(waits) >= 3
    assert producer.stats.produced == 10
    assert admin.xlen(STREAM) == 10
    admin.close()
