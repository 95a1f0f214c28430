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
from bench.harness import (
    GROUP,
    STREAM,
    Children,
    Context,
    cpu_figures,
    drain_timeout,
    rate,
    redis_cpu_s,
    wait_drained,
)
from bench.profiling import Profiler

BATCH = 100
MAXLEN = 1_000_000


def produce(ready: Any, go: Any, times: Any, url: str, n: int) -> None:
    """Child: send ``n`` entries in pipelines of :data:`BATCH`, fields like the codec's."""
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    go.wait()
    times.put(("t0", time.time()))
    cpu0 = time.process_time()
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
    times.put(("producer_cpu", time.process_time() - cpu0))
    client.close()


def consume(ready: Any, go: Any, times: Any, url: str, n: int) -> None:
    """Child: read batches of :data:`BATCH` and acknowledge each with one XACK until ``n``."""
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    go.wait()
    cpu0 = time.process_time()
    done = 0
    while done < n:
        reply: Any = client.xreadgroup(GROUP, "floor-1", {STREAM: ">"}, count=BATCH, block=1000)
        for _stream, entries in reply or []:
            ids = [entry_id for entry_id, _fields in entries]
            if ids:
                client.xack(STREAM, GROUP, *ids)
                done += len(ids)
    times.put(("consumer_cpu", time.process_time() - cpu0))
    client.close()


def run(ctx: Context) -> dict[str, Any]:
    """Run the floor once; figures ``floor_events``, ``floor_seconds``, ``floor_events_per_s``
    and CPU microseconds per event of the producer, the consumer and Redis (``floor_*_cpu_us_
    per_event``). :mod:`bench.runner` runs it around every scenario it is compared with."""
    n = ctx.sizes.events
    ctx.reset()
    children = Children()
    children.spawn(consume, ctx.url, n)
    children.spawn(produce, ctx.url, n)
    profiler = Profiler(ctx.profile_dir)
    profiler.attach(children.procs[0].pid, "floor-consumer")
    profiler.attach(children.procs[1].pid, "floor-producer")
    with ctx.client() as client:
        redis_cpu = redis_cpu_s(client)
        t0 = children.start()
        t_end = wait_drained(client, n, timeout_s=drain_timeout(n), alive=children.alive)
        redis_cpu = redis_cpu_s(client) - redis_cpu
    cpu = {
        "producer": children.report("producer_cpu"),
        "consumer": children.report("consumer_cpu"),
        "redis": redis_cpu,
    }
    children.join()
    profiler.finish()
    return {
        "floor_events": n,
        "floor_seconds": round(t_end - t0, 3),
        "floor_events_per_s": round(rate(n, t0, t_end)),
        **cpu_figures("floor", n, cpu),
    }
