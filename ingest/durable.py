"""Durable produce: a batch counts as produced only once enough replicas have it.

Replication is asynchronous: a primary acknowledges a write before any replica has it, and a
failover to a replica that never got it loses it. With ``--min-replicas N`` the producer asks,
after each admitted batch and **on the connection that wrote it**, ``WAIT N <ms>``: Redis
answers how many replicas have acknowledged every write that connection made so far (a
connection's writes are covered by its own replication offset, so a ``WAIT`` on another
connection proves nothing about the batch). Where the server has ``WAITAOF`` (Redis >= 7.2,
Valkey; probed, never assumed) and the primary runs AOF, it also asks ``WAITAOF 1 0 <ms>``:
the primary's AOF has the batch fsynced. ``WAITAOF``'s replica count is not used: it counts
only replicas that run AOF themselves, which would make every batch fail on replicas without.

Through Sentinel, a batch whose replicas are slow to acknowledge it also asks the sentinels
whether the node that took it is still the primary: when another was promoted meanwhile (a
partition, ``SENTINEL FAILOVER``: the old primary takes writes until the sentinels demote it,
which can take their 10 s ``INFO`` period), the batch is sent again to the new primary
(:class:`~ingest.sentinel.PrimaryMoved`, a reconnect) instead of waiting for replicas that
left.

A batch re-sent after a lost reply (:mod:`ingest.admitting`) may be answered ``repeat``: its
first send landed. Then this connection wrote nothing, and the ``WAIT`` docs promise nothing
about writes made on another connection. So a repeat is first covered by a write on the same
connection (``PEXPIRE`` of the producer's own key, to its TTL): its offset is past the batch's,
so the ``WAIT`` that follows covers the batch too. (Redis 7.0 and Valkey 9 in fact set a
connection's offset after every command, also a read, so their ``WAIT`` would cover the batch
anyway; the cover write keeps to what the docs promise, at one command per repeat.)

Source: the ``WAIT`` and ``WAITAOF`` command docs; Redis' ``c->woff`` (the offset of the
client's last propagated write) is what both wait for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis

from ingest import admission
from ingest.errors import IngestError, NotDurable
from ingest.sentinel import PrimaryMoved, moved_primary

log = logging.getLogger(__name__)

WAIT_STEP_MS = 1000
"""Longest single ``WAIT``: the socket stays well within its timeout and a stop request is
seen between steps."""


@dataclass(frozen=True, slots=True)
class Durability:
    """What each batch must reach before it counts as produced.

    Attributes:
        min_replicas: replicas that must acknowledge it (``WAIT``), at least 1.
        timeout_ms: how long a batch may wait for them (and the fsync), ms.
        local_fsync: also wait for the primary's AOF fsync (``WAITAOF 1 0``): the server has
            ``WAITAOF`` and runs AOF.
    """

    min_replicas: int
    timeout_ms: int
    local_fsync: bool = False

    def describe(self) -> str:
        """``1 replica (WAIT) and the primary's AOF fsync (WAITAOF) within 5000 ms``."""
        plural = "s" if self.min_replicas != 1 else ""
        fsync = " and the primary's AOF fsync (WAITAOF)" if self.local_fsync else ""
        return f"{self.min_replicas} replica{plural} (WAIT){fsync} within {self.timeout_ms} ms"


class WaitStopped(IngestError):
    """A stop was requested while a batch waited for its replicas."""


def probe(client: redis.Redis, min_replicas: int, timeout_ms: int) -> Durability:
    """The :class:`Durability` this server can give: whether it has ``WAITAOF`` (``WAITAOF 0 0
    0`` answers at once where it exists) and runs AOF (``CONFIG GET appendonly``; a user
    without CONFIG gets no local fsync check, said at INFO)."""
    found = Durability(min_replicas, timeout_ms)
    try:
        client.execute_command("WAITAOF", 0, 0, 0)  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:
        log.info("WAITAOF not available (%s): durable produce waits for replicas only", exc)
        return found
    try:
        reply: Any = client.config_get("appendonly")
    except redis.ResponseError as exc:
        log.info("cannot read appendonly (%s): the primary's AOF fsync is not awaited", exc)
        return found
    return replace(found, local_fsync=str(reply.get("appendonly", "no")) == "yes")


@dataclass(frozen=True, slots=True)
class Acks:
    """What a batch reached: ``replicas`` that acknowledged it; ``fsynced`` the primary's AOF
    fsync (``True`` when it was not asked for)."""

    replicas: int
    fsynced: bool = True


class Confirmer:
    """Waits for a batch's replicas on the connection that wrote it (module docstring).

    Args:
        client: the client whose pool ``conn`` comes from (reply parsing, error checks).
        durability: what to wait for; changed to drop the local fsync when a new primary
            (after a failover) turns out to lack ``WAITAOF`` or AOF.
        stream: the stream (for messages and the producer key of repeats).
        clock: injected ``time.monotonic``.
        should_stop: polled between ``WAIT`` steps; ``True`` stops the wait with the
            :class:`WaitStopped`.
    """

    def __init__(
        self,
        client: redis.Redis,
        durability: Durability,
        stream: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client, self.durability, self.stream = client, durability, stream
        self._clock, self._should_stop = clock, should_stop

    def confirm(
        self, conn: Any, result: admission.Admission, batch: admission.BatchId, size: int
    ) -> Acks:
        """Wait until the admitted batch ``result`` reached :attr:`durability` on ``conn``.

        Raises:
            NotDurable: too few replicas (or no fsync) within the timeout; names the batch.
            WaitStopped: ``should_stop`` turned true while waiting.
            redis.ConnectionError, redis.TimeoutError, OSError: the connection failed, or the
                sentinels name another primary (:class:`~ingest.sentinel.PrimaryMoved`):
                re-send the batch (its offset on the next primary is unknown).
            redis.ResponseError: a refusal of the cover write (``NOREPLICAS``, ...).
        """
        if result.repeat:
            key = admission.producer_key(self.stream, batch.producer_id)
            self._call(conn, "PEXPIRE", key, batch.ttl_ms)
        deadline = self._clock() + self.durability.timeout_ms / 1000
        replicas = self._replicas(conn, deadline, batch.seq, size)
        fsynced = replicas >= self.durability.min_replicas and self._fsynced(conn, deadline)
        acks = Acks(replicas, fsynced or not self.durability.local_fsync)
        if replicas < self.durability.min_replicas or not acks.fsynced:
            raise self._not_durable(result, batch.seq, size, acks)
        return acks

    def _call(self, conn: Any, *args: Any) -> Any:
        return admission.call_once(self.client, *args, conn=conn)

    def _remaining_ms(self, deadline: float) -> int:
        return max(0, int((deadline - self._clock()) * 1000))

    def _replicas(self, conn: Any, deadline: float, seq: int, size: int) -> int:
        wanted = self.durability.min_replicas
        while True:
            step = min(WAIT_STEP_MS, self._remaining_ms(deadline))
            # WAIT 0 ms would block for ever; 1 ms is "what do they have now".
            replicas = int(self._call(conn, "WAIT", wanted, max(step, 1)))
            if replicas >= wanted or self._remaining_ms(deadline) == 0:
                return replicas
            if self._should_stop():
                raise WaitStopped("stop requested while waiting for replicas")
            moved = moved_primary(self.client, conn)
            if moved is not None:
                # Promoted elsewhere while this node still takes writes (a partition, a
                # SENTINEL FAILOVER): they will be dropped when it is demoted. Send again.
                raise PrimaryMoved(
                    f"the sentinels name {moved[0]}:{moved[1]} as primary now, not the node "
                    f"that took batch {seq}",
                    status_code="READONLY",
                )
            log.info(
                "batch %s (%s entries): %s of %s replicas have it; waiting up to %s ms more",
                seq,
                size,
                replicas,
                wanted,
                self._remaining_ms(deadline),
            )

    def _fsynced(self, conn: Any, deadline: float) -> bool:
        if not self.durability.local_fsync:
            return True
        try:
            reply = self._call(conn, "WAITAOF", 1, 0, max(self._remaining_ms(deadline), 1))
        except redis.ResponseError as exc:
            # A new primary after a failover may lack WAITAOF or AOF: say so once, go on.
            log.warning("the primary cannot WAITAOF (%s): no longer waiting for its fsync", exc)
            self.durability = replace(self.durability, local_fsync=False)
            return True
        return int(reply[0]) >= 1

    def _not_durable(
        self, result: admission.Admission, seq: int, size: int, acks: Acks
    ) -> NotDurable:
        wanted = self.durability.min_replicas
        what = f"{acks.replicas} of {wanted} replica{'s' if wanted != 1 else ''}"
        if not acks.fsynced:
            what += " and no AOF fsync on the primary"
        return NotDurable(
            f"batch {seq} ({size} entries, {result.first_id}..{result.last_id}) is in "
            f"{self.stream} on the primary but reached only {what} within "
            f"{self.durability.timeout_ms} ms: a failover may lose it",
            seq=seq,
            size=size,
            first_id=str(result.first_id),
            last_id=str(result.last_id),
            replicas=acks.replicas,
            wanted=wanted,
            fsynced=acks.fsynced,
        )
