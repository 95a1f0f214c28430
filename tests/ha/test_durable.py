"""Durable produce (``--min-replicas``): a batch counts only once replicas have it.

The deterministic loss case (``tests/sentinel.py``: replicas cut off, primary SIGKILLed,
replica promoted) shows the difference: without durable produce the batch written meanwhile
is counted produced and lost; with it, it is re-sent to the new primary and either confirmed
there or reported not durable, never counted and lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
import redis

from faults import FaultProxy
from ingest import durable
from ingest.codec import Event
from ingest.connection import sync_client
from ingest.errors import NotDurable
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from ingest.streams import parse_entries
from tests.helpers import wait_for
from tests.redis_server import RedisServer, server_kind
from tests.sentinel import SentinelDeployment

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def events(n: int, start: int = 0) -> list[Event]:
    return [Event(f"e:{i}", {"i": i}, source="t") for i in range(start, start + n)]


def ids_in(client: redis.Redis) -> Counter[str]:
    return Counter(e.fields["event_id"] for e in parse_entries(client.xrange(STREAM)) if e.fields)


def expected(start: int, stop: int) -> Counter[str]:
    return Counter(f"e:{i}" for i in range(start, stop))


def sentinel_producer(deployment: SentinelDeployment, **settings: Any) -> Producer:
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in deployment.sentinel_nodes)
    redis_settings = RedisSettings(
        f"redis+sentinel://{hosts}/{deployment.service}/0", connect_timeout_s=30
    )
    options = ProducerSettings(redis=redis_settings, batch_size=20, **settings)
    return Producer(sync_client(options.redis), options)


def send_aside(producer: Producer, batch: list[Event]) -> tuple[threading.Thread, list[Any]]:
    """A thread (not started) sending ``batch`` (one whole batch); the list gets ``"ok"`` or
    the error."""
    outcome: list[Any] = []

    def send() -> None:
        try:
            producer.send_many(batch)
            outcome.append("ok")
        except Exception as exc:  # the test looks at it
            outcome.append(exc)

    return threading.Thread(target=send, daemon=True), outcome


def on_primary_then_return(thread_start: Any, total: int) -> Any:
    """A ``lose_writes`` callback: the batch lands on the primary (which acknowledges it to
    nobody durable: its replicas are cut off), then the primary may be killed."""

    def write(client: redis.Redis) -> int:
        thread_start()
        wait_for(lambda: client.xlen(STREAM) == total, 15, what="the batch on the primary")
        return total

    return write


@pytest.mark.sentinel
@pytest.mark.slow
def test_without_durable_produce_the_loss_case_counts_a_batch_that_is_lost(make_sentinel):
    # Given: a producer through Sentinel without --min-replicas, two batches in
    deployment = make_sentinel(replicas=1)
    producer = sentinel_producer(deployment)
    producer.send_many(events(40))
    # When: the third batch is acknowledged by a primary whose replica is cut off, then the
    # primary dies and the replica is promoted
    case = deployment.lose_writes(lambda client: producer.send_many(events(20, 40)))
    with case.new_primary.client(decode_responses=True) as check:
        found = ids_in(check)
    producer.client.close()
    # Then: the producer counted 60 produced, the new primary has 40: the loss window
    assert producer.stats.produced == 60
    assert found == expected(0, 40)


@pytest.mark.sentinel
@pytest.mark.slow
def test_durable_produce_reports_the_loss_case_batch_not_durable(make_sentinel):
    # Given: a durable producer (one replica must have each batch), two batches in
    deployment = make_sentinel(replicas=1)
    producer = sentinel_producer(deployment, min_replicas=1, replica_timeout_s=3)
    producer.send_many(events(40))
    thread, outcome = send_aside(producer, events(20, 40))
    # When: the same loss case, the third batch waiting for its replica when the primary dies
    case = deployment.lose_writes(on_primary_then_return(thread.start, 60))
    thread.join(timeout=90)
    with case.new_primary.client(decode_responses=True) as check:
        found = ids_in(check)
    producer.client.close()
    # Then: re-sent to the new primary (once), which has no replica: reported not durable,
    # never counted produced
    assert len(outcome) == 1 and isinstance(outcome[0], NotDurable), outcome
    error = outcome[0]
    assert (error.seq, error.size, error.replicas, error.wanted) == (3, 20, 0, 1)
    assert producer.stats.produced == 40
    assert producer.stats.not_durable == 20
    assert producer.stats.failovers == 1
    assert found == expected(0, 60)


@pytest.mark.sentinel
@pytest.mark.slow
def test_durable_produce_re_sends_the_loss_case_batch_to_the_new_primary(make_sentinel):
    # Given: a durable producer and two replicas, so the new primary has one
    deployment = make_sentinel(replicas=2)
    producer = sentinel_producer(deployment, min_replicas=1, replica_timeout_s=20)
    producer.send_many(events(40))
    thread, outcome = send_aside(producer, events(20, 40))
    # When: the loss case strikes while the third batch waits for a replica
    case = deployment.lose_writes(on_primary_then_return(thread.start, 60))
    thread.join(timeout=90)
    with case.new_primary.client(decode_responses=True) as check:
        found = ids_in(check)
    producer.client.close()
    # Then: the batch was re-sent to the new primary, confirmed by its replica, and is there
    # once: every event counted produced survived
    assert outcome == ["ok"]
    assert producer.stats.produced == 60
    assert producer.stats.failovers == 1
    assert found == expected(0, 60)


def test_a_batch_no_replica_has_exits_5_naming_its_lines(make_redis_server, produce):
    # Given: a primary without replicas
    server = make_redis_server()
    # When: a durable producer runs
    done = produce(server.url, "--synthetic", "30", "--batch-size", "10", "--min-replicas",
                   "1", "--replica-timeout", "0.3").finish()  # fmt: skip
    # Then: exit 5 after the first batch, naming its lines; nothing counted produced
    assert done.code == 5, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.errors()) == 1
    assert done.errors()[0].startswith("error: lines 1-10 of synthetic: batch 1 (10 entries")
    assert "reached only 0 of 1 replica within 300 ms" in done.errors()[0]
    assert done.summary is not None
    assert (done.summary["produced"], done.summary["not_durable"]) == (0, 10)
    assert done.summary["resume_from_line"] == 1


def replica_of(make: Any, primary: RedisServer) -> RedisServer:
    replica: RedisServer = make(extra=["--replicaof", "127.0.0.1", str(primary.port)])
    with replica.client(decode_responses=True) as client:
        wait_for(lambda: client.info("replication")["master_link_status"] == "up", 15)
    return replica


def test_a_re_sent_batch_found_already_in_is_confirmed_on_its_own_connection(
    make_redis_server, make_fault_proxy
):
    """A re-send answered "already in" wrote nothing on its new connection; the producer covers
    it with a write there first, so that WAIT covers the batch by the docs' promise. Here the
    replica never got it: the batch must not be confirmed."""
    # Given: a durable producer reaching a primary through a proxy, its replica linked
    primary = make_redis_server()
    replica = replica_of(make_redis_server, primary)
    proxy: FaultProxy = make_fault_proxy(primary.port)
    settings = ProducerSettings(
        redis=RedisSettings(proxy.url, connect_timeout_s=10), batch_size=10, min_replicas=1,
        replica_timeout_s=0.5,
    )  # fmt: skip
    producer = Producer(sync_client(settings.redis), settings)
    producer.send_many(events(10))
    # When: the replica stops, and the next batch's reply is lost after it landed
    replica.pause()
    try:
        proxy.drop_replies(1)
        with pytest.raises(NotDurable) as caught:
            producer.send_many(events(10, 10))
    finally:
        replica.resume()
    producer.client.close()
    # Then: re-sent once, found in (not appended twice), and not confirmed
    assert producer.stats.retries == 1
    assert caught.value.replicas == 0
    assert producer.stats.produced == 10
    with primary.client(decode_responses=True) as check:
        assert ids_in(check) == expected(0, 20)


def test_waitaof_is_used_where_the_server_has_it(make_redis_server):
    # Given: a primary with AOF on and a replica
    primary = make_redis_server(appendonly=True)
    replica_of(make_redis_server, primary)
    settings = ProducerSettings(
        redis=RedisSettings(primary.url), batch_size=10, min_replicas=1, replica_timeout_s=5
    )
    client = sync_client(settings.redis)
    # When: the producer probes the server and sends a batch
    found = durable.probe(client, 1, 5000)
    producer = Producer(client, settings)
    producer.send_many(events(10))
    client.close()
    # Then: Valkey (and Redis >= 7.2) get WAITAOF for the primary's fsync; Redis 7.0 has none
    assert found.local_fsync is (server_kind() == "valkey")
    assert producer.stats.produced == 10
