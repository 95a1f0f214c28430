"""The refusal table and the backoff schedule (pure: no Redis)."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import BusyLoadingError, MasterDownError, ReadOnlyError, TryAgainError

from ingest.refusals import REFUSALS, Action, Backoff, Budget, classify, error_code


@pytest.mark.parametrize(
    ("exc", "code", "action", "budget"),
    [
        (redis.ResponseError("NOREPLICAS Not enough good replicas to write."), "NOREPLICAS",
         Action.WAIT, Budget.BLOCK),
        (redis.exceptions.OutOfMemoryError("command not allowed", status_code="OOM"), "OOM",
         Action.WAIT, Budget.BLOCK),
        (BusyLoadingError("Redis is loading the dataset in memory", status_code="LOADING"),
         "LOADING", Action.WAIT, Budget.OUTAGE),
        (redis.ResponseError("BUSY Redis is busy running a script."), "BUSY", Action.WAIT,
         Budget.OUTAGE),
        (TryAgainError("Multiple keys request during rehashing of slot", status_code="TRYAGAIN"),
         "TRYAGAIN", Action.WAIT, Budget.OUTAGE),
        (redis.ResponseError("CLUSTERDOWN The cluster is down"), "CLUSTERDOWN", Action.WAIT,
         Budget.OUTAGE),
        (ReadOnlyError("You can't write against a read only replica.", status_code="READONLY"),
         "READONLY", Action.RECONNECT, Budget.OUTAGE),
        (MasterDownError("Link with MASTER is down", status_code="MASTERDOWN"), "MASTERDOWN",
         Action.RECONNECT, Budget.OUTAGE),
        # redis-py's Sentinel connection turns READONLY into this ConnectionError
        (redis.ConnectionError("The previous master is now a slave"), "READONLY",
         Action.RECONNECT, Budget.OUTAGE),
    ],
)  # fmt: skip
def test_each_refusal_is_classified_by_its_code(exc, code, action, budget):
    found = classify(exc)
    assert found is not None
    assert (found.code, found.action, found.budget) == (code, action, budget)


@pytest.mark.parametrize(
    "exc",
    [
        redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        redis.exceptions.NoPermissionError("this user has no permissions", status_code="NOPERM"),
        redis.AuthenticationError("invalid username-password pair", status_code="WRONGPASS"),
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
        redis.ResponseError("ERR unknown command 'WAITAOF'"),
        ValueError("BUSY is a word here too"),
    ],
)
def test_errors_that_are_no_refusal_are_not_waited_out(exc):
    assert classify(exc) is None


def test_the_code_comes_from_status_code_or_the_first_capital_word():
    assert error_code(redis.ResponseError("x", status_code="LOADING")) == "LOADING"
    assert error_code(redis.ResponseError("MISCONF Redis is configured to save")) == "MISCONF"
    assert error_code(redis.ResponseError("not a code")) == ""
    assert set(REFUSALS) >= {"NOREPLICAS", "READONLY", "LOADING", "MASTERDOWN", "BUSY",
                             "TRYAGAIN", "CLUSTERDOWN"}  # fmt: skip


def test_backoff_doubles_to_its_cap_and_stops_at_the_budget():
    now = [0.0]
    backoff = Backoff(3.0, first_s=0.5, cap_s=1.0, clock=lambda: now[0])
    waits = []
    while (wait := backoff.next_wait()) is not None:
        waits.append(wait)
        now[0] += wait
    assert waits == [0.5, 1.0, 1.0, 0.5]  # the last step is cut to the deadline
    assert backoff.elapsed_s == pytest.approx(3.0)
    assert backoff.remaining_s == 0


def test_a_zero_budget_gives_no_wait_at_all():
    assert Backoff(0.0, clock=lambda: 0.0).next_wait() is None
