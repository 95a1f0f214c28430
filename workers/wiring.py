"""The worker's parts, built from its settings in one place, top-down.

Dependency order: the Redis commands about entries (:class:`~workers.redis_io.StreamIO`), the
one owner of held entries (:class:`~workers.ledger.Ledger`), the handler slots
(:class:`~workers.slots.Dispatch`), the handler runner (:class:`~workers.processing.Processor`),
then the loops that feed and tend them: :class:`~workers.reader.Reader`,
:class:`~workers.reclaimer.Reclaimer`, :class:`~workers.heartbeat.Heartbeat`, under one error
policy (:class:`~workers.loops.Guard`), and the one liveness rule
(:class:`~workers.liveness.Liveness`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from opentelemetry import trace

from workers.burst import BurstCheck
from workers.handlers import LoadedHandler
from workers.heartbeat import Heartbeat
from workers.ledger import Ledger
from workers.liveness import Liveness
from workers.loops import Guard
from workers.processing import Processor
from workers.reader import Reader
from workers.reclaimer import Reclaimer
from workers.redis_io import StreamIO
from workers.settings import WorkerSettings
from workers.settlement import Report
from workers.slots import Dispatch
from workers.stats import Health, Hooks, Stats
from workers.tracing import DeliveryTracer


@dataclass(frozen=True, slots=True)
class Parts:
    """The worker's parts (see the module docstring)."""

    io: StreamIO
    ledger: Ledger
    dispatch: Dispatch
    processor: Processor
    reader: Reader
    reclaimer: Reclaimer
    heartbeat: Heartbeat
    guard: Guard
    liveness: Liveness


def build(
    s: WorkerSettings,
    handler: LoadedHandler,
    client: redis.asyncio.Redis,
    stats: Stats,
    health: Health,
    hooks: Hooks,
    stopping: asyncio.Event,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
    io: StreamIO | None = None,
) -> Parts:
    """Build every part from the settings.

    ``io`` replaces the Redis commands about entries (tests pass a subclass that fails or
    waits on purpose: the seam for races and failures).
    """
    io = io or StreamIO.for_settings(client, s)
    per_batch = s.trace_spans == "batch"
    tracer = DeliveryTracer(s.stream, s.group, s.consumer, tracer_provider, per_batch=per_batch)
    report = Report(stats, hooks)
    ledger = Ledger.for_settings(io, s, report, tracer)
    dispatch = Dispatch(s.concurrency, s.read_count if handler.batched else 1)
    burst = BurstCheck(client, s, io) if s.burst else None
    return Parts(
        io,
        ledger,
        dispatch,
        Processor.for_settings(handler, s, stats, hooks, sleep),
        Reader(io, ledger, dispatch, stats, health, s.read_count, s.block_ms, burst, stopping),
        Reclaimer.for_settings(io, ledger, dispatch, report, s),
        Heartbeat.for_settings(io, ledger, dispatch, stats, s),
        Guard.for_settings(client, s, health, stats, stopping),
        Liveness(health, dispatch, s.live_max_age_s, s.handler_timeout_s),
    )
