"""``python -m bench.admission``: the admission function against plain pipelined ``XADD MAXLEN ~``.

Both sides send the same pre-encoded entries in batches of 500 to a fresh stream that has a
consumer group (so the function computes a backlog every batch), in the same run, alternating,
best of a few rounds. The function is called as the producer calls it: each batch numbered for
idempotent re-sends (:class:`ingest.admission.BatchId`). The result is the ratio
``admission / plain`` of events per second (target: at least 0.8).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis

from ingest import admission
from ingest.codec import Event, encode

BATCH = 500


def _entries(events: int) -> list[dict[str, str]]:
    payload = {"sensor_id": "sensor-1", "temperature": 21.37, "humidity": 44.1}
    return [
        encode(Event(f"bench:{n}", payload, source="bench"), produced_at_ms=0)
        for n in range(events)
    ]


def _batches(entries: Sequence[dict[str, str]]) -> list[Sequence[dict[str, str]]]:
    return [entries[i : i + BATCH] for i in range(0, len(entries), BATCH)]


def _fresh(client: redis.Redis, stream: str) -> None:
    client.delete(stream)
    client.xgroup_create(stream, "bench", id="0", mkstream=True)


def _plain(
    client: redis.Redis, stream: str, batches: list[Sequence[dict[str, str]]], cap: int
) -> None:
    for batch in batches:
        pipe = client.pipeline(transaction=False)
        for fields in batch:
            pipe.xadd(stream, fields, maxlen=cap, approximate=True)  # type: ignore[arg-type]
        pipe.execute()


def _admit(
    client: redis.Redis, stream: str, batches: list[Sequence[dict[str, str]]], cap: int
) -> None:
    producer = uuid.uuid4().hex[:16]
    for seq, batch in enumerate(batches, start=1):
        batch_id = admission.BatchId(producer, seq, 600_000)
        result = admission.admit(client, stream, batch, maxlen=cap, limit=cap, batch=batch_id)
        assert result.admitted, result


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def run_admission_bench(redis_url: str, events: int = 100_000, rounds: int = 3) -> dict[str, Any]:
    """Measure both ways on ``redis_url`` (uses and deletes the key ``bench:admission``).

    Returns ``{"events", "batch", "rounds", "plain_eps", "admission_eps", "ratio"}``
    (events per second, best round of each; ratio = admission / plain).
    """
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    stream, cap = "bench:admission", events + 1
    try:
        admission.ensure_loaded(client)
        batches = _batches(_entries(events))
        best = {"plain": float("inf"), "admission": float("inf")}
        for _ in range(rounds):
            for name, way in (("plain", _plain), ("admission", _admit)):
                _fresh(client, stream)
                seconds = _timed(lambda way=way: way(client, stream, batches, cap))  # type: ignore[misc]
                assert client.xlen(stream) == events
                best[name] = min(best[name], seconds)
        client.delete(stream)
    finally:
        client.close()
    plain_eps, admission_eps = events / best["plain"], events / best["admission"]
    return {
        "events": events,
        "batch": BATCH,
        "rounds": rounds,
        "plain_eps": round(plain_eps),
        "admission_eps": round(admission_eps),
        "ratio": round(admission_eps / plain_eps, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run against ``--redis-url``, or a private ``redis-server`` when none is given."""
    parser = argparse.ArgumentParser(prog="python -m bench.admission", description=__doc__)
    parser.add_argument("--redis-url", help="default: start a private redis-server")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.redis_url:
        result = run_admission_bench(args.redis_url, args.events, args.rounds)
    else:
        from tests.redis_server import RedisServer

        server = RedisServer()
        server.start()
        try:
            result = run_admission_bench(server.url, args.events, args.rounds)
        finally:
            server.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
