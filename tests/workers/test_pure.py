"""Pure decisions: settings validation, retry classification and waits, the verdict rule."""

from __future__ import annotations

import asyncio

import pytest
import tenacity

from ingest.errors import ConfigError, DecodeError
from ingest.streams import EntryId
from workers.delivery import REASON_DECODE, Delivery, History, Refusal
from workers.errors import HandlerTimeout, PermanentError, TransientError
from workers.retrying import build_retrying, is_transient
from workers.settings import WorkerSettings
from workers.verdict import (
    ACK,
    CRASHED,
    FRESH,
    INTERRUPTED,
    RUN,
    SUCCEEDED,
    Action,
    Kind,
    Limits,
    Outcome,
    Verdict,
    verdict,
)


def test_block_time_at_or_above_socket_timeout_is_refused() -> None:
    env = {"INGEST_BLOCK_MS": "15000", "INGEST_SOCKET_TIMEOUT": "15"}

    with pytest.raises(ConfigError, match="INGEST_BLOCK_MS = 15000"):
        WorkerSettings.from_sources(None, env)


def test_block_time_just_below_socket_timeout_is_accepted() -> None:
    settings = WorkerSettings.from_sources(
        None, {"INGEST_BLOCK_MS": "1400", "INGEST_SOCKET_TIMEOUT": "1.5"}
    )

    assert settings.block_ms == 1400


def test_bad_values_name_the_flag_and_value() -> None:
    with pytest.raises(ConfigError, match=r"--batch = 'zero'"):
        WorkerSettings.from_sources({"read_count": "zero"}, {})
    with pytest.raises(ConfigError, match="INGEST_ON_MISSING_GROUP = 'maybe'"):
        WorkerSettings.from_sources(None, {"INGEST_ON_MISSING_GROUP": "maybe"})
    with pytest.raises(ConfigError, match="INGEST_HANDLER"):
        WorkerSettings.from_sources(None, {"INGEST_HANDLER": "nocolon"})


def test_consumer_defaults_to_host_and_pid_and_refresh_is_well_below_min_idle() -> None:
    settings = WorkerSettings.from_sources(None, {"INGEST_MIN_IDLE": "60"})

    assert settings.consumer.endswith(f"-{__import__('os').getpid()}")
    assert settings.refresh_interval_s <= settings.min_idle_s / 4
    assert settings.min_idle_ms == 60_000


def test_is_transient_looks_through_retry_error_and_never_at_base_exceptions() -> None:
    assert is_transient(TransientError("x"))
    assert is_transient(ValueError("x"))
    assert not is_transient(PermanentError("x"))
    assert not is_transient(DecodeError("x"))
    assert not is_transient(asyncio.CancelledError())
    assert not is_transient(KeyboardInterrupt())
    future = tenacity.Future(1)
    future.set_exception(PermanentError("inner"))
    assert not is_transient(tenacity.RetryError(future))


async def test_retrying_waits_grow_within_bounds_and_reraises_the_real_error() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    calls = 0
    with pytest.raises(TransientError):
        async for attempt in build_retrying(4, 0.1, 0.3, sleep=record):
            with attempt:
                calls += 1
                raise TransientError("down")

    assert calls == 4
    assert len(waits) == 3
    assert all(0.1 <= w <= 0.3 for w in waits)


async def test_retrying_does_not_retry_permanent_errors_or_cancellation() -> None:
    async def no_sleep(_: float) -> None:
        return None

    for error in (PermanentError("bad"), asyncio.CancelledError()):
        calls = 0
        with pytest.raises(type(error)):
            async for attempt in build_retrying(5, 0.0, 0.0, sleep=no_sleep):
                with attempt:
                    calls += 1
                    raise error
        assert calls == 1


FIRST = History()


def _delivery(history: History = FIRST, refusal: Refusal | None = None) -> Delivery:
    return Delivery(EntryId("1-0"), {"v": "1", "event_id": "a"}, None, refusal, history)


LIMITS = Limits(max_deliveries=5, max_crashes=2)


def _verdict(outcome: Outcome, history: History = FIRST, **kw: object) -> Verdict:
    return verdict(_delivery(history, **kw), outcome, history, LIMITS)  # type: ignore[arg-type]


def test_verdict_before_the_handler_runs_or_refuses() -> None:
    refused = Refusal(REASON_DECODE, DecodeError("x"))
    assert _verdict(FRESH, refusal=refused).action is Action.DEAD_LETTER
    assert _verdict(FRESH, refusal=refused).reason == "decode"
    assert _verdict(FRESH) == RUN
    # delivered 8 times, 7 of them interrupted by our own shutdown: no crash
    assert _verdict(FRESH, History(8, 0, 7)) == RUN
    # a crash loop never records a failure, but its deliveries pile up
    assert _verdict(FRESH, History(3, 0, 0)).reason == "crashed"
    assert _verdict(FRESH, History(3, 1, 0)) == RUN  # one crash, one failure
    assert _verdict(FRESH, History(6, 5, 0)).reason == "max-deliveries"


def test_verdict_after_the_handler() -> None:
    assert _verdict(SUCCEEDED) == ACK
    permanent = _verdict(Outcome(Kind.FAILED, PermanentError("no")))
    assert (permanent.action, permanent.reason) == (Action.DEAD_LETTER, "permanent")
    failed = _verdict(Outcome(Kind.FAILED, ValueError("down")), History(2, 1, 0))
    assert (failed.action, failed.counts_failure) == (Action.LEAVE_PENDING, True)
    last = _verdict(Outcome(Kind.FAILED, ValueError("down")), History(5, 4, 0))
    assert (last.action, last.reason) == (Action.DEAD_LETTER, "max-deliveries")
    timeout = _verdict(Outcome(Kind.TIMED_OUT, HandlerTimeout(3)), History(1, 0, 0))
    assert (timeout.action, timeout.reason) == (Action.LEAVE_PENDING, "timeout")
    last_timeout = _verdict(Outcome(Kind.TIMED_OUT, HandlerTimeout(3)), History(5, 4, 0))
    assert (last_timeout.action, last_timeout.reason) == (Action.DEAD_LETTER, "timeout")


def test_verdict_of_an_ended_delivery_is_a_release_counted_or_not() -> None:
    assert _verdict(INTERRUPTED) == Verdict(Action.RELEASE, interrupted=True)
    assert _verdict(CRASHED) == Verdict(Action.RELEASE, interrupted=False)


def test_crashes_are_what_failures_and_interruptions_do_not_explain() -> None:
    assert History(1, 0, 0).crashes == 0
    assert History(4, 1, 1).crashes == 1
    assert History(2, 3, 3).crashes == 0  # stale records (a recreated group) never go below 0


def test_a_handler_timeout_is_not_retried_in_process() -> None:
    assert not is_transient(HandlerTimeout(1.0))
