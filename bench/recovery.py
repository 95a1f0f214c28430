"""``recovery``: from a SIGKILL of a worker holding entries to those entries being taken over
and handled by another worker, at the worker's defaults (``--liveness-ttl`` 5 s, so the
target is under 10 s; ``--min-idle`` 60 s plays no part).

A worker whose handler holds each batch for a minute (``bench.handlers:Slow``) takes its
share of 400 entries; another worker (no-op handler) starts and handles the rest; the first
is killed with SIGKILL, and the PEL is watched: the first figure is when none of its entries
is pending to it any more (all taken over), the second when they are all acknowledged.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from bench.harness import GROUP, STREAM, Context
from bench.workerpool import WorkerPool
from ingest.codec import Event, encode
from ingest.streams import parse_pending_summary

SLOW = ["--handler", "bench.handlers:Slow"]
NOOP = ["--handler", "bench.handlers:Noop"]


def _pending(client: redis.Redis, consumer: str) -> int:
    summary = parse_pending_summary(client.xpending(STREAM, GROUP))
    return summary.per_consumer.get(consumer, 0)


def _fill(client: redis.Redis, count: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(STREAM, encode(Event(f"r{i}", {"i": i}, source="bench")))  # type: ignore[arg-type]
    pipe.execute()


def _wait(predicate: Any, timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"recovery: {what} within {timeout_s} s")
        time.sleep(0.02)  # polling the PEL
    return time.monotonic()


def run(ctx: Context) -> dict[str, Any]:
    """Figures: ``recovery_taken_over_s`` (SIGKILL -> none pending to the dead worker),
    ``recovery_handled_s`` (SIGKILL -> all its entries acknowledged), ``recovery_entries``."""
    ctx.reset()
    victim, survivor = WorkerPool(ctx.url, 1, SLOW), WorkerPool(ctx.url, 1, NOOP)
    victim.names, survivor.names = ["victim"], ["survivor"]
    with ctx.client() as client:
        _fill(client, 400)
        victim.start()
        _wait(lambda: _pending(client, "victim") >= 100, 30, "the victim holding entries")
        survivor.start()
        try:
            held = _pending(client, "victim")
            victim.procs[0].kill()
            victim.procs[0].wait()
            killed = time.monotonic()
            taken = _wait(lambda: _pending(client, "victim") == 0, 60, "takeover")
            done = _wait(
                lambda: (
                    parse_pending_summary(client.xpending(STREAM, GROUP)).count == 0
                    and client.xlen(STREAM) > 0
                ),
                120,
                "all handled",
            )
        finally:
            survivor.stop()
            victim.cleanup()
            survivor.cleanup()
    return {
        "recovery_entries": held,
        "recovery_taken_over_s": round(taken - killed, 2),
        "recovery_handled_s": round(done - killed, 2),
    }
