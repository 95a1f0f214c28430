"""Sweeps for entries other consumers left: dead consumers, idle entries, idle consumers.

* **Takeover** (every heartbeat, a fifth of ``--liveness-ttl``): a consumer whose liveness key
  has expired is dead; its pending entries are claimed at once, whatever their idle time, by
  one atomic check-and-claim on the server (``ingest_takeover``), and the takeover is logged
  once at WARNING and counted.
* **Idle entries** (every ``--claim-interval``): XAUTOCLAIM of entries idle at least
  ``--min-idle`` (consumers that look alive but stall, entries left pending after a failed
  delivery), from a kept cursor to the end of the PEL. Semantics from
  https://redis.io/docs/latest/commands/xautoclaim/: one call scans at most COUNT x 10
  entries, returns the cursor to go on from (``0-0`` at the end) and, since Redis 7, the IDs
  of entries deleted while pending (Redis has removed them from the PEL).
* **Pruning** (now and then): consumers idle longer than ``--consumer-ttl`` with no pending
  entries and no liveness key are deleted.

Every sweep takes at most what the free handler slots will take, and hands what it claims
to the ledger: the sweep never settles anything itself.
"""

from __future__ import annotations

import logging

from ingest.streams import ZERO_ID, EntryId
from workers.ledger import Ledger
from workers.redis_io import StreamIO
from workers.rows import Page
from workers.settings import WorkerSettings
from workers.settlement import Report
from workers.slots import Dispatch
from workers.stats import Stats
from workers.wording import plural

log = logging.getLogger(__name__)


class Reclaimer:
    """The sweeps of one consumer.

    Args:
        io, ledger, dispatch: where claimed entries come from and go to.
        stats: counters.
        report: logs and counts takeovers.
        min_idle_ms: XAUTOCLAIM's min-idle-time.
        claim_count: XAUTOCLAIM COUNT at most.
        consumer_ttl_ms: idle time after which an empty consumer is pruned.
    """

    def __init__(
        self,
        io: StreamIO,
        ledger: Ledger,
        dispatch: Dispatch,
        stats: Stats,
        report: Report,
        *,
        min_idle_ms: int,
        claim_count: int,
        consumer_ttl_ms: int,
    ) -> None:
        self.io = io
        self.ledger = ledger
        self.dispatch = dispatch
        self.stats = stats
        self.report = report
        self.min_idle_ms = min_idle_ms
        self.claim_count = claim_count
        self.consumer_ttl_ms = consumer_ttl_ms
        self.cursor: EntryId = ZERO_ID
        self._dead: set[str] = set()
        """Dead consumers already reported (a takeover in several steps warns once)."""
        self.sweeps = 0
        """Completed sweeps (the cursor came back to ``0-0``)."""

    @classmethod
    def for_settings(
        cls,
        io: StreamIO,
        ledger: Ledger,
        dispatch: Dispatch,
        report: Report,
        s: WorkerSettings,
    ) -> Reclaimer:
        """The sweeps of the consumer ``s`` describes."""
        return cls(
            io,
            ledger,
            dispatch,
            report.stats,
            report,
            min_idle_ms=s.min_idle_ms,
            claim_count=s.claim_count,
            consumer_ttl_ms=int(s.consumer_ttl_s * 1000),
        )

    async def _hand_over(self, page: Page) -> None:
        await self.ledger.forget_lost(page.deleted_ids)
        if page.rows:
            self.stats.claimed += len(page.rows)
            await self.dispatch.put(await self.ledger.admit(page.rows, claimed=True))

    async def sweep(self) -> int:
        """XAUTOCLAIM pages from the kept cursor until it wraps to ``0-0`` or there is no
        room; returns how many entries were claimed."""
        total = 0
        while (room := self.dispatch.room()) > 0:
            page = await self.io.claim(self.cursor, min(self.claim_count, room), self.min_idle_ms)
            self.cursor = page.cursor
            total += len(page.rows)
            await self._hand_over(page)
            if page.cursor == ZERO_ID:
                self.sweeps += 1
                break
        return total

    async def take_over(self) -> bool:
        """Claim the pending entries of every dead consumer (liveness key gone), as far as
        there is room; returns True when the room ran out first (more to take as soon as a
        slot frees up)."""
        rows = await self.io.consumers()
        holding = {r.name: r.pending for r in rows if r.pending and r.name != self.io.consumer}
        dead = await self.io.without_liveness(list(holding))
        self._dead &= set(dead)
        for name in dead:
            if self.dispatch.room() <= 0:
                return True
            await self._take_over_one(name, holding[name])
        return bool(dead) and self.dispatch.room() <= 0

    async def _take_over_one(self, dead: str, pending: int) -> int:
        taken = 0
        while (room := self.dispatch.room()) > 0:
            page = await self.io.take_over(dead, min(self.claim_count, room))
            if page is None:  # alive again after all (a restart took the name)
                break
            taken += len(page.rows) + len(page.deleted_ids)
            await self._hand_over(page)
            if not page.more:
                break
        if taken:
            first = dead not in self._dead
            self._dead.add(dead)
            self.report.taken_over(dead, pending, taken, self.io.consumer, first=first)
        return taken

    async def prune(self, idle_ms: int | None = None) -> list[str]:
        """Delete consumers idle longer than ``idle_ms`` (default ``--consumer-ttl``) with no
        pending entries and no liveness key (each checked and deleted in one step on the
        server). Consumers that still hold entries are left for the takeover and XAUTOCLAIM
        to empty first."""
        ttl_ms = self.consumer_ttl_ms if idle_ms is None else idle_ms
        removed: list[str] = []
        for row in await self.io.consumers():
            if row.name == self.io.consumer or row.idle_ms < ttl_ms or row.pending:
                continue
            if await self.io.prune(row.name, ttl_ms):
                removed.append(row.name)
        if removed:
            self.stats.consumers_removed += len(removed)
            log.info(
                "removed %s with no pending entries: %s",
                plural(len(removed), "idle consumer"),
                removed,
            )
        return removed
