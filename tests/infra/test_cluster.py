"""Smoke tests of the local cluster fixture (tests/cluster.py) on real server processes."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import AskError
from redis.retry import Retry

pytestmark = [pytest.mark.redis, pytest.mark.cluster]

# Promotion takes node timeout (2 s) + failure agreement + 0.5-1 s election delay; a loaded
# 2-core machine stretches it, so the bound is generous but still catches a stuck failover.
PROMOTION_BOUND_S = 15.0


def test_cluster_forms_and_keys_round_trip_on_every_primary(cluster):
    # Given the cluster client and one key per primary
    client = cluster.client(decode_responses=True)
    primaries = cluster.primaries()
    assert len(primaries) == 3
    assert len(cluster.replicas()) == 3
    keys: dict[int, str] = {}
    for i in range(200):
        keys.setdefault(cluster.primary_for_key(f"k{i}").port, f"k{i}")
    assert len(keys) == 3
    # When each key is written through the cluster client
    for key in keys.values():
        client.set(key, f"v-{key}")
    # Then each lives on the primary the fixture names for it, and reads back
    for port, key in keys.items():
        node = next(n for n in primaries if n.port == port)
        assert node.admin.get(key) == f"v-{key}"
        assert client.get(key) == f"v-{key}"


def test_sigkill_of_a_primary_promotes_its_replica_and_the_node_rejoins(cluster):
    # Given a key replicated to its primary's replica
    client = cluster.client(decode_responses=True)
    client.set("{failover}:k", "kept")
    primary = cluster.primary_for_key("{failover}:k")
    replica = cluster.replica_of(primary)
    assert primary.admin.execute_command("WAIT", 1, 2000) == 1
    # When the primary is SIGKILLed
    cluster.kill(primary)
    elapsed_s = cluster.wait_for_promotion(replica)
    # Then its replica serves the slot within the bound and the client follows it
    assert elapsed_s < PROMOTION_BOUND_S
    assert cluster.primary_for_key("{failover}:k") is replica
    assert client.get("{failover}:k") == "kept"
    # And the restarted node comes back as a replica of the promoted one
    cluster.restart(primary)
    assert cluster.replica_of(replica) is primary


def test_paused_node_answers_nothing_until_resumed(cluster):
    replica = cluster.replicas()[0]
    probe = replica.client(socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    cluster.pause(replica)
    with pytest.raises(redis.TimeoutError):
        probe.ping()
    cluster.resume(replica)
    cluster.wait_healthy()
    assert probe.ping()
    probe.close()


def test_slot_migration_moves_a_stream_and_its_consumer_group(cluster):
    # Given a stream with a consumer group, 5 pending and 5 undelivered entries
    client = cluster.client(decode_responses=True)
    stream = "{orders}:events"
    for i in range(10):
        client.xadd(stream, {"n": str(i)})
    client.xgroup_create(stream, "workers", id="0")
    client.xreadgroup("workers", "c1", {stream: ">"}, count=5)
    slot = cluster.slot_of(stream)
    source = cluster.primary_for_slot(slot)
    target = next(n for n in cluster.primaries() if n is not source)
    # When the slot is migrated in steps, with writes between them
    migration = cluster.migrate_slot(slot, target)
    migration.begin()
    client.xadd(stream, {"n": "10"})  # source still has the key: served there
    assert migration.move_batch(count=100) == 1
    with pytest.raises(AskError):
        source.admin.xlen(stream)  # the source now redirects
    client.xadd(stream, {"n": "11"})  # the cluster client follows -ASK to the target
    assert migration.move_batch() == 0
    migration.finish()
    # Then the target serves the slot with the whole stream and the group's state
    assert cluster.primary_for_slot(slot) is target
    assert target.admin.xlen(stream) == 12
    [group] = target.admin.xinfo_groups(stream)
    assert group["pending"] == 5
    assert group["last-delivered-id"] == client.xrange(stream, count=5)[-1][0]
    delivered = client.xreadgroup("workers", "c2", {stream: ">"}, count=100)
    assert [fields["n"] for _, fields in delivered[0][1]] == [str(i) for i in range(5, 12)]
