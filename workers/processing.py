"""One work item from read to settlement: decide, run the handler, retry, settle.

A work item is a list of deliveries (one for per-event handlers, a batch otherwise). A
batch call that fails as a whole (raises anything, ``PermanentError`` included, or returns
something other than ``None`` or one outcome per event) names no culprit, so its events are
re-run one by one, each with its own retry state (``--retry-attempts`` attempts).

Settling: success -> acknowledgement buffer; ``PermanentError`` or a decode error -> the
dead-letter stream at once; a transient error after the in-process retries -> one more
failed attempt in the attempts hash, the entry stays pending (dropped from the held set, so
it becomes claimable after ``--min-idle``) until ``--max-deliveries`` failed attempts move it
to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio
from opentelemetry import trace

from ingest.connection import CONNECTION_ERRORS
from ingest.keys import StreamKeys
from ingest.logs import ENTRY_ID, EVENT_ID, span_fields
from workers.acks import AckBuffer
from workers.dead_letter import (
    REASON_DECODE,
    REASON_MAX_DELIVERIES,
    REASON_PERMANENT,
    DeadLetter,
    dead_letter,
    should_dead_letter,
)
from workers.delivery import Delivery
from workers.handlers import BatchFailure, BatchResult, LoadedHandler, Outcomes
from workers.holding import Holding
from workers.retrying import build_retrying, is_transient
from workers.settings import WorkerSettings
from workers.stats import Hooks, Stats
from workers.tracing import DeliveryTracer
from workers.wording import agree, plural

log = logging.getLogger(__name__)

REDIS_ERRORS: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, redis.ResponseError)


def _log_handled(done: list[Delivery]) -> None:
    # Per-event records only at DEBUG: a line per event at INFO costs a worker real CPU.
    for d in done:
        log.debug(
            "handled entry %s (event %s)",
            d.entry_id,
            d.event_id,
            extra={ENTRY_ID: d.entry_id, EVENT_ID: d.event_id, **span_fields(d.span)},
        )


class _Once:
    """True the first time only: one ERROR line per batch for a broken return contract."""

    def __init__(self) -> None:
        self.done = False

    def first(self) -> bool:
        first, self.done = not self.done, True
        return first


class Processor:
    """Runs work items through the handler and settles every delivery.

    Args:
        client, keys, settings: Redis access and the worker's settings.
        handler: the loaded handler.
        holding, acks: held entries and the acknowledgement buffer.
        stats, hooks, tracer: counters, measurement hooks, spans.
        sleep: awaitable sleep for retry waits (tests inject one).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        keys: StreamKeys,
        settings: WorkerSettings,
        handler: LoadedHandler,
        holding: Holding,
        acks: AckBuffer,
        stats: Stats,
        hooks: Hooks,
        tracer: DeliveryTracer,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.settings = settings
        self.handler = handler
        self.holding = holding
        self.acks = acks
        self.stats = stats
        self.hooks = hooks
        self.tracer = tracer
        self.sleep = sleep

    async def process(self, items: list[Delivery]) -> None:
        """Decide, handle and settle ``items``; never raises for handler or Redis errors."""
        self.tracer.start(items)
        letters: list[DeadLetter] = []
        runnable: list[Delivery] = []
        for d in items:
            reason = should_dead_letter(d, self.settings.max_deliveries)
            if reason is None:
                runnable.append(d)
            else:
                letters.append(DeadLetter(d, reason, d.decode_error))
                if reason == REASON_DECODE:
                    self.stats.decode_errors += 1
        if runnable:
            outcomes = await self._run(runnable)
            done: list[Delivery] = []
            failed: list[tuple[Delivery, BaseException]] = []
            for d, outcome in zip(runnable, outcomes, strict=True):
                if outcome is None:
                    done.append(d)
                elif is_transient(outcome):
                    failed.append((d, outcome))
                else:
                    letters.append(DeadLetter(d, REASON_PERMANENT, outcome))
            if done:
                self.acks.add(done)
                if log.isEnabledFor(logging.DEBUG):
                    _log_handled(done)
            if failed:
                letters += await self._count_failures(failed)
        if letters:
            await self._dead_letter(letters)

    async def _run(self, deliveries: list[Delivery]) -> Outcomes:
        """Call the handler, retry what failed; one final outcome per delivery.

        A batch that failed as a whole (raised, or broke the return contract) names no
        culprit: its events are re-run one by one, each with its own retry state, and only
        an error for a single event (say a ``PermanentError``) settles that event.
        """
        once = _Once()
        result = await self._call(deliveries, once)
        if isinstance(result, BatchFailure):
            if len(deliveries) > 1:
                self.tracer.batch_failed(deliveries, result.cause)
                return list(
                    await asyncio.gather(*(self._retry_one(d, None, once) for d in deliveries))
                )
            result = [result.cause]
        await self._retry_failures(deliveries, result, once)
        return result

    async def _call(self, deliveries: list[Delivery], once: _Once) -> BatchResult:
        events = [d.event for d in deliveries if d.event is not None]
        self.stats.in_flight += len(events)
        started = time.perf_counter()
        span = deliveries[0].span
        try:
            if span is None:
                result = await self.handler.call(events)
            else:
                # The sink's spans (and a handler's own) become children of a process span.
                with trace.use_span(span, end_on_exit=False):
                    result = await self.handler.call(events)
        finally:
            self.stats.in_flight -= len(events)
        if self.hooks.handler_duration is not None:
            self.hooks.handler_duration(time.perf_counter() - started, len(events))
        if isinstance(result, BatchFailure):
            self.stats.handler_errors += len(events)
            if result.contract_broken and once.first():
                log.error("%s", result.cause)
        else:
            self.stats.handler_errors += sum(1 for o in result if o is not None)
        return result

    async def _retry_failures(
        self, deliveries: list[Delivery], outcomes: Outcomes, once: _Once
    ) -> None:
        """Retry transient failures one delivery at a time, each with its own tenacity state.

        Runs only on the failure path, so the per-delivery tasks cost nothing normally.
        """
        if self.settings.retry_attempts <= 1:
            return
        todo = [i for i, o in enumerate(outcomes) if o is not None and is_transient(o)]
        if not todo:
            return
        results = await asyncio.gather(
            *(self._retry_one(deliveries[i], outcomes[i], once) for i in todo)
        )
        for i, result in zip(todo, results, strict=True):
            outcomes[i] = result

    async def _retry_one(
        self, delivery: Delivery, first: BaseException | None, once: _Once
    ) -> BaseException | None:
        """Run ``delivery`` alone for up to ``--retry-attempts`` attempts; returns its outcome.

        ``first`` is the failure of an attempt already made (the call that returned it is
        attempt 1); ``None`` starts afresh with the handler called at once.
        """

        def on_retry(attempt: int, exc: BaseException, wait_s: float) -> None:
            self.stats.retried += 1
            DeliveryTracer.retry(delivery, attempt, exc, wait_s)

        retrying = build_retrying(
            self.settings.retry_attempts,
            self.settings.retry_initial_s,
            self.settings.retry_max_s,
            sleep=self.sleep,
            on_retry=on_retry,
        )
        known = first
        outcome: BaseException | None
        try:
            async for attempt in retrying:
                with attempt:
                    if known is not None:
                        # tenacity counts the attempt already made and waits before the next.
                        outcome, known = known, None
                    else:
                        result = await self._call([delivery], once)
                        outcome = result.cause if isinstance(result, BatchFailure) else result[0]
                    if isinstance(outcome, Exception):
                        raise outcome
                    if outcome is not None:
                        return outcome  # a BaseException instance returned, not raised
        except Exception as exc:
            return exc
        return None

    async def _count_failures(
        self, failed: list[tuple[Delivery, BaseException]]
    ) -> list[DeadLetter]:
        """Add one failed attempt per delivery (``HINCRBY``, pipelined); those reaching
        ``--max-deliveries`` come back as dead letters, the rest are left pending."""
        attempts_key = self.keys.attempts(self.settings.group)
        try:
            pipe = self.client.pipeline(transaction=False)
            for d, _ in failed:
                pipe.hincrby(attempts_key, d.entry_id, 1)
            counts = await pipe.execute()
        except REDIS_ERRORS as exc:
            log.warning("could not record %s: %s", plural(len(failed), "failed attempt"), exc)
            counts = [d.failed_attempts + 1 for d, _ in failed]
        letters: list[DeadLetter] = []
        left: list[Delivery] = []
        for (d, error), count in zip(failed, counts, strict=True):
            d.failed_attempts = int(count)
            d.has_record = True
            self.stats.failed_attempts += 1
            if d.failed_attempts >= self.settings.max_deliveries:
                letters.append(DeadLetter(d, REASON_MAX_DELIVERIES, error))
            else:
                left.append(d)
                DeliveryTracer.end(d, "failed", error)
        if left:
            self.holding.leave_pending(left)
            log.warning(
                "%s failed after %s and %s pending (first: %s %s: %s)",
                plural(len(left), "entry", "entries"),
                plural(self.settings.retry_attempts, "attempt"),
                agree(len(left), "stays", "stay"),
                left[0].entry_id,
                type(failed[0][1]).__name__,
                failed[0][1],
            )
        return letters

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        ids = [letter.delivery.entry_id for letter in letters]
        self.holding.settling.update(ids)
        try:
            added = await dead_letter(
                self.client, self.keys, self.settings.group, self.settings.consumer, letters
            )
        except REDIS_ERRORS as exc:
            # Still pending in the PEL: dropping it from the held set lets a later claim
            # decide again.
            log.warning(
                "could not dead-letter %s: %s", plural(len(letters), "entry", "entries"), exc
            )
            self.holding.leave_pending(letter.delivery for letter in letters)
            return
        finally:
            self.holding.settling.difference_update(ids)
        self.holding.drop(letter.delivery for letter in letters)
        for letter, dead_id in zip(letters, added, strict=True):
            d = letter.delivery
            if dead_id is None:
                log.warning(
                    "entry %s no longer ours (claimed and settled elsewhere); not dead-lettered",
                    d.entry_id,
                    extra={ENTRY_ID: d.entry_id, EVENT_ID: d.event_id, **span_fields(d.span)},
                )
                self.stats.stolen += 1
                DeliveryTracer.end(d, "claimed-elsewhere")
                continue
            self.stats.dead_lettered += 1
            log.warning(
                "dead-lettered entry %s (event %s) after %s: %s: %s",
                d.entry_id,
                d.event_id,
                plural(d.delivery_count, "delivery", "deliveries"),
                letter.reason,
                letter.error,
                extra={ENTRY_ID: d.entry_id, EVENT_ID: d.event_id, **span_fields(d.span)},
            )
            DeliveryTracer.end(d, "dead-lettered", letter.error)
