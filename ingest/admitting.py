"""One admit-and-wait: offer a batch to the admission function until it is in the stream.

Used by the producer (:class:`ingest.producer.Producer`) and made to fit a dead-letter replay
(offer a batch of field dicts, get its entry IDs). Every way a batch can be held up is handled
here, once:

* **backpressure** (reason ``high-water`` or ``cap``) and **OOM** replies under ``noeviction``:
  wait with capped backoff (:class:`~ingest.backpressure.Waiter`, 10 ms doubling to 0.5 s) and
  offer it again until the backlog is at or below the low-water mark, for up to
  ``max_block_s``; then :class:`Blocked` (a :class:`~ingest.errors.BackpressureTimeout` that
  names what holds the backlog);
* **the function is missing or outdated** (a restart without persistence, ``FUNCTION FLUSH``):
  load it again (:func:`ingest.library.ensure_loaded`) and re-send at once;
* **a connection error or timeout**: the batch is re-sent with capped backoff (50 ms doubling
  to 2 s) for up to ``connect_timeout_s`` after the first error, then
  :class:`~ingest.errors.RedisUnavailable`. Each re-send is logged with its cause and counted
  (``retries``). It is idempotent: every batch carries this admitter's producer id and a
  sequence number (:class:`~ingest.admission.BatchId`), and the function answers a batch it
  has already admitted with the IDs it gave it (``repeats``), so a batch whose first send
  landed and whose reply was lost is not appended twice.

Lag counters the function proved stale (a phantom backlog after a Redis restart) are logged
once per group, with whether they were repaired.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis

from ingest import admission
from ingest.backpressure import Gate, Limits, Waiter
from ingest.blocked import Blocked, describe_block
from ingest.connection import CONNECTION_ERRORS, ConnectDeadline
from ingest.errors import BackpressureTimeout, IngestError
from ingest.settings import RedisSettings

log = logging.getLogger(__name__)

MIN_PRODUCER_TTL_MS = 600_000
"""Shortest time the server remembers a producer's last batch, ms (10 minutes)."""


class Stopped(IngestError):
    """A stop was requested while waiting; the batch was not admitted."""


@dataclass(slots=True)
class AdmitStats:
    """Counters of an :class:`Admitter` (plain numbers; cheap to update and read).

    Attributes:
        batches: batches admitted.
        blocked_s: seconds spent waiting on backpressure or OOM.
        blocks: blocking episodes (a refused batch starts one; its admission ends it).
        oom_waits: OOM replies waited out.
        retries: batches re-sent after a connection error or timeout.
        repeats: entries of re-sent batches the function found already in the stream (their
            first send had landed; not appended again).
    """

    batches: int = 0
    blocked_s: float = 0.0
    blocks: int = 0
    oom_waits: int = 0
    retries: int = 0
    repeats: int = 0


def producer_ttl_ms(settings: RedisSettings) -> int:
    """How long the server remembers a producer's last batch: four times the longest re-send
    window (``connect_timeout_s + socket_timeout_s``), at least :data:`MIN_PRODUCER_TTL_MS`."""
    window_ms = int((settings.connect_timeout_s + settings.socket_timeout_s) * 1000)
    return max(MIN_PRODUCER_TTL_MS, 4 * window_ms)


class Admitter:
    """Admits batches into one stream, waiting and re-sending as the module docstring says.

    Args:
        client: a ``redis.Redis`` with ``decode_responses=True``.
        stream: the stream key.
        limits: cap, marks, no-group mode, longest wait.
        redis: the URL (shown redacted in errors) and the re-send window
            (``connect_timeout_s``).
        stats: counters to update (default a fresh :class:`AdmitStats`).
        producer_id: names this producer's key on the server; default a random 16-hex id.
        sleep, clock: injected (``time.sleep``, ``time.monotonic``).
        should_stop: polled while waiting on backpressure; ``True`` ends the wait with
            :class:`Stopped`.

    Attributes:
        last_backlog: the backlog the last admission call saw, entries.
        on_wait: called before each backoff step of a pause with the backlog just seen
            (entries) and the seconds blocked so far in all (``stats.blocked_s`` plus this
            pause); at most one call per step: keep it cheap.
        on_blocked: called with the seconds of each pause when it ends.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        limits: Limits,
        *,
        redis: RedisSettings,
        stats: AdmitStats | None = None,
        producer_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client, self.stream, self.limits, self.redis = client, stream, limits, redis
        self.stats = stats if stats is not None else AdmitStats()
        self.producer_id = producer_id or uuid.uuid4().hex[:16]
        self.gate = Gate(limits.marks)
        self.last_backlog = 0
        self.on_wait: Callable[[int, float], None] | None = None
        self.on_blocked: Callable[[float], None] | None = None
        self._sleep, self._clock, self._should_stop = sleep, clock, should_stop
        self._ttl_ms = producer_ttl_ms(redis)
        self._holder = ""  # the group with the largest backlog at the last call
        self._seq = 0
        self._unfinished: tuple[Sequence[Mapping[str, str]], int] | None = None
        self._reported: set[str] = set()

    def admit(self, batch: Sequence[Mapping[str, str]]) -> admission.Admission:
        """Offer ``batch`` (entry fields, at least one field each) until it is admitted.

        Returns:
            The admitting reply: ``first_id``/``last_id`` are the batch's entry IDs (they
            are consecutive in the stream); ``repeat`` when a re-send found it already in.

        Offering the same batch object again after this raised keeps its sequence number,
        so a batch that landed before the error is not appended twice.

        Raises:
            Blocked: refused for longer than ``max_block_s``; names what holds the backlog.
            RedisUnavailable: no reply for ``connect_timeout_s`` after the first error.
            Stopped: ``should_stop`` turned true while waiting.
            ConfigError: Redis refused the credentials on a reconnect.
            AdmissionUnavailable: the function is missing and may not be loaded.
        """
        if self._unfinished is not None and self._unfinished[0] is batch:
            seq = self._unfinished[1]
        else:
            self._seq += 1
            seq = self._seq
        self._unfinished = (batch, seq)
        batch_id = admission.BatchId(self.producer_id, seq, self._ttl_ms)
        waiter: Waiter | None = None
        try:
            while True:
                result = self._offer(batch, batch_id)
                if result is not None:
                    self._observe(result)
                    if result.admitted:
                        return self._admitted(result, batch_id.seq, len(batch))
                waiter = waiter or self._start_waiting()
                if self._should_stop():
                    raise Stopped("stop requested while waiting on backpressure")
                if self.on_wait is not None:
                    self.on_wait(self.last_backlog, self.stats.blocked_s + waiter.elapsed_s)
                self._wait(waiter, result)
        finally:
            if waiter is not None:
                self.stats.blocked_s += waiter.elapsed_s
                if self.on_blocked is not None:
                    self.on_blocked(waiter.elapsed_s)

    def _observe(self, result: admission.Admission) -> None:
        self._report_repairs(result.repairs)
        if result.note == "no-idempotence" and "" not in self._reported:
            self._reported.add("")  # once
            log.warning(
                "this Redis user may not GET/SET %s: a batch re-sent after a lost reply may "
                "land twice (the sink deduplicates by event id); grant +get +set on that key",
                admission.producer_key(self.stream, self.producer_id),
            )
        if not result.repeat:
            self.last_backlog, self._holder = result.backlog, result.group
        self.gate.observe(result.admitted)

    def _admitted(self, result: admission.Admission, seq: int, size: int) -> admission.Admission:
        self._unfinished = None
        self.stats.batches += 1
        if result.repeat:
            self.stats.repeats += size
            log.warning(
                "batch %s (%s entries) was already in %s: its first send landed and only "
                "the reply was lost; not appended again",
                seq,
                size,
                self.stream,
            )
        return result

    def _start_waiting(self) -> Waiter:
        self.stats.blocks += 1
        log.info(
            "backpressure: backlog %s (largest in group %r), waiting for %s or less",
            self.last_backlog,
            self._holder or None,
            self.limits.marks.low,
        )
        return Waiter(
            self.limits.marks, self.limits.max_block_s, sleep=self._sleep, clock=self._clock
        )

    def _wait(self, waiter: Waiter, result: admission.Admission | None) -> None:
        try:
            waiter.wait(self.last_backlog)
        except BackpressureTimeout as exc:
            reason = "oom" if result is None else result.reason
            detail = describe_block(self.client, self.stream, reason, self.limits)
            raise Blocked(exc, reason=reason, detail=detail) from None

    def _offer(
        self, batch: Sequence[Mapping[str, str]], batch_id: admission.BatchId
    ) -> admission.Admission | None:
        """One admission call, re-sent after connection errors and a missing function;
        ``None`` after an OOM reply (wait as for backpressure)."""
        deadline: ConnectDeadline | None = None
        reloaded = False
        while True:
            try:
                return admission.admit(
                    self.client,
                    self.stream,
                    batch,
                    maxlen=self.limits.maxlen,
                    limit=self.gate.limit,
                    no_group=self.limits.no_group,
                    batch=batch_id,
                )
            except redis.exceptions.OutOfMemoryError:
                self.stats.oom_waits += 1
                self.gate.observe(False)
                return None
            except redis.ResponseError as exc:
                if reloaded or not _library_missing(exc):
                    raise
                admission.ensure_loaded(self.client)
                reloaded = True
            except CONNECTION_ERRORS as exc:
                # The re-send window starts at the first error: one call may take up to the
                # socket timeout (a paused server) before it fails.
                deadline = deadline or ConnectDeadline(self.redis, first_s=0.05, clock=self._clock)
                wait_s = deadline.next_wait(exc)
                self.stats.retries += 1
                log.warning(
                    "re-sending batch %s (%s entries) to %s in %.2f s after %s: %s",
                    batch_id.seq,
                    len(batch),
                    self.stream,
                    wait_s,
                    type(exc).__name__,
                    exc,
                )
                self._sleep(wait_s)

    def _report_repairs(self, repairs: Sequence[admission.Repair]) -> None:
        for repair in repairs:
            if repair.group in self._reported:
                continue
            self._reported.add(repair.group)
            outcome = (
                "repaired it (XGROUP SETID ... ENTRIESREAD)"
                if repair.repaired
                else "could not repair it (this Redis user lacks +xgroup|setid); the backlog "
                "rule counts the real backlog regardless"
            )
            log.warning(
                "consumer group %r on %s: Redis' lag counter said %s entries, %s are really "
                "undelivered (stale, as after a restart from a rewritten AOF); %s",
                repair.group,
                self.stream,
                repair.redis_lag,
                repair.undelivered,
                outcome,
            )


def _library_missing(exc: redis.ResponseError) -> bool:
    text = str(exc).lower()
    return "function not found" in text or "caller speaks protocol" in text
