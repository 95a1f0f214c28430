"""The Producer on a real redis-server: memory policy, OOM, reconnects, tracing, rejects."""

from __future__ import annotations

import logging

import pytest
import redis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingest.codec import Event
from ingest.errors import ConfigError, EventTooLarge
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from ingest.streams import parse_entries

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def make(url: str, client: redis.Redis | None = None, sleep=None, **kwargs) -> Producer:
    settings = ProducerSettings(redis=RedisSettings(url, connect_timeout_s=5), **kwargs)
    client = client or redis.Redis.from_url(url, decode_responses=True)
    if sleep is None:
        return Producer(client, settings)
    return Producer(client, settings, sleep=sleep)


def events(n: int, prefix: str = "e") -> list[Event]:
    return [Event(f"{prefix}:{i}", {"i": i}, source="t") for i in range(n)]


def test_allkeys_policy_is_refused_at_start(make_redis_server):
    server = make_redis_server(extra=["--maxmemory-policy", "allkeys-lru"])
    with pytest.raises(ConfigError, match=r"allkeys-lru.*--allow-eviction"):
        make(server.url).prepare()


def test_allkeys_policy_allowed_with_a_loud_warning(make_redis_server, caplog):
    server = make_redis_server(extra=["--maxmemory-policy", "allkeys-lru"])
    producer = make(server.url, allow_eviction=True)
    with caplog.at_level(logging.WARNING, logger="ingest.preflight"):
        producer.send_many(events(3))
        producer.close()
    assert producer.stats.produced == 3
    assert any("MAY EVICT THE STREAM" in r.getMessage() for r in caplog.records)


def test_oom_reply_is_backpressure_not_a_crash_or_a_drop(make_redis_server):
    # Given a server already above its maxmemory under noeviction
    server = make_redis_server(extra=["--maxmemory-policy", "noeviction"])
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # memory is freed while the producer waits
        waits.append(seconds)
        admin.config_set("maxmemory", 0)

    producer = make(server.url, batch_size=10, sleep=sleep)
    producer.prepare()
    admin.config_set("maxmemory", 1)
    # When a batch is sent, Then it waits once and then lands whole
    producer.send_many(events(10))
    assert producer.stats.oom_waits == 1
    assert producer.stats.blocks == 1
    assert len(waits) == 1
    assert admin.xlen(STREAM) == 10
    admin.close()


def test_connection_loss_resends_the_batch_after_a_restart(make_redis_server):
    server = make_redis_server()
    restarted: list[bool] = []

    def sleep(seconds: float) -> None:
        if not restarted:
            server.start()  # persistence is off: the function is gone and gets reloaded
            restarted.append(True)

    producer = make(server.url, batch_size=5, sleep=sleep)
    producer.send_many(events(5, "before"))
    server.stop()
    producer.send_many(events(5, "after"))
    assert producer.stats.retries >= 1
    check = redis.Redis.from_url(server.url, decode_responses=True)
    ids = [e.fields["event_id"] for e in parse_entries(check.xrange(STREAM)) if e.fields]
    check.close()
    assert ids == [f"after:{i}" for i in range(5)]


def test_too_large_payload_is_rejected_with_a_clear_error(redis_url, client):
    producer = make(redis_url, client, max_event_bytes=100)
    with pytest.raises(EventTooLarge, match="above --max-event-bytes=100"):
        producer.send(Event("big", "x" * 200))
    rejected: list[str] = []
    accepted = producer.send_many(
        [Event("ok", "small"), Event("big", "x" * 200)],
        on_reject=lambda event, exc: rejected.append(event.event_id),
    )
    producer.close()
    assert (accepted, rejected, producer.stats.rejected) == (1, ["big"], 1)
    assert [f["event_id"] for _, f in client.xrange(STREAM)] == ["ok"]


def test_one_span_per_batch_and_trace_context_in_every_entry(redis_url, client):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = ProducerSettings(redis=RedisSettings(redis_url), batch_size=5)
    producer = Producer(client, settings, tracer_provider=provider)
    producer.send_many(events(10))
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["ingest.produce", "ingest.produce"]
    attrs = spans[0].attributes or {}
    assert attrs["messaging.operation.type"] == "send"
    assert attrs["messaging.destination.name"] == STREAM
    assert attrs["messaging.batch.message_count"] == 5
    trace_ids = {f"{s.context.trace_id:032x}" for s in spans}
    parents = [f["traceparent"].split("-")[1] for _, f in client.xrange(STREAM)]
    assert len(parents) == 10
    assert set(parents) == trace_ids


def test_no_trace_fields_when_tracing_is_off(redis_url, client):
    producer = make(redis_url, client, batch_size=5)
    producer.send_many(events(5))
    assert all("traceparent" not in f for _, f in client.xrange(STREAM))


def test_unsampled_batches_still_carry_their_context_with_the_sampled_bit_off(redis_url, client):
    # Given: tracing on, but the sampler drops every trace
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = ProducerSettings(redis=RedisSettings(redis_url), batch_size=5)
    producer = Producer(client, settings, tracer_provider=provider)

    # When: a batch is sent
    producer.send_many(events(5))
    producer.flush()

    # Then: no span is exported, yet every entry carries a traceparent whose flags say "not
    # sampled", so a worker's parent-based sampler drops its spans too (no orphan traces)
    assert exporter.get_finished_spans() == ()
    parents = [f["traceparent"] for _, f in client.xrange(STREAM)]
    assert len(parents) == 5
    assert all(int(p.rsplit("-", 1)[1], 16) & 0x01 == 0 for p in parents)  # sampled bit off
