"""The producer: events encoded, buffered, and admitted to the stream in batches.

One ``FCALL ingest_admit`` per batch of ``batch_size`` entries (one round trip, no per-event
round trip) through the one admit-and-wait, :class:`ingest.admitting.Admitter`: it waits on
backpressure and OOM up to ``max_block_s`` (then ``BackpressureTimeout``), reloads a missing
function, and re-sends a batch after a connection error or a refusal such as ``LOADING`` or
``READONLY`` for up to ``connect_timeout_s``, each re-send logged and counted and idempotent at
the stream (a batch whose first send landed is not appended twice). Through Sentinel
(``redis+sentinel://``) the re-sends reach the new primary after a failover.

Durable produce (``min_replicas`` > 0, :mod:`ingest.durable`): a batch counts as produced only
once that many replicas acknowledged it; otherwise :class:`~ingest.errors.NotDurable`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from opentelemetry import trace

from ingest import admission, durable, telemetry
from ingest.admitting import AdmitStats, Admitter, Stopped
from ingest.backpressure import Limits, Watermarks
from ingest.codec import Event, encode
from ingest.errors import NotDurable
from ingest.preflight import check_eviction_policy, check_persistence, record_settings
from ingest.sentinel import FAILOVERS
from ingest.sentinel_url import parse_sentinel_url
from ingest.settings import ProducerSettings

__all__ = [
    "Producer",
    "ProducerStats",
    "ProducerStopped",
    "check_eviction_policy",
    "record_settings",
]

log = logging.getLogger(__name__)

ProducerStopped = Stopped
"""A stop was requested while the producer waited; the unsent batch was not appended."""


@dataclass(slots=True)
class ProducerStats(AdmitStats):
    """Counters since the producer was built (plain numbers; cheap to update and read).

    The :class:`~ingest.admitting.AdmitStats` fields (``batches``, ``blocked_s``, ``blocks``,
    ``oom_waits``, ``retries``, ``repeats``, ``replica_waits``) are kept by the producer's
    admitter; these by the producer:

    Attributes:
        produced: events in the stream (appended by this producer; a re-send found already
            in counts once).
        rejected: events refused before sending (too large, not JSON) by ``send_many``'s
            ``on_reject`` path, plus what callers add (the CLI adds malformed input lines).
        bytes: payload bytes (UTF-8 JSON) produced.
        failovers: failovers of the Sentinel service this process has seen (0 without
            Sentinel; :class:`ingest.sentinel.FailoverRecord`).
        not_durable: entries of a batch that reached too few replicas (durable produce):
            in the stream on the primary, not counted in ``produced``.
    """

    produced: int = 0
    rejected: int = 0
    bytes: int = 0
    failovers: int = 0
    not_durable: int = 0


class Producer:
    """Sends events to the stream in admitted batches (synchronous).

    Args:
        client: a ``redis.Redis`` with ``decode_responses=True``
            (:func:`ingest.connection.sync_client`).
        settings: stream, cap, marks, batch size, limits.
        sleep, clock: injected for waits (``time.sleep``, ``time.monotonic``).
        tracer_provider: OpenTelemetry provider; default the global one (a no-op unless set).
        should_stop: polled while waiting; when it returns ``True`` the wait ends with
            :class:`ProducerStopped`.

    ``send`` buffers; a full buffer is flushed. Call ``close()`` (or use ``with``) to flush
    the rest. ``last_backlog`` holds the backlog seen by the last admission call; ``on_wait``
    and ``on_blocked`` are the admitter's hooks (:class:`~ingest.admitting.Admitter`).
    """

    def __init__(
        self,
        client: redis.Redis,
        settings: ProducerSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        tracer_provider: trace.TracerProvider | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.settings = settings
        self.stats = ProducerStats()
        marks = Watermarks(settings.high_water, settings.watermark_low)
        limits = Limits(settings.maxlen, marks, settings.no_group, settings.max_block_s)
        self.admitter = Admitter(
            client,
            settings.stream,
            limits,
            redis=settings.redis,
            stats=self.stats,
            sleep=sleep,
            clock=clock,
            should_stop=should_stop,
        )
        self._tracer = telemetry.get_tracer(tracer_provider)
        self._buffer: list[dict[str, str]] = []
        self._buffer_bytes = 0
        self._ready = False
        redis_url = settings.redis.redis_url
        self._service = parse_sentinel_url(redis_url) if settings.redis.sentinel else None

    @property
    def last_backlog(self) -> int:
        """The backlog the last admission call saw, entries."""
        return self.admitter.last_backlog

    @property
    def on_wait(self) -> Callable[[int, float], None] | None:
        """Called before each backoff step of a pause with the backlog just seen (entries)
        and the seconds blocked so far in all: the CLI's progress line."""
        return self.admitter.on_wait

    @on_wait.setter
    def on_wait(self, hook: Callable[[int, float], None] | None) -> None:
        self.admitter.on_wait = hook

    @property
    def on_blocked(self) -> Callable[[float], None] | None:
        """Called with the seconds of each backpressure pause (the metrics histogram)."""
        return self.admitter.on_blocked

    @on_blocked.setter
    def on_blocked(self, hook: Callable[[float], None] | None) -> None:
        self.admitter.on_blocked = hook

    @property
    def buffered(self) -> int:
        """Events encoded and waiting for the next batch."""
        return len(self._buffer)

    def prepare(self) -> None:
        """Check the maxmemory policy and persistence, load the admission function, record
        the settings in the stream's config hash (:mod:`ingest.preflight`) and, for durable
        produce, probe what the server can confirm (:func:`ingest.durable.probe`); once, also
        done lazily.

        Raises:
            ConfigError: an ``allkeys-*`` policy without ``allow_eviction``.
            AdmissionUnavailable: the function is missing and may not be loaded by this user.
        """
        if self._ready:
            return
        check_eviction_policy(self.client, self.settings.allow_eviction)
        check_persistence(self.client)
        admission.ensure_loaded(self.client)
        record_settings(self.client, self.settings)
        if self.settings.min_replicas > 0:
            found = durable.probe(
                self.client, self.settings.min_replicas, self.settings.replica_timeout_ms
            )
            log.info("durable produce: each batch waits for %s", found.describe())
            self.admitter.require(found)
        self._ready = True

    def encode(self, event: Event) -> dict[str, str]:
        """The entry fields of ``event`` (nothing sent).

        Raises:
            EventTooLarge: the payload exceeds ``max_event_bytes``.
            TypeError, ValueError: the payload is not JSON-serialisable.
        """
        return encode(event, max_event_bytes=self.settings.max_event_bytes)

    def send(self, event: Event) -> None:
        """Encode ``event`` and buffer it; flushes when the buffer holds ``batch_size``.

        Raises:
            EventTooLarge: the payload exceeds ``max_event_bytes`` (nothing buffered).
            TypeError, ValueError: the payload is not JSON-serialisable.
            BackpressureTimeout, RedisUnavailable, ProducerStopped: from the flush.
        """
        self.push(self.encode(event))

    def send_many(
        self, events: Iterable[Event], on_reject: Callable[[Event, Exception], None] | None = None
    ) -> int:
        """Send ``events``; return how many were accepted (buffered or sent).

        With ``on_reject``, an event that cannot be encoded (``EventTooLarge``, not JSON,
        nested too deeply: whatever encoding it raises) is passed to it with the error,
        counted in ``stats.rejected`` and skipped; without it the error is raised. Errors of
        sending (backpressure, Redis) are always raised.
        """
        accepted = 0
        for event in events:
            try:
                fields = self.encode(event)
            except Exception as exc:  # this event's problem only (too large, too deep, not JSON)
                if on_reject is None:
                    raise
                self.stats.rejected += 1
                on_reject(event, exc)
                continue
            self.push(fields)
            accepted += 1
        return accepted

    def push(self, fields: dict[str, str]) -> None:
        """Buffer encoded entry fields (:meth:`encode`); flushes a full buffer.

        Raises:
            BackpressureTimeout, RedisUnavailable, NotDurable, ProducerStopped: from the flush.
        """
        self._buffer.append(fields)
        self._buffer_bytes += len(fields["data"])
        if len(self._buffer) >= self.settings.batch_size:
            self.flush()

    def flush(self) -> None:
        """Offer the buffered events as one batch, waiting on backpressure as needed; the
        buffer is kept when that raises (a later flush offers it again: after
        :class:`~ingest.errors.NotDurable` it is found already in, and waits for its replicas
        again)."""
        if not self._buffer:
            return
        self.prepare()
        batch, size = self._buffer, self._buffer_bytes
        span = self._tracer.start_span(
            "ingest.produce",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                telemetry.MESSAGING_SYSTEM: telemetry.MESSAGING_SYSTEM_VALUE,
                telemetry.MESSAGING_OPERATION_TYPE: "send",
                telemetry.MESSAGING_OPERATION_NAME: "send",
                telemetry.MESSAGING_DESTINATION_NAME: self.settings.stream,
                telemetry.MESSAGING_BATCH_MESSAGE_COUNT: len(batch),
            },
        )
        try:
            # A valid but unsampled context is carried too (sampled bit off), so the workers'
            # parent-based sampler drops their spans as well instead of starting orphan traces.
            if span.get_span_context().is_valid:
                self._inject(span, batch)
            self.admitter.admit(batch)
        except BaseException as exc:
            if isinstance(exc, NotDurable):
                self.stats.not_durable = exc.size
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.end()
            if self._service is not None:
                service = self._service
                self.stats.failovers = FAILOVERS.failovers(service.sentinel_list, service.service)
        self._buffer, self._buffer_bytes = [], 0
        self.stats.produced += len(batch)
        self.stats.bytes += size

    def close(self) -> None:
        """Flush what is buffered."""
        self.flush()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self.close()

    @staticmethod
    def _inject(span: trace.Span, batch: list[dict[str, str]]) -> None:
        # Entries whose event brought its own context keep it; the rest join the batch span.
        carrier: dict[str, str] = {}
        telemetry.inject_context(carrier, trace.set_span_in_context(span))
        for fields in batch:
            if "traceparent" not in fields:
                fields.update(carrier)
