"""How each way an entry's delivery can end is reported: counters, the log line, the span end.

The one place for it: :class:`workers.ledger.Ledger` calls one method here per settlement, after
the Redis step that settled the entries succeeded, so a counter or a log line never claims
what did not happen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ingest.codec import now_ms
from ingest.logs import ENTRY_ID, EVENT_ID, span_fields
from ingest.streams import EntryId
from workers.delivery import REASON_DECODE, REASON_TOO_LARGE, Delivery
from workers.stats import Hooks, Stats
from workers.tracing import DeliveryTracer
from workers.verdict import REASON_CRASHED, REASON_TIMEOUT, Verdict
from workers.wording import agree, plural

log = logging.getLogger("workers.ledger")

MAX_ERROR_CHARS = 1000
"""Longest error message kept in a dead-letter entry (characters)."""

_REFUSAL_COUNTERS = {
    REASON_DECODE: "decode_errors",
    REASON_TOO_LARGE: "too_large",
    REASON_CRASHED: "crashed",
}


def _extra(d: Delivery) -> dict[str, str]:
    return {ENTRY_ID: d.entry_id, EVENT_ID: d.event_id, **span_fields(d.span)}


def _ids(ids: Sequence[str], most: int = 20) -> str:
    return " ".join(ids[:most]) + (" ..." if len(ids) > most else "")


def letter_args(d: Delivery, v: Verdict, message: str) -> list[str]:
    """The ``ingest_dead_letter`` arguments of one letter: entry ID, reason, error type, error
    (``message``, at most :data:`MAX_ERROR_CHARS`), delivery count, failed attempts."""
    error = v.error
    failed = d.history.failed + (1 if v.counts_failure else 0)
    return [
        d.entry_id,
        v.reason,
        type(error).__name__ if error is not None else "",
        message[:MAX_ERROR_CHARS],
        str(d.history.delivery_count),
        str(failed),
    ]


class Report:
    """Counters (:class:`~workers.stats.Stats`), hooks, log lines and span ends of settlements.

    Args:
        stats: the worker's counters.
        hooks: measurement hooks (end-to-end latency on acknowledgement).
    """

    def __init__(self, stats: Stats, hooks: Hooks) -> None:
        self.stats = stats
        self.hooks = hooks

    def acked(self, batch: Sequence[Delivery], acked: int) -> None:
        """One XACK round trip: ``acked`` is XACK's reply (entries another consumer claimed
        and acknowledged first are not counted twice)."""
        self.stats.acked += acked
        if self.hooks.end_to_end is not None:
            now = now_ms()
            self.hooks.end_to_end(
                [(now - d.event.produced_at_ms) / 1000 for d in batch if d.event is not None]
            )
        debug = log.isEnabledFor(logging.DEBUG)
        for d in batch:
            if debug:  # a line per event at INFO would cost a worker real CPU
                log.debug("handled entry %s (event %s)", d.entry_id, d.event_id, extra=_extra(d))
            if d.span is not None:
                DeliveryTracer.end(d, "acked")

    def dead_lettered(
        self, d: Delivery, verdict: Verdict, message: str, dead_id: str, refused: bool
    ) -> None:
        """One entry's dead-letter step answered ``dead_id`` (see
        :meth:`workers.redis_io.StreamIO.dead_letter`)."""
        if dead_id == "":
            self.stats.stolen += 1
            log.warning(
                "entry %s no longer ours (claimed and settled elsewhere); not dead-lettered",
                d.entry_id,
                extra=_extra(d),
            )
            DeliveryTracer.end(d, "claimed-elsewhere")
            return
        if dead_id == "-":
            self.lost([d.entry_id])
            DeliveryTracer.end(d, "lost")
            return
        self.stats.dead_lettered += 1
        if refused:
            self.stats.refused += 1
        counter = _REFUSAL_COUNTERS.get(verdict.reason)
        if counter is not None:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        log.warning(
            "dead-lettered entry %s (event %s) after %s: %s: %s",
            d.entry_id,
            d.event_id or "?",
            plural(d.history.delivery_count, "delivery", "deliveries"),
            verdict.reason,
            message,
            extra=_extra(d),
        )
        DeliveryTracer.end(d, "dead-lettered", verdict.error)

    def not_settled(self, deliveries: Sequence[Delivery], step: str, exc: BaseException) -> None:
        """A settling step failed (Redis unreachable, group gone): the entries stay pending
        and are delivered again after ``--min-idle``."""
        log.warning(
            "could not %s %s (%s: %s); %s pending for a later delivery: %s",
            step,
            plural(len(deliveries), "entry", "entries"),
            type(exc).__name__,
            exc,
            agree(len(deliveries), "it stays", "they stay"),
            _ids([d.entry_id for d in deliveries]),
        )
        for d in deliveries:
            DeliveryTracer.end(d, "failed", exc)

    def not_marked(self, count: int, exc: BaseException) -> None:
        """Preparing the isolation of a suspect (acknowledging, marking the entries waiting)
        failed."""
        log.warning(
            "could not prepare %s for a suspect running alone: %s: %s",
            plural(count, "waiting entry", "waiting entries"),
            type(exc).__name__,
            exc,
        )

    def left_pending(self, pairs: Sequence[tuple[Delivery, Verdict]], attempts: int) -> None:
        """Deliveries whose handler failed (or timed out) count one failed attempt each and
        stay pending."""
        self.stats.failed_attempts += len(pairs)
        self.stats.timeouts += sum(1 for _, v in pairs if v.reason == REASON_TIMEOUT)
        first, verdict = pairs[0]
        timed_out = all(v.reason == REASON_TIMEOUT for _, v in pairs)
        log.warning(
            "%s %s and %s pending (first: %s %s: %s)",
            plural(len(pairs), "entry", "entries"),
            "timed out" if timed_out else f"failed after {plural(attempts, 'attempt')}",
            agree(len(pairs), "stays", "stay"),
            first.entry_id,
            type(verdict.error).__name__,
            verdict.error,
            extra=_extra(first),
        )
        for d, v in pairs:
            DeliveryTracer.end(d, "failed", v.error)

    def released(self, deliveries: Sequence[Delivery], why: str) -> None:
        """Entries handed back (claimable at once by any consumer)."""
        self.stats.released += len(deliveries)
        log.info(
            "released %s %s (claimable at once by other consumers)",
            plural(len(deliveries), "entry", "entries"),
            why,
        )
        for d in deliveries:
            DeliveryTracer.end(d, "released")

    def released_ids(self, count: int, why: str) -> None:
        """Entries handed back that this worker no longer held as deliveries."""
        self.stats.released += count
        log.info(
            "released %s %s (claimable at once by other consumers)",
            plural(count, "entry", "entries"),
            why,
        )

    def stolen(self, ids: Sequence[EntryId]) -> None:
        """Held entries the PEL no longer assigns to us (claimed elsewhere)."""
        self.stats.stolen += len(ids)
        log.warning(
            "%s no longer ours (claimed elsewhere or the group was recreated): %s",
            plural(len(ids), "held entry is", "held entries are"),
            _ids(list(ids), 10),
        )

    def lost(self, ids: Sequence[EntryId]) -> None:
        """Entries deleted or trimmed while pending: nothing left to handle."""
        self.stats.lost += len(ids)
        log.warning(
            "%s deleted or trimmed while pending, so lost: %s",
            plural(len(ids), "entry was", "entries were"),
            _ids(list(ids), 50),
        )

    def self_claimed(self, count: int) -> None:
        """Our own sweep claimed entries we hold (recorded as interruptions)."""
        log.info(
            "our own claim sweep took %s we hold (idle-time refresh lagged, e.g. after an "
            "outage); not counted as deliveries",
            plural(count, "entry", "entries"),
        )

    def taken_over(self, dead: str, pending: int, taken: int, me: str, *, first: bool) -> None:
        """Entries claimed at once from a consumer whose liveness key expired (``pending``: how
        many it held; ``taken``: how many this step claimed, deleted ones included): one
        WARNING for that consumer, INFO for the rest of a takeover done in steps (each takes
        only what the free slots will take)."""
        self.stats.taken_over += taken
        if first:
            log.warning(
                "consumer %s is dead (its liveness key expired): %s takes over its %s at once",
                dead,
                me,
                plural(pending, "pending entry", "pending entries"),
            )
        else:
            log.info(
                "took over %s more of dead consumer %s",
                plural(taken, "pending entry", "pending entries"),
                dead,
            )
