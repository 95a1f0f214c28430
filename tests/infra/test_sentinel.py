"""Smoke tests of the Sentinel fixture (tests/sentinel.py) on real server processes."""

from __future__ import annotations

import pytest
import redis

from tests.redis_server import command

pytestmark = [pytest.mark.redis, pytest.mark.sentinel]

# Sentinel needs down-after (1 s) + agreement + election + promotion (~1 s INFO period); the
# bound catches a failover that never happens, with room for a loaded 2-core machine.
PROMOTION_BOUND_S = 15.0


def test_sigkill_of_the_primary_promotes_the_replica_and_the_client_follows(sentinel):
    # Given a write through a Sentinel-discovered client, replicated
    client = sentinel.primary_client(decode_responses=True)
    client.set("k", "before")
    assert client.execute_command("WAIT", 1, 2000) == 1
    replica = sentinel.replicas()[0]
    # When the primary is SIGKILLed
    old = sentinel.kill_primary()
    elapsed_s = sentinel.wait_for_promotion()
    # Then the replica is promoted within the bound and the same client reads and writes there
    assert elapsed_s < PROMOTION_BOUND_S
    assert sentinel.current_primary() is replica
    assert client.get("k") == "before"
    client.set("k", "after")
    assert replica.client(decode_responses=True).get("k") == "after"
    # And the old primary comes back as a replica of the new one
    sentinel.restart(old)
    assert sentinel.replicas() == [old]


def test_loss_case_drops_writes_the_old_primary_acknowledged(sentinel):
    # When a write lands on a primary whose replica is cut off, and the primary dies
    def write(client: redis.Redis) -> tuple[object, object]:
        return client.set("lost", "1"), command(client, "WAIT", 1, 100)

    case = sentinel.lose_writes(write)
    # Then the primary acknowledged it, WAIT said no replica had it, and it is gone
    assert case.result == (True, 0)
    assert case.new_primary is not case.old_primary
    assert case.promotion_s < PROMOTION_BOUND_S
    assert sentinel.primary_client().get("lost") is None


def test_min_replicas_to_write_refuses_writes_until_turned_off(sentinel):
    client = sentinel.primary_client()
    sentinel.set_min_replicas(2)  # one replica exists: never enough
    with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
        client.set("k", "v")
    sentinel.set_min_replicas(0)
    assert client.set("k", "v")


def test_two_replica_deployment_fails_over_to_a_replica(make_sentinel):
    deployment = make_sentinel(replicas=2)
    replicas = deployment.replicas()
    deployment.kill_primary()
    deployment.wait_for_promotion()
    assert deployment.current_primary() in replicas
