"""``python -m bench.durable``: what durable produce (``--min-replicas 1``) costs.

A private primary with one replica (loopback, persistence off). The producer
(:class:`ingest.producer.Producer`, as the CLI runs it) sends the same events to a fresh
stream with and without ``min_replicas=1``, alternating, best of a few rounds, at two batch
sizes: the default 500 and 50 (``WAIT`` is one more round trip per batch, so its share grows
as batches shrink). The result is the ratio ``durable / plain`` of events per second for each.
On loopback a replica acknowledges within a fraction of a millisecond; across a network each
batch pays one more round trip to the farthest replica it waits for.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import redis

from ingest.codec import Event
from ingest.connection import sync_client
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from tests.helpers import wait_for
from tests.redis_server import RedisServer

STREAM = "bench:durable"
BATCHES = (500, 50)


def _events(n: int) -> list[Event]:
    payload = {"sensor_id": "sensor-1", "temperature": 21.37, "humidity": 44.1}
    return [Event(f"bench:{i}", payload, source="bench") for i in range(n)]


def _produce_s(url: str, events: list[Event], batch: int, min_replicas: int) -> float:
    """Seconds to produce ``events`` into a fresh stream (with a group, as in production)."""
    settings = ProducerSettings(
        redis=RedisSettings(url),
        stream=STREAM,
        maxlen=len(events) + batch,
        high_water=len(events) + 1,
        batch_size=batch,
        min_replicas=min_replicas,
        replica_timeout_s=10,
    )
    client = sync_client(settings.redis)
    try:
        client.delete(STREAM)
        client.xgroup_create(STREAM, "bench", id="0", mkstream=True)
        producer = Producer(client, settings)
        producer.prepare()
        started = time.perf_counter()
        producer.send_many(events)
        producer.close()
        seconds = time.perf_counter() - started
        if client.xlen(STREAM) != len(events):
            raise RuntimeError("not every event reached the stream")
    finally:
        client.close()
    return seconds


def _linked(replica: RedisServer) -> bool:
    with replica.client(decode_responses=True) as client:
        return bool(client.info("replication").get("master_link_status") == "up")


def run_durable_bench(events: int = 50_000, rounds: int = 3) -> dict[str, Any]:
    """Measure plain and durable produce on a private primary + replica.

    Returns ``{"events", "rounds", "plain_eps_<batch>", "durable_eps_<batch>",
    "ratio_<batch>"}`` for each batch size of :data:`BATCHES` (events per second, best round
    of each; ratio = durable / plain).
    """
    primary = RedisServer()
    primary.start()
    replica = RedisServer(extra=["--replicaof", "127.0.0.1", str(primary.port)])
    try:
        replica.start()
        wait_for(lambda: _linked(replica), 20, what="the replica linked")
        work = _events(events)
        result: dict[str, Any] = {"events": events, "rounds": rounds}
        for batch in BATCHES:
            best = {0: float("inf"), 1: float("inf")}
            for _ in range(rounds):
                for replicas in (0, 1):
                    seconds = _produce_s(primary.url, work, batch, replicas)
                    best[replicas] = min(best[replicas], seconds)
            plain, durable = events / best[0], events / best[1]
            result[f"plain_eps_{batch}"] = round(plain)
            result[f"durable_eps_{batch}"] = round(durable)
            result[f"ratio_{batch}"] = round(durable / plain, 3)
        with redis.Redis.from_url(primary.url) as client:
            client.delete(STREAM)
    finally:
        replica.cleanup()
        primary.cleanup()
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the figures as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.durable", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(run_durable_bench(args.events, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
