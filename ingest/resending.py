"""One admission call until it gets an answer: the re-sends of :mod:`ingest.admitting`.

:class:`Sender` sends a batch's ``FCALL ingest_admit`` (and, under durable produce, the
``WAIT`` that confirms it, on the same connection: :mod:`ingest.durable`) and handles what can
stand between the call and an answer, by the table of :mod:`ingest.refusals`:

* a connection error, a timeout, or a refusal of budget ``outage`` (``LOADING``, ``BUSY``,
  ``READONLY``, ``MASTERDOWN``, ``TRYAGAIN``, ``CLUSTERDOWN`` ...): the call is sent again with
  capped backoff (50 ms doubling to 2 s) for up to ``connect_timeout_s`` from the first error,
  logged with its cause and counted (``retries``); the reconnect kinds drop the pool's
  connections first (a Sentinel client then asks for the primary again). After that,
  :class:`~ingest.errors.RedisUnavailable` (:class:`~ingest.errors.Refused` when Redis kept
  refusing). Sending again is idempotent (the batch's :class:`~ingest.admission.BatchId`).
* a refusal of budget ``block`` (``OOM``, ``NOREPLICAS``): returned as ``None`` with its code
  in :attr:`Sender.held_back`; the admitter waits as for backpressure.
* the function missing or outdated: loaded again, once, and the call sent at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from ingest import admission
from ingest.connection import CONNECTION_ERRORS, ConnectDeadline
from ingest.durable import Confirmer, WaitStopped
from ingest.errors import IngestError, RedisUnavailable, Refused
from ingest.refusals import Action, Budget, Refusal, classify, describe
from ingest.settings import RedisSettings

if TYPE_CHECKING:
    from ingest.backpressure import Limits

log = logging.getLogger(__name__)

_ANSWERS: tuple[type[Exception], ...] = (redis.ResponseError, *CONNECTION_ERRORS)


@dataclass(slots=True)
class AdmitStats:
    """Counters of an :class:`Admitter` (plain numbers; cheap to update and read).

    Attributes:
        batches: batches admitted.
        blocked_s: seconds spent waiting on backpressure or OOM.
        blocks: blocking episodes (a refused batch starts one; its admission ends it).
        oom_waits: OOM replies waited out.
        retries: batches re-sent after a connection error, a timeout or an ``outage``
            refusal (``LOADING``, ``READONLY`` ...).
        repeats: entries of re-sent batches the function found already in the stream (their
            first send had landed; not appended again).
    """

    batches: int = 0
    blocked_s: float = 0.0
    blocks: int = 0
    oom_waits: int = 0
    retries: int = 0
    repeats: int = 0
    replica_waits: int = 0
    """``NOREPLICAS`` replies waited out (``min-replicas-to-write`` not met)."""


class Stopped(IngestError):
    """A stop was requested while waiting; the batch was not admitted."""


class Sender:
    """Sends admission calls for one stream (see the module docstring).

    Args:
        client: a ``redis.Redis`` with ``decode_responses=True``.
        stream: the stream key.
        limits: cap and no-group mode of every call.
        redis: the URL (shown redacted) and the re-send window (``connect_timeout_s``).
        stats: counters to update (``retries``, ``oom_waits``, ``replica_waits``).
        sleep, clock: injected (``time.sleep``, ``time.monotonic``).

    Attributes:
        confirmer: confirms each admitted batch durable (``None``: no durable produce).
        held_back: the code of the last ``block`` refusal (``OOM``, ``NOREPLICAS``), "" before.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        limits: Limits,
        *,
        redis: RedisSettings,
        stats: AdmitStats,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.stream, self.limits, self.redis = client, stream, limits, redis
        self.stats = stats
        self._sleep, self._clock = sleep, clock
        self.confirmer: Confirmer | None = None
        self.held_back = ""

    def offer(
        self, batch: Sequence[Mapping[str, str]], batch_id: admission.BatchId, limit: int
    ) -> admission.Admission | None:
        """One answered admission call for ``batch`` at backlog limit ``limit`` (entries);
        ``None`` after a ``block`` refusal.

        Raises:
            RedisUnavailable: no answer for ``connect_timeout_s`` (:class:`Refused` when
                Redis kept refusing).
            NotDurable: admitted, but too few replicas acknowledged it in time.
            Stopped: a stop was requested while waiting for replicas.
            redis.ResponseError: any other error reply (ACL denials as ``PermissionDenied``).
        """
        deadline: ConnectDeadline | None = None
        reloaded = False
        while True:
            try:
                return self._attempt(batch, batch_id, limit)
            except WaitStopped:
                raise Stopped("stop requested while waiting for replicas") from None
            except _ANSWERS as exc:
                found = classify(exc)
                if found is not None and found.budget is Budget.BLOCK:
                    self._held_back_by(found)
                    return None
                if _library_missing(exc) and not reloaded:
                    admission.ensure_loaded(self.client)
                    reloaded = True
                    continue
                if found is None and not isinstance(exc, CONNECTION_ERRORS):
                    raise
                # The re-send window starts at the first error: one call may take up to the
                # socket timeout (a paused server) before it fails.
                deadline = deadline or ConnectDeadline(self.redis, first_s=0.05, clock=self._clock)
                self._resend_wait(deadline, exc, found, batch_id.seq, len(batch))

    def _attempt(
        self, batch: Sequence[Mapping[str, str]], batch_id: admission.BatchId, limit: int
    ) -> admission.Admission:
        options = {
            "maxlen": self.limits.maxlen,
            "limit": limit,
            "no_group": self.limits.no_group,
            "batch": batch_id,
        }
        if self.confirmer is None:
            return admission.admit(self.client, self.stream, batch, **options)  # type: ignore[arg-type]
        # WAIT covers the writes of its own connection only: hold one for both.
        with admission.held_connection(self.client) as conn:
            result = admission.admit(self.client, self.stream, batch, conn=conn, **options)  # type: ignore[arg-type]
            if result.admitted:
                self.confirmer.confirm(conn, result, batch_id, len(batch))
            return result

    def _held_back_by(self, found: Refusal) -> None:
        if found.code == "OOM":
            self.stats.oom_waits += 1
        else:
            self.stats.replica_waits += 1
        self.held_back = found.code

    def _resend_wait(
        self,
        deadline: ConnectDeadline,
        exc: BaseException,
        found: Refusal | None,
        seq: int,
        size: int,
    ) -> None:
        try:
            wait_s = deadline.next_wait(exc)
        except RedisUnavailable as unavailable:
            if found is None:
                raise
            raise Refused(
                f"Redis at {self.redis.safe_url} kept refusing batch {seq} for "
                f"{self.redis.connect_timeout_s:g} s: {describe(found)}: {exc}",
                code=found.code,
                budget=found.budget.value,
                waited_s=self.redis.connect_timeout_s,
            ) from unavailable
        self.stats.retries += 1
        if found is not None and found.action is Action.RECONNECT:
            # These connections lead to a replica: new ones resolve the primary again.
            self.client.connection_pool.disconnect()
        cause = f"{describe(found) if found is not None else type(exc).__name__}: {exc}"
        log.warning(
            "re-sending batch %s (%s entries) to %s in %.2f s after %s",
            seq,
            size,
            self.stream,
            wait_s,
            cause,
        )
        self._sleep(wait_s)


def _library_missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, redis.ResponseError) and (
        "function not found" in text or "caller speaks protocol" in text
    )
