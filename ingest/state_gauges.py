"""The sampled stream and group gauges: the last sample, how fresh it is, and its gauges.

A sampler (``workers.observability.StateSampler``) reads :class:`~ingest.groupstate.StreamState`
every few seconds and hands it to a :class:`StateHolder`; a scrape reads the holder, never
Redis. A figure that can no longer be refreshed must not be served as if it were current
(during a Redis outage a backlog of 0 reads as "all caught up"), so the holder serves a sample
only while it is fresh: the last attempt succeeded and it is at most ``max_age_s`` old.
Otherwise the group and stream gauges report nothing, as before the first sample, and
``ingest_worker_state_sample_age_seconds`` shows how old the last good sample is.

The backlog and lag gauges are the backlog rule's figures (:mod:`ingest.backlog`, through
:func:`~ingest.groupstate.read_state`), not Redis' ``lag`` counter: after a Redis restart from
a rewritten AOF that counter can report a backlog that does not exist, and the gauges do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ingest.groupstate import GroupState, StreamState
from ingest.metrics import (
    BACKLOG,
    CONSUMERS,
    DEAD_LETTER_LENGTH,
    GROUP,
    LAG,
    OLDEST_PENDING_AGE,
    PENDING,
    SAMPLE_AGE,
    STREAM,
    STREAM_LENGTH,
    MetricSpec,
    meter_active,
)
from ingest.telemetry import get_meter


class StateHolder:
    """The latest :class:`StreamState` from a sampler, served while fresh.

    Thread-safe for one writer (the sampler thread) and any number of readers (scrapes):
    each update replaces one tuple.

    Args:
        stream: the ``stream`` attribute of the sample-age gauge (``""``: none).
        group: its ``group`` attribute (``""``: none).
        max_age_s: oldest sample still served, seconds; ``None`` never ages a sample out.
        clock: monotonic seconds (injectable for tests); default ``time.monotonic``.
    """

    def __init__(
        self,
        *,
        stream: str = "",
        group: str = "",
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age_s = max_age_s
        self.attributes = {k: v for k, v in ((STREAM, stream), (GROUP, group)) if v}
        self._clock = clock
        self._started = clock()
        # (last good state or None, when it was taken or None, did the last attempt fail)
        self._sample: tuple[StreamState | None, float | None, bool] = (None, None, False)

    def update(self, state: StreamState) -> None:
        """Record a successful sample taken now."""
        self._sample = (state, self._clock(), False)

    def failed(self) -> None:
        """Record a failed attempt: the last good sample is kept but no longer served."""
        state, at, _ = self._sample
        self._sample = (state, at, True)

    @property
    def state(self) -> StreamState | None:
        """The last successful sample, however old (``None`` before the first)."""
        return self._sample[0]

    def current(self) -> StreamState | None:
        """The sample to serve: ``None`` before the first, after a failed attempt, or when
        the last good one is older than ``max_age_s``."""
        state, at, failed = self._sample
        if state is None or at is None or failed:
            return None
        if self.max_age_s is not None and self._clock() - at > self.max_age_s:
            return None
        return state

    def age_s(self) -> float:
        """Seconds since the last successful sample; since this holder was made (sampling
        started) when none has succeeded yet, so a worker that never reached Redis shows it."""
        at = self._sample[1]
        return max(0.0, self._clock() - (self._started if at is None else at))


def _group_points(
    holder: StateHolder, value: Callable[[GroupState], float | None]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        state = holder.current()
        if state is None:
            return []
        points = []
        for group in state.groups:
            measured = value(group)
            if measured is not None:
                points.append(Observation(measured, {STREAM: state.stream, GROUP: group.name}))
        return points

    return callback


def _stream_points(
    holder: StateHolder, value: Callable[[StreamState], float]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        state = holder.current()
        return [] if state is None else [Observation(value(state), {STREAM: state.stream})]

    return callback


def _age_points(holder: StateHolder) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(round(holder.age_s(), 3), holder.attributes)]

    return callback


def _oldest_pending_s(group: GroupState) -> float | None:
    age = group.oldest_pending_age_ms
    return None if age is None else age / 1000.0


GROUP_GAUGES: tuple[tuple[MetricSpec, Callable[[GroupState], float | None]], ...] = (
    (BACKLOG, lambda g: g.backlog),
    (LAG, lambda g: g.undelivered),
    (PENDING, lambda g: g.pending),
    (OLDEST_PENDING_AGE, _oldest_pending_s),
    (CONSUMERS, lambda g: g.consumer_count),
)
"""Per-group gauge -> its value in a :class:`GroupState` (``None``: no point)."""

STREAM_GAUGES: tuple[tuple[MetricSpec, Callable[[StreamState], float]], ...] = (
    (STREAM_LENGTH, lambda s: s.length),
    (DEAD_LETTER_LENGTH, lambda s: s.dead_letter_length),
)
"""Per-stream gauge -> its value in a :class:`StreamState`."""


def register_state_gauges(
    holder: StateHolder, *, meter_provider: metrics.MeterProvider | None = None
) -> bool:
    """Observe the sampled state in ``holder`` (:data:`GROUP_GAUGES`, :data:`STREAM_GAUGES`)
    and its age (:data:`ingest.metrics.SAMPLE_AGE`); ``False`` (nothing registered) when no
    meter provider is active."""
    if not meter_active(meter_provider):
        return False
    meter = get_meter(meter_provider)
    gauges: list[tuple[MetricSpec, Any]] = [
        *((spec, _group_points(holder, value)) for spec, value in GROUP_GAUGES),
        *((spec, _stream_points(holder, value)) for spec, value in STREAM_GAUGES),
        (SAMPLE_AGE, _age_points(holder)),
    ]
    for spec, callback in gauges:
        meter.create_observable_gauge(spec.name, [callback], spec.unit, spec.description)
    return True
