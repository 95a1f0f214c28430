"""``TRYAGAIN`` and ``CLUSTERDOWN`` from the session's cluster are waits, never crashes.

The producer here is a plain client of the primary that serves the stream's slot (cluster
routing is the cluster issue's): what is tested is that these two refusals are re-sent with
a log line until the cluster heals, and the batch lands once. The heal happens in the
producer's injected sleep, so it comes right after the first refusal was seen and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import redis

from ingest.codec import Event
from ingest.connection import sync_client
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from tests.cluster import LocalCluster
from tests.cluster_node import ClusterNode
from tests.helpers import wait_for
from tests.redis_server import command

pytestmark = [pytest.mark.redis, pytest.mark.cluster, pytest.mark.slow]

STREAM = "ingest:events"


def events(n: int, start: int = 0) -> list[Event]:
    return [Event(f"e:{i}", {"i": i}, source="t") for i in range(start, start + n)]


def producer_on(node: ClusterNode, sleep: Callable[[float], None]) -> Producer:
    settings = ProducerSettings(
        redis=RedisSettings(f"redis://127.0.0.1:{node.port}/0", connect_timeout_s=30),
        batch_size=10,
    )
    return Producer(sync_client(settings.redis), settings, sleep=sleep)


def healing_sleep(heal: Callable[[], None]) -> tuple[Callable[[float], None], list[float]]:
    """A sleep that heals the cluster before its first wait; returns it and the waits."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        if not waits:
            heal()
        waits.append(seconds)
        time.sleep(seconds)  # the producer's own backoff step

    return sleep, waits


def test_clusterdown_is_waited_out_until_the_cluster_is_whole(cluster: LocalCluster, caplog):
    # Given: a producer on the primary of the stream's slot, one batch in
    node = cluster.primary_for_key(STREAM)
    others = [n for n in cluster.primaries() if n is not node]

    def heal() -> None:
        for other in others:
            cluster.resume(other)

    sleep, waits = healing_sleep(heal)
    producer = producer_on(node, sleep)
    producer.send_many(events(10))
    # When: the other two primaries stop answering, so this node's cluster is down
    for other in others:
        cluster.pause(other)
    wait_for(lambda: node.info().get("cluster_state") == "fail", 20, what="cluster_state fail")
    with caplog.at_level(logging.WARNING, logger="ingest.resending"):
        producer.send_many(events(10, 10))
    producer.client.close()
    # Then: the batch was re-sent with a log line naming CLUSTERDOWN, and landed once
    assert waits, "no re-send"
    assert any("CLUSTERDOWN" in r.getMessage() for r in caplog.records)
    assert producer.stats.produced == 20
    assert node.admin.xlen(STREAM) == 20


def test_tryagain_during_a_split_slot_is_waited_out(cluster: LocalCluster, caplog):
    # Given: one batch in, so the stream and the producer's key exist on the slot's primary
    source = cluster.primary_for_key(STREAM)
    target = next(n for n in cluster.primaries() if n is not source)
    slot = cluster.slot_of(STREAM)
    migration = cluster.migrate_slot(slot, target)

    def heal() -> None:
        # End the migration on the source (else it redirects the key back with ASK), take
        # the stream back from the importing node (ASKING lets it run MIGRATE on a key of a
        # slot it does not serve), then end the import too.
        command(source.admin, "CLUSTER", "SETSLOT", slot, "STABLE")
        pipe = target.admin.pipeline(transaction=False)
        pipe.execute_command("ASKING")  # type: ignore[no-untyped-call]
        pipe.execute_command(  # type: ignore[no-untyped-call]
            "MIGRATE", "127.0.0.1", source.port, "", 0, 5000, "KEYS", STREAM
        )
        pipe.execute()
        migration.settle([source.admin, target.admin])

    sleep, waits = healing_sleep(heal)
    producer = producer_on(source, sleep)
    producer.send_many(events(10))
    # When: the slot is split mid-migration: the stream moved, the producer's key not
    migration.begin()
    command(source.admin, "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", STREAM)
    with caplog.at_level(logging.WARNING, logger="ingest.resending"):
        producer.send_many(events(10, 10))
    producer.client.close()
    # Then: TRYAGAIN was logged and waited out; the batch landed once
    assert waits, "no re-send"
    assert any("TRYAGAIN" in r.getMessage() for r in caplog.records)
    assert producer.stats.produced == 20
    with source.client(decode_responses=True) as check:
        assert check.xlen(STREAM) == 20
    with pytest.raises(redis.exceptions.MovedError):
        target.admin.xlen(STREAM)  # the slot stayed with its source
