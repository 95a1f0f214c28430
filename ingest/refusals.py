"""Which error replies are waits, which are reconnects, which are configuration errors (pure).

One table for every client of the project: the producer's admission loop, the sync CLIs'
clients (:class:`ingest.connection.CheckedRedis`) and, from its rebuild on, the worker. An
error reply is a *refusal* when the server did not run the command and will run it later
without anything changing on our side: sending the same command again after a pause is safe
(nothing was applied) and right. Source: the error codes of the Redis and Sentinel docs
(``min-replicas-to-write``, ``busy-reply-threshold``, ``replica-serve-stale-data``, Cluster
spec "Redirection and resharding") and redis-py's reply parser, which turns some codes into
exception classes and strips the code from the message (``status_code`` keeps it).

=========== ======================================================= ========= =======
Code        Meaning                                                 Action    Budget
=========== ======================================================= ========= =======
NOREPLICAS  fewer replicas in sync than ``min-replicas-to-write``   wait      block
OOM         above ``maxmemory`` under ``noeviction``                wait      block
LOADING     loading its dataset (a restart, a replica's full sync)  wait      outage
BUSY        a script or function runs past ``busy-reply-threshold`` wait      outage
TRYAGAIN    a multi-key command while its slot migrates             wait      outage
CLUSTERDOWN the cluster cannot serve the slot                       wait      outage
MISCONF     a failed RDB save stops writes                          wait      outage
READONLY    a replica, e.g. a demoted primary                       reconnect outage
MASTERDOWN  a replica whose link to its primary is down             reconnect outage
UNBLOCKED   a blocking read kicked: the node changed role or slots  reconnect outage
=========== ======================================================= ========= =======

*Reconnect* means: drop this client's connections (they lead to the wrong node), resolve the
primary again (through Sentinel, or the URL's name again), then send the command again.
*Budget* says which deadline the waiting counts against: ``block`` is backpressure (the
server is up and holds writes back: ``--max-block``, exit 4), ``outage`` is unavailability
(``--connect-timeout``, exit 3). ``NOAUTH``, ``WRONGPASS`` and ``NOPERM`` are configuration
errors: never waited out (:data:`CONFIG_CODES`).

:class:`Backoff` is the schedule of every such wait: capped doubling steps within a budget,
with an injected clock and no sleeping of its own, so a sync loop passes its steps to
``time.sleep`` and an asyncio loop to ``asyncio.sleep``. No I/O here: redis-py is imported for
its exception classes only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import redis


class Action(Enum):
    """What a refusal asks of the client."""

    WAIT = "wait"  # send the same command again after a pause
    RECONNECT = "reconnect"  # drop the connections, resolve the primary again, then send it again


class Budget(Enum):
    """Which deadline waiting out a refusal counts against."""

    BLOCK = "block"  # backpressure: --max-block (exit 4)
    OUTAGE = "outage"  # unavailability: --connect-timeout (exit 3)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One kind of refusal.

    Attributes:
        code: the error code, the first word of the reply (``NOREPLICAS``).
        action: wait, or reconnect first.
        budget: the deadline the wait counts against.
        meaning: what the server says by it, for log lines.
    """

    code: str
    action: Action
    budget: Budget
    meaning: str


def _r(code: str, action: Action, budget: Budget, meaning: str) -> tuple[str, Refusal]:
    return code, Refusal(code, action, budget, meaning)


_W, _R = Action.WAIT, Action.RECONNECT
_BLOCK, _OUTAGE = Budget.BLOCK, Budget.OUTAGE

REFUSALS: Mapping[str, Refusal] = dict(
    (
        _r("NOREPLICAS", _W, _BLOCK, "fewer replicas in sync than its min-replicas-to-write"),
        _r("OOM", _W, _BLOCK, "above its maxmemory (noeviction)"),
        _r("LOADING", _W, _OUTAGE, "loading its dataset into memory"),
        _r("BUSY", _W, _OUTAGE, "busy running a script or function (SCRIPT KILL ends it)"),
        _r("TRYAGAIN", _W, _OUTAGE, "migrating the slot of these keys"),
        _r("CLUSTERDOWN", _W, _OUTAGE, "part of a cluster that cannot serve this slot now"),
        _r("MISCONF", _W, _OUTAGE, "refusing writes after a failed RDB save"),
        _r("READONLY", _R, _OUTAGE, "a replica (a demoted primary?), not the primary"),
        _r("MASTERDOWN", _R, _OUTAGE, "a replica that lost its primary"),
        _r("UNBLOCKED", _R, _OUTAGE, "a node that changed its role or slots"),
    )
)
"""Every refusal by code (the module docstring's table)."""

CONFIG_CODES = frozenset({"NOAUTH", "WRONGPASS", "NOPERM"})
"""Error codes that are configuration errors: retrying cannot help."""


_CLIENT_TEXTS = {"The previous master is now a slave": "READONLY"}
"""Errors redis-py raises itself for a refusal: its Sentinel connections turn ``READONLY``
into a ``ConnectionError`` with this text (after dropping the connection)."""


def error_code(exc: BaseException) -> str:
    """The error code of a Redis error reply: redis-py's ``status_code`` when it kept one
    (it strips the code from the message of ``READONLY``, ``LOADING``, ``OOM`` ...), else the
    first word of the message when it is all capitals; "" for anything else (also for any
    exception that is not one of redis-py's)."""
    if not isinstance(exc, redis.RedisError):
        return ""
    code = getattr(exc, "status_code", None)
    if isinstance(code, str) and code:
        return code
    text = str(exc)
    if text in _CLIENT_TEXTS:
        return _CLIENT_TEXTS[text]
    first = text.split(" ", 1)[0]
    return first if first.isupper() and first.isalpha() else ""


def classify(exc: BaseException) -> Refusal | None:
    """The :class:`Refusal` ``exc`` is, or ``None`` when it is none (a connection error, a
    configuration error, a bug, an error about the data)."""
    return REFUSALS.get(error_code(exc))


def describe(refusal: Refusal) -> str:
    """``NOREPLICAS (fewer replicas in sync than its min-replicas-to-write)``, for logs."""
    return f"{refusal.code} ({refusal.meaning})"


class Backoff:
    """Capped doubling waits within a budget; never sleeps itself.

    ``Backoff(budget_s=10)``: ``next_wait()`` returns 0.05, 0.1, 0.2 ... up to ``cap_s``,
    each cut so that the next attempt starts by the deadline, then ``None`` once the budget
    is spent (the caller gives up). A sync caller sleeps with ``time.sleep``, an asyncio
    caller with ``asyncio.sleep``.

    Args:
        budget_s: seconds from construction to the last attempt (0: no retry at all).
        first_s, cap_s: first and largest wait, seconds (defaults 0.05 and 2).
        clock: injected ``time.monotonic``.
    """

    def __init__(
        self,
        budget_s: float,
        *,
        first_s: float = 0.05,
        cap_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_s = budget_s
        self._next_s, self._cap_s = first_s, cap_s
        self._clock = clock
        self.started = clock()
        self.waits = 0

    @property
    def elapsed_s(self) -> float:
        """Seconds since the backoff started."""
        return self._clock() - self.started

    @property
    def remaining_s(self) -> float:
        """Seconds left of the budget (0 when spent)."""
        return max(0.0, self.budget_s - self.elapsed_s)

    def next_wait(self) -> float | None:
        """The wait before the next attempt, seconds; ``None`` when the budget is spent."""
        remaining = self.remaining_s
        if remaining <= 0:
            return None
        step = min(self._next_s, remaining)
        self._next_s = min(self._next_s * 2, self._cap_s)
        self.waits += 1
        return step
