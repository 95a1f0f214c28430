"""One admit-and-wait: offer a batch to the admission function until it is in the stream.

Used by the producer (:class:`ingest.producer.Producer`) and made to fit a dead-letter replay
(offer a batch of field dicts, get its entry IDs). Every way a batch can be held up is handled
here, once:

* **backpressure** (reason ``high-water`` or ``cap``), and the refusals that hold writes back
  (:mod:`ingest.refusals`, budget ``block``: ``OOM`` under ``noeviction``, ``NOREPLICAS``
  under ``min-replicas-to-write``): wait with capped backoff
  (:class:`~ingest.backpressure.Waiter`, 10 ms doubling to 0.5 s) and offer it again until the
  backlog is at or below the low-water mark and Redis takes writes, for up to
  ``max_block_s``; then :class:`Blocked` (a :class:`~ingest.errors.BackpressureTimeout` that
  names what holds the producer back);
* **the function is missing or outdated** (a restart without persistence, ``FUNCTION FLUSH``):
  load it again (:func:`ingest.library.ensure_loaded`) and re-send at once;
* **a connection error or timeout, or a refusal of budget** ``outage`` (``LOADING``,
  ``BUSY``, ``READONLY`` from a demoted primary, ``MASTERDOWN``, ``TRYAGAIN``,
  ``CLUSTERDOWN`` ...; the reconnect kinds drop the pool's connections first, so a Sentinel
  client asks for the primary again): the batch is re-sent with capped backoff (50 ms doubling
  to 2 s) for up to ``connect_timeout_s`` after the first error, then
  :class:`~ingest.errors.RedisUnavailable` (:class:`~ingest.errors.Refused` after refusals).
  Each re-send is logged with its cause and counted (``retries``). It is idempotent: every
  batch carries this admitter's producer id and a sequence number
  (:class:`~ingest.admission.BatchId`), and the function answers a batch it has already
  admitted with the IDs it gave it (``repeats``), so a batch whose first send landed and whose
  reply was lost is not appended twice. After a failover that lost the batch (the new primary
  never got it) the re-send appends it: exactly once on the primary that now serves.
* **durable produce** (:meth:`Admitter.require`, :mod:`ingest.durable`): an admitted batch is
  done only once enough replicas acknowledged it, asked on the connection that wrote it; a
  connection error meanwhile re-sends it as above; too few replicas in time raises
  :class:`~ingest.errors.NotDurable`.

Lag counters the function proved stale (a phantom backlog after a Redis restart) are logged
once per group, with whether they were repaired.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

import redis

from ingest import admission
from ingest.backpressure import Gate, Limits, Waiter
from ingest.blocked import Blocked, describe_block
from ingest.durable import Confirmer, Durability
from ingest.errors import BackpressureTimeout
from ingest.refusals import REFUSALS, describe
from ingest.resending import AdmitStats, Sender, Stopped
from ingest.settings import RedisSettings

__all__ = ["MIN_PRODUCER_TTL_MS", "AdmitStats", "Admitter", "Limits", "Stopped"]

log = logging.getLogger(__name__)

MIN_PRODUCER_TTL_MS = 600_000
"""Shortest time the server remembers a producer's last batch, ms (10 minutes)."""


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
        self.sender = Sender(
            client, stream, limits, redis=redis, stats=self.stats, sleep=sleep, clock=clock
        )

    def require(self, durability: Durability | None) -> None:
        """Confirm every admitted batch durable (:mod:`ingest.durable`), or no more (``None``)."""
        if durability is None:
            self.sender.confirmer = None
            return
        self.sender.confirmer = Confirmer(
            self.client,
            durability,
            self.stream,
            clock=self._clock,
            should_stop=self._should_stop,
        )

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
            Refused: an ``outage`` refusal lasted ``connect_timeout_s``.
            NotDurable: durable produce is on and too few replicas acknowledged the batch.
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
                result = self.sender.offer(batch, batch_id, self.gate.limit)
                if result is None:  # a refusal that holds writes back (OOM, NOREPLICAS)
                    self.gate.observe(False)
                if result is not None:
                    self._observe(result)
                    if result.admitted:
                        return self._admitted(result, batch_id.seq, len(batch))
                waiter = waiter or self._start_waiting(refused=result is None)
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

    def _start_waiting(self, refused: bool) -> Waiter:
        self.stats.blocks += 1
        if refused:
            code = self.sender.held_back
            log.warning(
                "backpressure: Redis refuses writes: %s; waiting up to %g s",
                describe(REFUSALS[code]) if code in REFUSALS else code,
                self.limits.max_block_s,
            )
        else:
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
            reason = self.sender.held_back.lower() if result is None else result.reason
            detail = describe_block(self.client, self.stream, reason, self.limits)
            raise Blocked(exc, reason=reason, detail=detail) from None

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
