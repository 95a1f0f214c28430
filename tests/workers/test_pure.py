"""Pure decisions: settings validation, retry classification and waits, dead-letter rules."""

from __future__ import annotations

import asyncio

import pytest
import tenacity

from ingest.errors import ConfigError, DecodeError
from ingest.streams import EntryId
from workers.dead_letter import DeadLetter, dead_letter_fields, should_dead_letter
from workers.delivery import Delivery
from workers.errors import PermanentError, TransientError
from workers.retrying import build_retrying, is_transient
from workers.settings import WorkerSettings


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


def _delivery(**kwargs: object) -> Delivery:
    d = Delivery(EntryId("1-0"), {"v": "1", "event_id": "a"}, None)
    for key, value in kwargs.items():
        setattr(d, key, value)
    return d


def test_should_dead_letter_counts_failures_not_interruptions() -> None:
    assert should_dead_letter(_delivery(decode_error=DecodeError("x")), 5) == "decode"
    assert should_dead_letter(_delivery(failed_attempts=5), 5) == "max-deliveries"
    # delivered 8 times, 4 of them interrupted by our own shutdown: 4 effective
    assert should_dead_letter(_delivery(delivery_count=8, interrupted=4), 5) is None
    # a crash loop never records a failure, but its deliveries pile up
    assert should_dead_letter(_delivery(delivery_count=6), 5) == "max-deliveries"


def test_dead_letter_fields_keep_the_original_and_bound_the_error() -> None:
    d = _delivery(delivery_count=3, failed_attempts=2)
    d.fields["dead_reason"] = "stale from an earlier round"

    fields = dead_letter_fields(
        DeadLetter(d, "permanent", ValueError("x" * 5000)), "s", "g", "c", 7
    )

    assert fields["event_id"] == "a"
    assert fields["dead_reason"] == "permanent"
    assert fields["dead_error_type"] == "ValueError"
    assert len(fields["dead_error"]) == 1000
    assert (fields["dead_entry_id"], fields["dead_stream"], fields["dead_group"]) == (
        "1-0",
        "s",
        "g",
    )
    assert (fields["dead_consumer"], fields["dead_delivery_count"]) == ("c", "3")
    assert (fields["dead_failed_attempts"], fields["dead_at_ms"]) == ("2", "7")
