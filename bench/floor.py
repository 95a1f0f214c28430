"""The ``floor`` scenario: a hand-written redis-py (hiredis) loop every ratio is taken against.

A producer process pipelines ``XADD ... MAXLEN ~`` 100 entries per round trip; a consumer
process reads ``XREADGROUP COUNT 100`` and acknowledges each batch with one ``XACK``; the work
is nothing. No guarantees beyond what that gives: no admission, no heartbeat, no claiming.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from bench import events
from bench.harness import GROUP, STREAM, Children, Context, drain_timeout, rate, wait_drained

BATCH = 100
MAXLEN = 1_000_000


def produce(ready: Any, go: Any, times: Any, url: str, n: int) -> None:
    """Child: send ``n`` entries in pipelines of :data:`BATCH`, fields like the codec's."""
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    go.wait()
    times.put(time.time())
    pipe = client.pipeline(transaction=False)
    for seq in range(n):
        fields = {
            "v": "1",
            "event_id": events.event_id("floor", seq),
            "source": events.SOURCE,
            "type": events.TYPE,
            "produced_at_ms": str(time.time_ns() // 1_000_000),
            "data": json.dumps(events.payload(seq), separators=(",", ":")),
        }
        pipe.xadd(STREAM, fields, maxlen=MAXLEN, approximate=True)  # type: ignore[arg-type]
        if len(pipe) >= BATCH:
            pipe.execute()
    if len(pipe):
        pipe.execute()
    client.close()


def consume(ready: Any, go: Any, times: Any, url: str, n: int) -> None:
    """Child: read batches of :data:`BATCH` and acknowledge each with one XACK until ``n``."""
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    go.wait()
    done = 0
    while done < n:
        reply: Any = client.xreadgroup(GROUP, "floor-1", {STREAM: ">"}, count=BATCH, block=1000)
        for _stream, entries in reply or []:
            ids = [entry_id for entry_id, _fields in entries]
            if ids:
                client.xack(STREAM, GROUP, *ids)
                done += len(ids)
    client.close()


def run(ctx: Context) -> dict[str, Any]:
    """Run the floor; figures ``floor_events``, ``floor_seconds``, ``floor_events_per_s``."""
    n = ctx.sizes.events
    ctx.reset()
    children = Children()
    children.spawn(consume, ctx.url, n)
    children.spawn(produce, ctx.url, n)
    t0 = children.start()
    with ctx.client() as client:
        t_end = wait_drained(client, n, timeout_s=drain_timeout(n), alive=children.alive)
    children.join()
    return {
        "floor_events": n,
        "floor_seconds": round(t_end - t0, 3),
        "floor_events_per_s": round(rate(n, t0, t_end)),
    }
