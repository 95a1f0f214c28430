"""The producer side of the end-to-end scenarios: :class:`ingest.producer.Producer` in a child.

Runs in a fresh interpreter (multiprocessing ``spawn``), connects and loads the admission
function, says ready, waits for the go signal, then sends. Reports its start time and, at the
end, its CPU seconds through the ``times`` queue.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from bench import events
from bench.harness import GROUP, STREAM
from ingest.codec import Event
from ingest.connection import sync_client
from ingest.otel_setup import configure_otel
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings

TICK_S = 0.001


def _events(run: str, n: int) -> Iterator[Event]:
    for seq in range(n):
        yield Event(events.event_id(run, seq), events.payload(seq), events.SOURCE, events.TYPE)


def _paced(producer: Producer, run: str, n: int, rate: float) -> None:
    # Every tick, send what is due by now and flush: the steady trickle of small batches a
    # source at a moderate rate produces (a batch is never held back to fill up).
    source = _events(run, n)
    sent, start = 0, time.monotonic()
    while sent < n:
        due = min(n, int((time.monotonic() - start) * rate) + 1)
        for event in (next(source) for _ in range(due - sent)):
            producer.send(event)
        sent = due
        producer.flush()
        time.sleep(max(0.0, start + sent / rate - time.monotonic()))


def produce(
    ready: Any,
    go: Any,
    times: Any,
    url: str,
    n: int,
    run: str,
    env: Mapping[str, str],
    rate: float | None,
) -> None:
    """Child: send ``n`` events (as fast as admitted, or paced at ``rate`` events/s)."""
    os.environ.update(env)
    shutdown = configure_otel("bench-producer")
    settings = ProducerSettings(redis=RedisSettings(redis_url=url), stream=STREAM, group=GROUP)
    client = sync_client(settings.redis)
    producer = Producer(client, settings)
    producer.prepare()
    ready.set()
    go.wait()
    cpu0 = time.process_time()
    times.put(("t0", time.time()))
    if rate is None:
        producer.send_many(_events(run, n))
    else:
        _paced(producer, run, n, rate)
    producer.close()
    times.put(("producer_cpu", time.process_time() - cpu0))
    shutdown()
    client.close()
