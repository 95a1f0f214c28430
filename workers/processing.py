"""Running a work item through the handler: calls, in-process retries, timeouts; one
:class:`~workers.verdict.Outcome` per delivery. Settling them is the ledger's job.

A work item is a list of deliveries (one for per-event handlers, a batch otherwise). A batch
call that fails as a whole (raises anything, ``PermanentError`` included, or returns something
other than ``None`` or one outcome per event) names no culprit, so its events are re-run one by
one, each with its own retry state (``--retry-attempts`` attempts).

Every handler call is bounded by ``--handler-timeout``: an async call is cancelled; a sync call
(in a thread, which cannot be killed) is abandoned: its outcome is a timeout at once, and the
slot waits for the thread before it takes more work. A timeout is not retried in process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from ingest.codec import Event
from workers.delivery import Delivery
from workers.errors import HandlerTimeout
from workers.handlers import BatchFailure, BatchResult, LoadedHandler, Outcomes
from workers.retrying import build_retrying, is_transient
from workers.settings import WorkerSettings
from workers.slots import Slot
from workers.stats import Hooks, Stats
from workers.tracing import DeliveryTracer
from workers.verdict import SUCCEEDED, Kind, Outcome

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Run:
    """One work item's bookkeeping: the slot, timed-out calls still running, and whether the
    broken-contract ERROR was logged (once per work item)."""

    slot: Slot
    abandoned: list[asyncio.Future[Any]] = field(default_factory=list)
    contract_logged: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """What running a work item gave: one outcome per delivery, and the timed-out calls that
    still run (the slot waits for them)."""

    outcomes: list[Outcome]
    abandoned: list[asyncio.Future[Any]]


def outcome_of(value: BaseException | None) -> Outcome:
    """A handler's per-event result as an :class:`Outcome`."""
    if value is None:
        return SUCCEEDED
    if isinstance(value, HandlerTimeout):
        return Outcome(Kind.TIMED_OUT, value)
    return Outcome(Kind.FAILED, value)


class Processor:
    """Runs work items through the handler.

    Args:
        handler: the loaded handler.
        stats, hooks: counters and measurement hooks.
        retry_attempts, retry_initial_s, retry_max_s: in-process retries (tenacity).
        timeout_s: ``--handler-timeout`` per handler call, seconds.
        sleep: awaitable sleep for retry waits (tests inject one).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        handler: LoadedHandler,
        stats: Stats,
        hooks: Hooks,
        *,
        retry_attempts: int,
        retry_initial_s: float,
        retry_max_s: float,
        timeout_s: float,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.handler = handler
        self.stats = stats
        self.hooks = hooks
        self.retry_attempts = retry_attempts
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.clock = clock

    @classmethod
    def for_settings(
        cls,
        handler: LoadedHandler,
        s: WorkerSettings,
        stats: Stats,
        hooks: Hooks,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> Processor:
        """A processor with the retry and timeout settings of ``s``."""
        return cls(
            handler,
            stats,
            hooks,
            retry_attempts=s.retry_attempts,
            retry_initial_s=s.retry_initial_s,
            retry_max_s=s.retry_max_s,
            timeout_s=s.handler_timeout_s,
            sleep=sleep,
        )

    async def run(self, items: list[Delivery], slot: Slot) -> Result:
        """Handle ``items`` (each has an event); never raises for handler errors."""
        run = _Run(slot)
        result = await self._call(items, run)
        if isinstance(result, BatchFailure):
            if isinstance(result.cause, HandlerTimeout) or len(items) == 1:
                outcomes: Outcomes = [result.cause] * len(items)
            else:
                DeliveryTracer.batch_failed(items, result.cause)
                outcomes = list(
                    await asyncio.gather(*(self._retry_one(d, None, run) for d in items))
                )
                return Result([outcome_of(o) for o in outcomes], run.abandoned)
        else:
            outcomes = result
        await self._retry_failures(items, outcomes, run)
        return Result([outcome_of(o) for o in outcomes], run.abandoned)

    async def _call(self, deliveries: list[Delivery], run: _Run) -> BatchResult:
        events: list[Event] = [d.event for d in deliveries if d.event is not None]
        self.stats.in_flight += len(events)
        started = time.perf_counter()
        run.slot.calling(self.clock())
        span = deliveries[0].span
        try:
            if span is None:
                result = await self._bounded(events, run)
            else:
                # The sink's spans (and a handler's own) become children of a process span.
                with trace.use_span(span, end_on_exit=False):
                    result = await self._bounded(events, run)
        finally:
            self.stats.in_flight -= len(events)
            run.slot.called()
        if self.hooks.handler_duration is not None:
            self.hooks.handler_duration(time.perf_counter() - started, len(events))
        if isinstance(result, BatchFailure):
            self.stats.handler_errors += len(events)
            if result.contract_broken and not run.contract_logged:
                run.contract_logged = True
                log.error("%s", result.cause)
        else:
            self.stats.handler_errors += sum(1 for o in result if o is not None)
        return result

    async def _bounded(self, events: list[Event], run: _Run) -> BatchResult:
        """The handler call, bounded by ``timeout_s`` (see the module docstring)."""
        call = self.handler.call(events)
        if self.handler.is_async:
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await call
            except TimeoutError:
                return BatchFailure(HandlerTimeout(self.timeout_s))
        task = asyncio.ensure_future(call)
        done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        if done:
            return task.result()
        run.abandoned.append(task)
        return BatchFailure(HandlerTimeout(self.timeout_s))

    async def _retry_failures(
        self, deliveries: list[Delivery], outcomes: Outcomes, run: _Run
    ) -> None:
        """Retry transient failures one delivery at a time, each with its own tenacity state.

        Runs only on the failure path, so the per-delivery tasks cost nothing normally.
        """
        if self.retry_attempts <= 1:
            return
        todo = [i for i, o in enumerate(outcomes) if o is not None and is_transient(o)]
        if not todo:
            return
        results = await asyncio.gather(
            *(self._retry_one(deliveries[i], outcomes[i], run) for i in todo)
        )
        for i, result in zip(todo, results, strict=True):
            outcomes[i] = result

    async def _retry_one(
        self, delivery: Delivery, first: BaseException | None, run: _Run
    ) -> BaseException | None:
        """Run ``delivery`` alone for up to ``--retry-attempts`` attempts; returns its outcome.

        ``first`` is the failure of an attempt already made (the call that returned it is
        attempt 1); ``None`` starts afresh with the handler called at once.
        """

        def on_retry(attempt: int, exc: BaseException, wait_s: float) -> None:
            self.stats.retried += 1
            DeliveryTracer.retry(delivery, attempt, exc, wait_s)

        retrying = build_retrying(
            self.retry_attempts,
            self.retry_initial_s,
            self.retry_max_s,
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
                        result = await self._call([delivery], run)
                        outcome = result.cause if isinstance(result, BatchFailure) else result[0]
                    if isinstance(outcome, Exception):
                        raise outcome
                    if outcome is not None:
                        return outcome  # a BaseException instance returned, not raised
        except Exception as exc:
            return exc
        return None
