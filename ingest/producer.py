"""The producer: batches of events offered to the stream by the admission function.

One ``FCALL ingest_admit`` per batch of ``batch_size`` entries (one round trip, no per-event
round trip). A refused batch (backpressure) or an OOM reply under ``noeviction`` waits with
capped backoff and is offered again, up to ``max_block_s``; then ``BackpressureTimeout``.
A connection error re-sends the batch with capped backoff for up to ``connect_timeout_s``;
since the first send may have been applied, an event can then land twice with the same
``event_id`` (the sink deduplicates).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from opentelemetry import trace

from ingest import admission, telemetry
from ingest.backpressure import Gate, Waiter, Watermarks
from ingest.codec import Event, encode, now_ms
from ingest.connection import CONNECTION_ERRORS, ConnectDeadline
from ingest.errors import ConfigError, EventTooLarge, IngestError
from ingest.keys import StreamKeys
from ingest.settings import ProducerSettings

log = logging.getLogger(__name__)


class ProducerStopped(IngestError):
    """A stop was requested while the producer waited; the unsent batch was not appended."""


@dataclass(slots=True)
class ProducerStats:
    """Counters since the producer was built (plain ints/floats; cheap to update and read).

    Attributes:
        produced: events appended to the stream.
        rejected: events refused before sending (too large, not JSON) by ``send_many``'s
            ``on_reject`` path, plus what callers add (the CLI adds malformed input lines).
        bytes: payload bytes (UTF-8 JSON) appended.
        batches: admitted batches (= admission round trips that appended).
        blocked_s: seconds spent waiting on backpressure or OOM.
        blocks: blocking episodes (a refused batch starts one; its admission ends it).
        oom_waits: OOM replies waited out.
        retries: batches re-sent after a connection error.
    """

    produced: int = 0
    rejected: int = 0
    bytes: int = 0
    batches: int = 0
    blocked_s: float = 0.0
    blocks: int = 0
    oom_waits: int = 0
    retries: int = 0


def check_eviction_policy(client: redis.Redis, allow_eviction: bool) -> str | None:
    """Refuse an ``allkeys-*`` maxmemory policy (it can evict the stream, its groups and their
    pending entries). Returns the policy, or ``None`` when CONFIG is not permitted (warned).

    Raises:
        ConfigError: an ``allkeys-*`` policy without ``allow_eviction``.
    """
    try:
        reply: Any = client.config_get("maxmemory-policy")
    except redis.ResponseError as exc:
        log.warning("cannot read maxmemory-policy (%s); make sure it is noeviction", exc)
        return None
    policy = str(reply.get("maxmemory-policy", ""))
    if policy.startswith("allkeys-"):
        if not allow_eviction:
            raise ConfigError(
                f"Redis maxmemory-policy is {policy}: under memory pressure it may evict the "
                "stream with its consumer groups and pending entries (silent loss). Set "
                "maxmemory-policy noeviction, or pass --allow-eviction / "
                "INGEST_ALLOW_EVICTION=1 to accept the risk"
            )
        log.warning(
            "maxmemory-policy is %s and --allow-eviction is set: Redis MAY EVICT THE "
            "STREAM and lose events under memory pressure",
            policy,
        )
    return policy


def record_settings(client: redis.Redis, settings: ProducerSettings) -> bool:
    """Write the settings in effect to the stream's config hash (:attr:`StreamKeys.config`),
    so ``python -m ingest.stats`` shows the real cap and marks. Returns whether it was written.

    Fields (strings): ``maxlen``, ``high_water``, ``low_water`` (entries), ``no_group``,
    ``updated_at_ms`` (Unix ms). Not being allowed to write it (ACL ``NOPERM``, OOM) only
    warns: the settings are informational, admission gets them with every call.
    """
    key = StreamKeys(settings.stream).config
    fields = {
        "maxlen": settings.maxlen,
        "high_water": settings.high_water,
        "low_water": settings.watermark_low,
        "no_group": settings.no_group,
        "updated_at_ms": now_ms(),
    }
    try:
        client.hset(key, mapping=fields)  # type: ignore[arg-type]
    except redis.ResponseError as exc:
        log.warning("cannot record the producer settings in %s (%s); stats will show its own "
                    "--maxlen as the cap", key, exc)  # fmt: skip
        return False
    return True


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
    the rest. ``last_backlog`` holds the backlog seen by the last admission call.
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
        self.marks = Watermarks(settings.high_water, settings.watermark_low)
        self.gate = Gate(self.marks)
        self.last_backlog = 0
        self._sleep = sleep
        self._clock = clock
        self._tracer = telemetry.get_tracer(tracer_provider)
        self._should_stop = should_stop
        self._buffer: list[dict[str, str]] = []
        self._buffer_bytes = 0
        self._ready = False
        self.on_blocked: Callable[[float], None] | None = None
        """Called with the seconds of each backpressure pause (the metrics histogram)."""
        self.on_wait: Callable[[int, float], None] | None = None
        """Called before each backoff step of a pause with the backlog just seen (entries)
        and the seconds blocked so far in all (``stats.blocked_s`` plus this pause): the
        CLI's progress line. At most one call per step (10 ms doubling to 0.5 s): keep it
        cheap."""

    def prepare(self) -> None:
        """Check the maxmemory policy, load the admission function and record the settings in
        the stream's config hash (:func:`record_settings`); once, also done lazily.

        Raises:
            ConfigError: an ``allkeys-*`` policy without ``allow_eviction``.
            AdmissionUnavailable: the function is missing and may not be loaded by this user.
        """
        if self._ready:
            return
        check_eviction_policy(self.client, self.settings.allow_eviction)
        admission.ensure_loaded(self.client)
        record_settings(self.client, self.settings)
        self._ready = True

    def send(self, event: Event) -> None:
        """Encode ``event`` and buffer it; flushes when the buffer holds ``batch_size``.

        Raises:
            EventTooLarge: the payload exceeds ``max_event_bytes`` (nothing buffered).
            TypeError, ValueError: the payload is not JSON-serialisable.
            BackpressureTimeout, RedisUnavailable, ProducerStopped: from the flush.
        """
        self._push(encode(event, max_event_bytes=self.settings.max_event_bytes))

    def send_many(
        self, events: Iterable[Event], on_reject: Callable[[Event, Exception], None] | None = None
    ) -> int:
        """Send ``events``; return how many were accepted (buffered or sent).

        With ``on_reject``, an event that cannot be encoded (``EventTooLarge``, not JSON) is
        passed to it with the error, counted in ``stats.rejected`` and skipped; without it
        the error is raised. Errors of sending (backpressure, Redis) are always raised.
        """
        accepted = 0
        limit = self.settings.max_event_bytes
        for event in events:
            try:
                fields = encode(event, max_event_bytes=limit)
            except (EventTooLarge, TypeError, ValueError) as exc:
                if on_reject is None:
                    raise
                self.stats.rejected += 1
                on_reject(event, exc)
                continue
            self._push(fields)
            accepted += 1
        return accepted

    def _push(self, fields: dict[str, str]) -> None:
        self._buffer.append(fields)
        self._buffer_bytes += len(fields["data"])
        if len(self._buffer) >= self.settings.batch_size:
            self.flush()

    def flush(self) -> None:
        """Offer the buffered events as one batch, waiting on backpressure as needed."""
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
            self._admit(batch)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.end()
        self._buffer, self._buffer_bytes = [], 0
        self.stats.produced += len(batch)
        self.stats.bytes += size
        self.stats.batches += 1

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

    def _admit(self, batch: list[dict[str, str]]) -> None:
        waiter: Waiter | None = None
        try:
            while True:
                result = self._offer(batch)
                if result is not None:
                    self.last_backlog = result.backlog
                    self.gate.observe(result.admitted)
                    if result.admitted:
                        return
                if waiter is None:
                    waiter = Waiter(
                        self.marks, self.settings.max_block_s, sleep=self._sleep, clock=self._clock
                    )
                    self.stats.blocks += 1
                    log.info(
                        "backpressure: backlog %s, waiting for %s or less",
                        self.last_backlog,
                        self.marks.low,
                    )
                if self._should_stop():
                    raise ProducerStopped("stop requested while waiting on backpressure")
                if self.on_wait is not None:
                    self.on_wait(self.last_backlog, self.stats.blocked_s + waiter.elapsed_s)
                waiter.wait(self.last_backlog)
        finally:
            if waiter is not None:
                self.stats.blocked_s += waiter.elapsed_s
                if self.on_blocked is not None:
                    self.on_blocked(waiter.elapsed_s)

    def _offer(self, batch: list[dict[str, str]]) -> admission.Admission | None:
        """One admission call; ``None`` after an OOM reply (wait as for backpressure)."""
        deadline = ConnectDeadline(self.settings.redis, first_s=0.05, clock=self._clock)
        while True:
            try:
                return admission.admit(
                    self.client,
                    self.settings.stream,
                    batch,
                    maxlen=self.settings.maxlen,
                    limit=self.gate.limit,
                    no_group=self.settings.no_group,
                )
            except redis.exceptions.OutOfMemoryError:
                self.stats.oom_waits += 1
                self.gate.observe(False)
                return None
            except redis.ResponseError as exc:
                # A restarted server without persistence, or a FUNCTION FLUSH: load it again.
                if "function not found" not in str(exc).lower():
                    raise
                admission.ensure_loaded(self.client)
            except CONNECTION_ERRORS as exc:
                wait_s = deadline.next_wait(exc)
                self.stats.retries += 1
                log.warning("Redis connection error (%s); re-sending the batch", exc)
                self._sleep(wait_s)
