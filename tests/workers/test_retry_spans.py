"""Retry span events: ``attempt`` is the attempt that failed, ``wait_s`` the wait before
the next one (the sleep that really happened). Real redis-server, injected sleep."""

from __future__ import annotations

from typing import Any

import redis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingest.codec import Event
from tests.workers.util import add_events, running, settings_for, wait_async
from workers.handlers import batch_handler


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _retries(exporter: InMemorySpanExporter, event_id: str) -> list[dict[str, Any]]:
    [span] = [
        s
        for s in exporter.get_finished_spans()
        if s.name.startswith("process") and (s.attributes or {}).get("ingest.event_id") == event_id
    ]
    return [dict(e.attributes or {}) for e in span.events if e.name == "retry"]


async def test_retry_events_number_failed_attempts_and_report_the_real_waits(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a handler failing 3 times then succeeding, 4 attempts from a 0.5 s first wait
    provider, exporter = _tracing()
    waits: list[float] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def flaky(event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise ConnectionError("database away")

    add_events(client, 1)
    settings = settings_for(redis_url, retry_attempts=4, retry_initial_s=0.5, retry_max_s=5.0)

    # When: a worker runs it with a recording sleep
    async with running(settings, flaky, tracer_provider=provider, sleep=sleep) as runner:
        await wait_async(lambda: runner.stats.acked == 1, what="acked")

    # Then: three retry events, for attempts 1, 2, 3, each with the wait that was slept
    events = _retries(exporter, "e0")
    assert [e["attempt"] for e in events] == [1, 2, 3]
    assert [e["wait_s"] for e in events] == waits
    assert all(e["error.type"] == "ConnectionError" for e in events)
    # exponential from 0.5 s with up to 0.5 s of jitter
    for wait, base in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert base <= wait <= base + 0.5
    assert runner.stats.retried == 3


async def test_a_failed_batch_re_runs_each_event_with_attempts_counted_from_1(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a batch handler failing for any batch holding e1, 3 attempts
    provider, exporter = _tracing()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    @batch_handler
    def write(events: list[Event]) -> None:
        if any(e.event_id == "e1" for e in events):
            raise TimeoutError("slow")

    add_events(client, 3)
    settings = settings_for(redis_url, retry_attempts=3, retry_initial_s=0.5, retry_max_s=5.0)

    # When: the worker runs the batch
    async with running(settings, write, tracer_provider=provider, sleep=sleep) as runner:
        await wait_async(
            lambda: runner.stats.acked == 2 and runner.stats.failed_attempts == 1, what="settled"
        )

    # Then: the neighbours were not retried; e1 failed its 3 attempts (waits before 2 and 3)
    assert _retries(exporter, "e0") == []
    assert [e["attempt"] for e in _retries(exporter, "e1")] == [1, 2]
    assert [e["wait_s"] for e in _retries(exporter, "e1")] == waits
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("process")]
    assert all(any(e.name == "batch failed" for e in s.events) for s in spans)
