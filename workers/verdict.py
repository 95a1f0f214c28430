"""The one rule deciding what happens to a delivery (pure: no I/O, no clock).

Every path asks it: the read and the claim (before the handler: run it, or dead-letter an
entry that cannot or must not run), the handler's result (after in-process retries), a
handler timeout, the shutdown (release) and a failed loop (crash accounting).

+---------------------+--------------------------------------------------------------------+
| outcome             | verdict                                                            |
+=====================+====================================================================+
| fresh (not yet run) | refused entry -> dead-letter ``decode`` / ``too_large``; earlier   |
|                     | crashes >= ``max_crashes`` -> dead-letter ``crashed``; failed      |
|                     | attempts >= ``max_deliveries`` -> dead-letter ``max-deliveries``;  |
|                     | else run                                                           |
| succeeded           | acknowledge                                                        |
| failed              | ``PermanentError`` -> dead-letter ``permanent``; else one more      |
|                     | failed attempt: at ``max_deliveries`` dead-letter                  |
|                     | ``max-deliveries``, else leave pending (delivered again after      |
|                     | ``--min-idle``)                                                    |
| timed out           | a failed attempt like any other, but the reason is ``timeout``     |
| interrupted         | release, counted as an interruption (shutdown, read-ahead bound)   |
| crashed             | release, not counted: the next delivery counts it as a crash       |
+---------------------+--------------------------------------------------------------------+

Sources of the crash rule: BullMQ's ``maxStalledCount`` and Sidekiq's poison-pill detection
(a job that keeps taking its process down is set aside after a few tries).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from workers.delivery import FIRST, REASON_DECODE, REASON_TOO_LARGE, Delivery, History
from workers.retrying import is_transient

REASON_PERMANENT = "permanent"
REASON_MAX_DELIVERIES = "max-deliveries"
REASON_TIMEOUT = "timeout"
REASON_CRASHED = "crashed"
REASONS = (
    REASON_DECODE,
    REASON_TOO_LARGE,
    REASON_PERMANENT,
    REASON_MAX_DELIVERIES,
    REASON_TIMEOUT,
    REASON_CRASHED,
)
"""Every ``dead_reason`` the worker writes."""


class Action(enum.Enum):
    """What the ledger does with a delivery."""

    RUN = "run"
    ACK = "ack"
    LEAVE_PENDING = "leave-pending"
    DEAD_LETTER = "dead-letter"
    RELEASE = "release"


class Kind(enum.Enum):
    """How a delivery's handling ended (or that it has not started)."""

    FRESH = "fresh"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """``kind`` and, for failures, the exception behind it."""

    kind: Kind
    error: BaseException | None = None


FRESH = Outcome(Kind.FRESH)
SUCCEEDED = Outcome(Kind.SUCCEEDED)
INTERRUPTED = Outcome(Kind.INTERRUPTED)
CRASHED = Outcome(Kind.CRASHED)


@dataclass(frozen=True, slots=True)
class Limits:
    """Attributes: ``max_deliveries`` (failed attempts, >= 1) and ``max_crashes`` (crashed
    deliveries, >= 1) before an entry is dead-lettered."""

    max_deliveries: int = 5
    max_crashes: int = 2


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a delivery.

    Attributes:
        action: the action.
        reason: the dead-letter reason (``REASONS``), or for ``LEAVE_PENDING`` why the
            attempt failed (``failed`` or ``timeout``).
        error: the exception behind it, if any.
        interrupted: for ``RELEASE``: count the delivery as an interruption (True) or leave it
            to be counted as a crash (False).
        counts_failure: this delivery is one more failed attempt (the handler failed or
            timed out).
    """

    action: Action
    reason: str = ""
    error: BaseException | None = None
    interrupted: bool = False
    counts_failure: bool = False


RUN = Verdict(Action.RUN)
ACK = Verdict(Action.ACK)


def _failed(history: History, limits: Limits, error: BaseException | None, why: str) -> Verdict:
    if history.failed + 1 >= limits.max_deliveries:
        reason = REASON_TIMEOUT if why == REASON_TIMEOUT else REASON_MAX_DELIVERIES
        return Verdict(Action.DEAD_LETTER, reason, error, counts_failure=True)
    return Verdict(Action.LEAVE_PENDING, why, error, counts_failure=True)


def verdict(delivery: Delivery, outcome: Outcome, history: History, limits: Limits) -> Verdict:
    """Decide what happens to ``delivery`` after ``outcome`` (see the module table).

    Args:
        delivery: the delivery (its refusal, if any).
        outcome: how its handling ended, or :data:`FRESH` before the handler.
        history: its earlier deliveries (failed attempts counted before this one).
        limits: ``max_deliveries`` and ``max_crashes``.
    """
    kind = outcome.kind
    if kind is Kind.SUCCEEDED:
        return ACK
    if kind is Kind.FRESH and delivery.refusal is None and history is FIRST:
        return RUN  # a first delivery (the hot path): nothing below can apply
    if kind is Kind.FRESH:
        if delivery.refusal is not None:
            refusal = delivery.refusal
            return Verdict(Action.DEAD_LETTER, refusal.reason, refusal.error)
        if history.crashes >= limits.max_crashes:
            return Verdict(Action.DEAD_LETTER, REASON_CRASHED)
        if history.failed >= limits.max_deliveries:
            return Verdict(Action.DEAD_LETTER, REASON_MAX_DELIVERIES)
        return RUN
    if kind is Kind.FAILED:
        error = outcome.error
        if error is not None and not is_transient(error):
            return Verdict(Action.DEAD_LETTER, REASON_PERMANENT, error)
        return _failed(history, limits, error, "failed")
    if kind is Kind.TIMED_OUT:
        return _failed(history, limits, outcome.error, REASON_TIMEOUT)
    return Verdict(Action.RELEASE, interrupted=kind is Kind.INTERRUPTED)


def dead_letter_message(delivery: Delivery, verdict_: Verdict, limits: Limits) -> str:
    """The ``dead_error`` text when no exception carries one."""
    if verdict_.error is not None:
        return str(verdict_.error)
    history = delivery.history
    if verdict_.reason == REASON_CRASHED:
        return (
            f"{history.crashes} earlier deliveries ended with the worker dying or its loop "
            f"failing while it held the entry (--max-crashes {limits.max_crashes})"
        )
    return f"{history.failed} failed attempts (--max-deliveries {limits.max_deliveries})"
