"""The one owner of an entry's life in this consumer: from the read (or claim) to its XACK,
dead-letter move or release.

:class:`Ledger` holds the entries this consumer holds and the set being settled, and it alone
issues the per-entry Redis steps (through :class:`~workers.redis_io.StreamIO`): XACK, the
dead-letter move, releases, idle-time refreshes and attempts-record writes. Every decision is
:func:`workers.verdict.verdict`'s; every settlement is reported (counters, log line, span end)
by :class:`~workers.settlement.Report`. A newcomer following one entry stays in this module,
``verdict.py`` and ``redis_io.py``. (Somewhat over the usual 300 lines on purpose: every step
of an entry's life is kept in this one class.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence

import redis

from ingest.codec import now_ms, safe_text
from ingest.connection import CONNECTION_ERRORS
from ingest.streams import EntryId
from workers.acks import AckQueue
from workers.delivery import Delivery
from workers.errors import GroupMissingError
from workers.redis_io import StreamIO
from workers.rows import Row, to_delivery
from workers.settings import WorkerSettings
from workers.settlement import Report, letter_args
from workers.tracing import DeliveryTracer
from workers.verdict import FRESH, Action, Limits, Outcome, Verdict, dead_letter_message, verdict

SETTLE_ERRORS: tuple[type[Exception], ...] = (
    *CONNECTION_ERRORS,
    redis.ResponseError,
    GroupMissingError,
)
"""Errors after which a settling step gives up: the entries stay pending in Redis."""


class Ledger:
    """The entries one consumer holds, and every step that settles them.

    Args:
        io: the consumer's entry commands.
        limits: ``max_deliveries`` and ``max_crashes`` for :func:`~workers.verdict.verdict`.
        report: counters, log lines, span ends.
        tracer: starts the process spans of admitted deliveries.
        retry_attempts: in-process attempts per delivery (for the log line of failures).
        acks: the coalescing queue of acknowledgements.
    """

    def __init__(
        self,
        io: StreamIO,
        limits: Limits,
        report: Report,
        tracer: DeliveryTracer,
        *,
        retry_attempts: int,
        acks: AckQueue,
    ) -> None:
        self.io = io
        self.limits = limits
        self.report = report
        self.tracer = tracer
        self.retry_attempts = retry_attempts
        self.acks = acks
        self._held: dict[EntryId, Delivery] = {}
        self._settling: set[EntryId] = set()
        """Entries whose XACK or dead-letter move is on its way (a refresh racing it finds
        them gone from the PEL: that is not a loss of ownership)."""
        self._left: set[EntryId] = set()
        """Entries left pending after a failed delivery (not held; claimable after min-idle:
        not released at shutdown, their failure is counted already)."""
        self._released: set[EntryId] = set()
        self._marked: set[EntryId] = set()
        """Held entries counted as interrupted in advance (see :meth:`isolate`)."""
        self._upkeep = asyncio.Lock()
        """Serialises refresh and release: a refresh snapshots the held IDs and then awaits;
        a release landing in between would be undone by it (idle time reset to 0)."""

    # ---- views --------------------------------------------------------------------------

    @classmethod
    def for_settings(
        cls, io: StreamIO, s: WorkerSettings, report: Report, tracer: DeliveryTracer
    ) -> Ledger:
        """A ledger with the limits of ``s``."""
        acks = AckQueue(max_batch=max(s.read_count, 100))
        limits = Limits(s.max_deliveries, s.max_crashes)
        return cls(io, limits, report, tracer, retry_attempts=s.retry_attempts, acks=acks)

    def holds(self, entry_id: str) -> bool:
        """True while ``entry_id`` is held (read, waiting, running or awaiting its XACK)."""
        return entry_id in self._held

    @property
    def held_count(self) -> int:
        """How many entries are held."""
        return len(self._held)

    # ---- entering -----------------------------------------------------------------------

    async def admit(self, rows: Sequence[Row], *, claimed: bool) -> list[Delivery]:
        """Turn read or claimed rows into held deliveries; returns those to run.

        Deleted entries are counted lost; entries our own sweep claimed while we hold them
        are recorded as interruptions (the claim advanced their delivery count without a
        delivery); the rest are asked :func:`verdict` (fresh): refused ones (not decodable,
        too large, crash loop) are dead-lettered at once.

        Raises:
            GroupMissingError, connection errors: recording failed (nothing was held).
        """
        new = await self._triage(rows, claimed)
        if not new:
            return []
        self.tracer.start(new)
        run: list[Delivery] = []
        refused: list[tuple[Delivery, Verdict]] = []
        for d in new:
            self._held[d.entry_id] = d
            self._left.discard(d.entry_id)
            self._released.discard(d.entry_id)  # released before, ours again: a new delivery
            v = verdict(d, FRESH, d.history, self.limits)
            if v.action is Action.RUN:
                run.append(d)
            else:
                refused.append((d, v))
        if refused:
            await self._dead_letter(refused, refused=True)
        return run

    async def _triage(self, rows: Sequence[Row], claimed: bool) -> list[Delivery]:
        """Deal with deleted rows and our own held ones; the others as deliveries."""
        await self.forget_lost([r.entry_id for r in rows if r.deleted])
        ours = [r.entry_id for r in rows if not r.deleted and r.entry_id in self._held]
        if ours and claimed:
            await self.io.record(ours, interrupted=True)
            for entry_id in ours:
                self._held[entry_id].has_record = True
            self.report.self_claimed(len(ours))
        limits = self.io.limits
        return [
            to_delivery(r, limits, claimed=claimed)
            for r in rows
            if not r.deleted and r.entry_id not in self._held
        ]

    async def forget_lost(self, ids: Sequence[EntryId]) -> None:
        """Entries deleted or trimmed while pending: acknowledged (a history read leaves them
        pending), their records dropped, counted and logged as lost."""
        if ids:
            await self.io.forget_lost(ids)
            self.report.lost(ids)

    # ---- a suspect running alone -----------------------------------------------------------

    async def isolate(self, waiting: Iterable[Delivery]) -> None:
        """Before a suspect runs alone: acknowledge what finished (an entry handled but not yet
        acknowledged when the suspect takes the process down would count a crash), and count
        the held deliveries that wait meanwhile as interrupted in advance (their delivery
        would not have crashed either). Best effort: a Redis error is reported, not raised."""
        try:
            await self.flush_acks()
        except SETTLE_ERRORS as exc:
            self.report.not_marked(len(self.acks), exc)
        todo = [d for d in waiting if d.entry_id in self._held and d.entry_id not in self._marked]
        if not todo:
            return
        try:
            await self.io.record([d.entry_id for d in todo], interrupted=True)
        except SETTLE_ERRORS as exc:
            self.report.not_marked(len(todo), exc)
            return
        for d in todo:
            d.has_record = True
            self._marked.add(d.entry_id)

    async def unmark(self, starting: Iterable[Delivery]) -> None:
        """Undo the advance interruption of :meth:`isolate` for deliveries about to run."""
        ids = [d.entry_id for d in starting if d.entry_id in self._marked]
        if not ids:
            return
        try:
            await self.io.record(ids, interrupted=True, delta=-1)
        except SETTLE_ERRORS as exc:  # best effort: they count one interruption too many
            self.report.not_marked(len(ids), exc)
        self._marked.difference_update(ids)

    # ---- settling -----------------------------------------------------------------------

    async def settle(self, results: Iterable[tuple[Delivery, Outcome]]) -> None:
        """Ask :func:`verdict` for each ``(delivery, outcome)`` and carry it out: acknowledge
        (coalesced), leave pending (one more failed attempt), dead-letter, or release.
        Never raises for Redis errors: an entry whose step failed stays pending."""
        acks: list[Delivery] = []
        pending: list[tuple[Delivery, Verdict]] = []
        letters: list[tuple[Delivery, Verdict]] = []
        releases: list[tuple[Delivery, Verdict]] = []
        for d, outcome in results:
            v = verdict(d, outcome, d.history, self.limits)
            if v.action is Action.ACK:
                acks.append(d)
            elif v.action is Action.LEAVE_PENDING:
                pending.append((d, v))
            elif v.action is Action.DEAD_LETTER:
                letters.append((d, v))
            else:
                releases.append((d, v))
        if acks:
            self.acks.add(acks)
        if pending:
            await self._leave_pending(pending)
        if letters:
            await self._dead_letter(letters, refused=False)
        for interrupted in (True, False):
            chosen = [d for d, v in releases if v.interrupted is interrupted]
            if chosen:
                await self.release(chosen, "interrupted", interrupted=interrupted)

    def _drop(self, deliveries: Iterable[Delivery], *, left: bool = False) -> None:
        for d in deliveries:
            self._held.pop(d.entry_id, None)
            self._marked.discard(d.entry_id)
            if left:
                self._left.add(d.entry_id)

    async def _leave_pending(self, pairs: list[tuple[Delivery, Verdict]]) -> None:
        try:
            await self.io.record([d.entry_id for d, _ in pairs])
        except SETTLE_ERRORS as exc:
            self.report.not_settled([d for d, _ in pairs], "record the failed attempt of", exc)
        self._drop((d for d, _ in pairs), left=True)
        self.report.left_pending(pairs, self.retry_attempts)

    async def _dead_letter(self, pairs: list[tuple[Delivery, Verdict]], *, refused: bool) -> None:
        messages = [safe_text(dead_letter_message(d, v, self.limits)) for d, v in pairs]
        letters = [letter_args(d, v, m) for (d, v), m in zip(pairs, messages, strict=True)]
        ids = [d.entry_id for d, _ in pairs]
        self._settling.update(ids)
        try:
            added = await self.io.dead_letter(letters, now_ms())
        except SETTLE_ERRORS as exc:
            self._drop((d for d, _ in pairs), left=True)
            self.report.not_settled([d for d, _ in pairs], "dead-letter", exc)
            return
        finally:
            self._settling.difference_update(ids)
        for (d, v), message, dead_id in zip(pairs, messages, added, strict=True):
            if dead_id == "" and d.entry_id not in self._held:
                DeliveryTracer.end(d, "claimed-elsewhere")  # counted when the refresh saw it
            else:
                self.report.dead_lettered(d, v, message, dead_id, refused)
        self._drop(d for d, _ in pairs)

    # ---- acknowledging ------------------------------------------------------------------

    async def acks_due(self) -> None:
        """Wait until finished deliveries are due for their XACK (see :class:`AckQueue`)."""
        await self.acks.ready()

    async def flush_acks(self) -> None:
        """One XACK for every finished delivery waiting (attempts records deleted in the same
        ``MULTI``). On an error they stay queued for the next flush.

        Raises:
            Connection errors, GroupMissingError: the deliveries stay queued.
        """
        batch = self.acks.take()
        if not batch:
            return
        ids = [d.entry_id for d in batch]
        records = [d.entry_id for d in batch if d.has_record]
        self._settling.update(ids)
        try:
            acked = await self.io.ack(ids, records)
        except BaseException:
            self.acks.put_back(batch)
            raise
        finally:
            self._settling.difference_update(ids)
        self._drop(batch)
        self.report.stats.held = len(self._held)
        self.report.acked(batch, acked)

    # ---- upkeep -------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reset the idle time of every held entry; entries the PEL no longer assigns to us
        (claimed elsewhere, group recreated) are dropped and reported.

        Raises:
            Connection errors, GroupMissingError.
        """
        async with self._upkeep:
            ids = list(self._held)
            gone = await self.io.refresh(ids) if ids else []
            gone = [i for i in gone if i in self._held and i not in self._settling]
            self._drop(self._held[i] for i in gone)
        if gone:
            self.report.stolen(gone)
        self.report.stats.refreshed += len(ids)
        self.report.stats.held = len(self._held)

    async def release(
        self, deliveries: Sequence[Delivery], why: str, *, interrupted: bool = True
    ) -> bool:
        """Hand held deliveries back (claimable at once by any consumer). An interrupted
        release counts one interruption each (except those marked in advance); a crashed one
        (``interrupted=False``) leaves the next delivery to count a crash. False (reported)
        when Redis refused or was unreachable: then they stay pending, claimable after
        ``--min-idle``."""
        ids = [d.entry_id for d in deliveries]
        try:
            await self._release(ids, [] if interrupted else ids)
        except SETTLE_ERRORS as exc:
            self._drop(deliveries)
            self.report.not_settled(deliveries, "release", exc)
            return False
        self._drop(deliveries)
        self._released.update(d.entry_id for d in deliveries)
        self.report.released(deliveries, why)
        return True

    async def _release(self, ids: list[EntryId], crashed: Collection[EntryId]) -> None:
        """Release ``ids``: one interruption each, except for ``crashed`` ones and those
        counted in advance (:meth:`isolate`)."""
        quiet = set(crashed) | self._marked
        async with self._upkeep:
            for group, flag in (
                ([i for i in ids if i not in quiet], True),
                ([i for i in ids if i in quiet], False),
            ):
                if group:
                    await self.io.release(group, interrupted=flag)

    async def release_rest(self, crashed: Collection[EntryId] = ()) -> None:
        """At the end: release every entry the PEL still assigns to us, except those left
        pending after a failure and those released already; ``crashed`` ones (a failed
        loop's culprits) without counting an interruption.

        Raises:
            Connection errors, GroupMissingError: listing or releasing failed.
        """
        mine = set(await self.io.own_pending())
        self._drop([d for i, d in self._held.items() if i not in mine])
        rest = [i for i in mine if i not in self._left and i not in self._released]
        await self._release(sorted(rest), [i for i in rest if i in crashed])
        for i in rest:
            d = self._held.pop(i, None)
            if d is not None:
                DeliveryTracer.end(d, "released")
        self._released.update(rest)
        if rest:
            self.report.released_ids(len(rest), "interrupted or fetched by a cancelled read")
        self.report.stats.held = len(self._held)
