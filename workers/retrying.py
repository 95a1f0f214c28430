"""In-process retries of one delivery's handler (tenacity), and what counts as transient.

Each delivery gets its own :class:`tenacity.AsyncRetrying` (no retry state shared by
concurrent handlers). Only :class:`Exception` subclasses are ever retried: cancellation,
``KeyboardInterrupt`` and ``SystemExit`` pass straight through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import tenacity
from tenacity import AsyncRetrying, RetryCallState

from ingest.errors import DecodeError
from workers.errors import HandlerTimeout, PermanentError


def is_transient(exc: BaseException) -> bool:
    """True when retrying in process might help: any ``Exception`` except
    :class:`PermanentError`, decode errors and :class:`HandlerTimeout` (a hung call would hang
    again; the timeout counts as a failed attempt instead). Call it on the real exception,
    never on tenacity's ``RetryError``."""
    if isinstance(exc, tenacity.RetryError):
        inner = exc.last_attempt.exception()
        return inner is not None and is_transient(inner)
    return isinstance(exc, Exception) and not isinstance(
        exc, PermanentError | DecodeError | HandlerTimeout
    )


def build_retrying(
    attempts: int,
    initial_s: float,
    max_s: float,
    *,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> AsyncRetrying:
    """A fresh ``AsyncRetrying`` for one delivery.

    Args:
        attempts: total attempts (``stop_after_attempt``), >= 1.
        initial_s: first wait; then exponential with jitter (``wait_exponential_jitter``),
            capped at ``max_s`` seconds.
        sleep: awaitable sleep (tests inject a recorder); default ``asyncio.sleep``.
        on_retry: called before each wait with ``(attempt_number, exception, wait_s)``:
            the number of the attempt that failed (from 1), its exception, and the wait in
            seconds before the next attempt (tenacity's ``next_action.sleep``).

    The last exception is re-raised as is (``reraise=True``), never wrapped in ``RetryError``.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        wait_s = state.next_action.sleep if state.next_action else 0.0
        if exc is not None:
            on_retry(state.attempt_number, exc, wait_s)

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return AsyncRetrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s),
        retry=tenacity.retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,
    )
