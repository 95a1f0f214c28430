"""Re-sent batches are idempotent at the stream, logged and counted (real redis-server).

A batch whose first send was applied but whose reply was lost (a dropped connection, a server
paused past the socket timeout) is re-sent; the admission function recognises it by the
producer's id and the batch's sequence number and answers with the IDs it gave the first time.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter

import pytest
import redis

from ingest import admission
from ingest.admission import BatchId
from ingest.codec import Event
from ingest.connection import sync_client
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from ingest.streams import parse_entries
from tests.helpers import wait_for
from tests.ingest.proxy import LossyProxy

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def event_ids(client: redis.Redis) -> list[str]:
    return [e.fields["event_id"] for e in parse_entries(client.xrange(STREAM)) if e.fields]


def events(n: int, start: int = 0) -> list[Event]:
    return [Event(f"e:{i}", {"i": i}, source="t") for i in range(start, start + n)]


def test_the_function_answers_a_repeated_batch_with_its_first_ids(client):
    admission.ensure_loaded(client)
    batch = [{"k": "a"}, {"k": "b"}]
    first = admission.admit(
        client, STREAM, batch, maxlen=100, limit=100, batch=BatchId("p1", 1, 60_000)
    )
    again = admission.admit(
        client, STREAM, batch, maxlen=100, limit=100, batch=BatchId("p1", 1, 60_000)
    )
    assert (again.admitted, again.reason) == (True, "repeat")
    assert (again.first_id, again.last_id) == (first.first_id, first.last_id)
    assert client.xlen(STREAM) == 2
    # Another producer, or the next batch, is new
    admission.admit(client, STREAM, batch, maxlen=100, limit=100, batch=BatchId("p2", 1, 60_000))
    admission.admit(client, STREAM, batch, maxlen=100, limit=100, batch=BatchId("p1", 2, 60_000))
    assert client.xlen(STREAM) == 6
    # An older batch than the last one admitted is refused, not appended
    with pytest.raises(redis.ResponseError, match="batch 1 is older than batch 2"):
        admission.admit(
            client, STREAM, batch, maxlen=100, limit=100, batch=BatchId("p1", 1, 60_000)
        )
    key = admission.producer_key(STREAM, "p1")
    assert key == "{ingest:events}:producer:p1"
    assert 0 < client.pttl(key) <= 60_000


def test_a_lost_reply_is_re_sent_once_logged_counted_and_not_appended_twice(
    redis_server, redis_url, client, caplog
):
    # Given: a producer reaching Redis through a proxy that will lose one admission reply
    proxy = LossyProxy(redis_server.port)
    settings = ProducerSettings(redis=RedisSettings(proxy.url, connect_timeout_s=5), batch_size=10)
    producer_client = sync_client(settings.redis)
    producer = Producer(producer_client, settings)
    try:
        producer.send_many(events(10))
        proxy.lose_reply_of(b"ingest_admit")
        # When: the second batch lands but its reply is lost, then a third batch follows
        with caplog.at_level(logging.WARNING, logger="ingest.admitting"):
            producer.send_many(events(20, 10))
    finally:
        producer_client.close()
        proxy.close()
    # Then: every event is in the stream once, and the re-send was logged with its cause
    assert proxy.lost == 1
    assert Counter(event_ids(client)) == Counter(f"e:{i}" for i in range(30))
    assert (producer.stats.produced, producer.stats.retries, producer.stats.repeats) == (30, 1, 10)
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("re-sending batch 2 (10 entries) to ingest:events") and "ConnectionError" in m
        for m in messages
    )
    assert any("batch 2 (10 entries) was already in ingest:events" in m for m in messages)


@pytest.mark.slow
def test_a_paused_server_does_not_get_a_batch_twice(make_redis_server, caplog):
    # Given: a producer with a short socket timeout sending 20,000 events in a thread
    server = make_redis_server()
    settings = ProducerSettings(
        redis=RedisSettings(server.url, connect_timeout_s=10, socket_timeout_s=0.5),
        maxlen=100_000,
        high_water=50_000,
        batch_size=500,
    )
    producer_client = sync_client(settings.redis)
    producer = Producer(producer_client, settings)
    check = redis.Redis.from_url(server.url, decode_responses=True)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            producer.send_many(events(20_000))
            producer.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    sender = threading.Thread(target=produce, daemon=True)
    with caplog.at_level(logging.WARNING, logger="ingest.admitting"):
        sender.start()
        wait_for(lambda: check.xlen(STREAM) >= 2_000, 20, what="the producer started")
        # When: Redis is paused (SIGSTOP) until the producer has timed out and re-sent
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: producer.stats.retries >= 1, 20, what="a re-send")
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        sender.join(timeout=60)
    producer_client.close()
    # Then: each event once, the re-send counted and logged with its cause
    assert not sender.is_alive()
    assert errors == []
    ids = event_ids(check)
    check.close()
    assert len(ids) == len(set(ids)) == producer.stats.produced == 20_000
    assert producer.stats.retries >= 1
    assert any("after TimeoutError" in r.getMessage() for r in caplog.records)
