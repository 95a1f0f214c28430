"""Selecting and deleting dead-letter entries for ``python -m workers.dlq``.

The selection every sub-command shares: explicit entry IDs, or a :class:`DeadLetterFilter`
(reason, error type, event ID, age) applied while paging through the dead-letter stream. Nothing
here adds to the main stream (that is :func:`workers.dlq.replay`, through the admission
function) or prints (that is :mod:`workers.dlq_view`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import redis

from ingest.codec import now_ms
from ingest.display import visible
from ingest.keys import StreamKeys
from ingest.streams import parse_entries, parse_entry_id

__all__ = [
    "REFUSED_REASONS",
    "DeadLetter",
    "DeadLetterFilter",
    "purge",
    "scan",
    "select",
    "split_replayable",
]

PAGE = 500
"""Entries read per XRANGE/XREVRANGE call while filtering."""

REFUSED_REASONS = frozenset({"decode", "too_large"})
"""Reasons the worker gives before any handler runs (the entry could not be decoded, or was
over the size limit): replayed as they are, they would come straight back, so ``replay``
skips them unless asked."""

DeadLetter = tuple[str, dict[str, str]]
"""``(dead-letter entry ID, fields)``."""


def _matches_any(value: str, patterns: Iterable[str]) -> bool:
    """``value`` equals a pattern or matches it as a shell pattern (``*``, ``?``, ``[...]``);
    the escaped form :func:`ingest.display.visible` shows counts too, so a value copied from
    the table matches."""
    shown = visible(value)
    return any(
        value == p or shown == p or fnmatchcase(value, p) or fnmatchcase(shown, p) for p in patterns
    )


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters a command applies to; every given criterion must hold.

    Attributes:
        reasons: ``dead_reason`` values (or shell patterns); empty: any.
        error_types: ``dead_error_type`` values (or shell patterns); empty: any.
        event_ids: ``event_id`` values (or shell patterns); empty: any.
        older_than_s: only entries dead-lettered more than this many seconds ago (by the
            dead-letter entry ID's time, which Redis set when the entry was added); ``None``:
            any age.
    """

    reasons: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    older_than_s: float | None = None

    @property
    def empty(self) -> bool:
        """True when no criterion is given (everything matches)."""
        return not (self.reasons or self.error_types or self.event_ids) and (
            self.older_than_s is None
        )

    def cutoff_ms(self, now: int) -> int | None:
        """Entries with an ID time below this (Unix ms) are old enough; ``None``: any age."""
        return None if self.older_than_s is None else now - int(self.older_than_s * 1000)

    def matches(self, fields: Mapping[str, str]) -> bool:
        """True when ``fields`` meet the reason, error type and event ID criteria (the age
        is applied to the range read, see :func:`scan`)."""
        checks = (
            (self.reasons, "dead_reason"),
            (self.error_types, "dead_error_type"),
            (self.event_ids, "event_id"),
        )
        return all(
            not patterns or _matches_any(fields.get(name, ""), patterns)
            for patterns, name in checks
        )

    def describe(self) -> str:
        """The criteria as the command line gave them (``--reason decode --older-than 3600s``)."""
        parts = [f"--reason {r}" for r in self.reasons]
        parts += [f"--error-type {t}" for t in self.error_types]
        parts += [f"--event-id {e}" for e in self.event_ids]
        if self.older_than_s is not None:
            parts.append(f"--older-than {self.older_than_s:g}s")
        return " ".join(parts)


def scan(
    client: redis.Redis,
    keys: StreamKeys,
    where: DeadLetterFilter,
    *,
    newest_first: bool = False,
    limit: int | None = None,
) -> Iterator[DeadLetter]:
    """Dead letters matching ``where``, oldest first (or newest first), at most ``limit``.

    Pages through the dead-letter stream with XRANGE (XREVRANGE) ``COUNT`` :data:`PAGE`,
    each page starting after the last ID seen (exclusive ``(`` ranges, Redis >= 6.2), so
    entries deleted meanwhile (a purge in progress) never make it skip or repeat one. The age
    criterion bounds the range itself: only IDs below the cutoff are read.
    """
    cutoff = where.cutoff_ms(now_ms())
    low, high = "-", "+" if cutoff is None else f"({cutoff}-0"
    found = 0
    while limit is None or found < limit:
        if newest_first:
            raw = client.xrevrange(keys.dead_letter_stream, max=high, min=low, count=PAGE)
        else:
            raw = client.xrange(keys.dead_letter_stream, min=low, max=high, count=PAGE)
        page = parse_entries(raw)
        for entry in page:
            fields = entry.fields or {}
            if where.matches(fields):
                yield entry.entry_id, fields
                found += 1
                if limit is not None and found >= limit:
                    return
        if len(page) < PAGE:
            return
        if newest_first:
            high = f"({page[-1].entry_id}"
        else:
            low = f"({page[-1].entry_id}"


def select(
    client: redis.Redis,
    keys: StreamKeys,
    ids: Sequence[str] | None,
    where: DeadLetterFilter | None = None,
) -> list[DeadLetter]:
    """``(ID, fields)`` of dead-letter entries ``ids``, or of all matching ``where`` when
    ``ids`` is ``None`` (all of them without a filter), oldest first.

    Raises:
        KeyError: an ID that is not in the dead-letter stream.
    """
    if ids is None:
        return list(scan(client, keys, where or DeadLetterFilter()))
    out: list[DeadLetter] = []
    for entry_id in ids:
        found = parse_entries(client.xrange(keys.dead_letter_stream, entry_id, entry_id))
        if not found:
            raise KeyError(entry_id)
        out.append((found[0].entry_id, found[0].fields or {}))
    return out


def split_replayable(
    entries: Sequence[DeadLetter], include_refused: bool
) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """``(to replay, skipped)``: entries whose reason is in :data:`REFUSED_REASONS` are
    skipped unless ``include_refused``."""
    if include_refused:
        return list(entries), []
    keep = [e for e in entries if e[1].get("dead_reason") not in REFUSED_REASONS]
    skipped = [e for e in entries if e[1].get("dead_reason") in REFUSED_REASONS]
    return keep, skipped


def purge(client: redis.Redis, keys: StreamKeys, where: DeadLetterFilter | None) -> int:
    """Delete dead-letter entries: all when ``where`` is ``None`` (one ``DEL``), else those
    matching it (XDEL per page of :func:`scan`). Returns how many were deleted.

    The CLI only passes ``None`` for an explicit ``--all``.
    """
    if where is None:
        count = int(client.xlen(keys.dead_letter_stream))
        client.delete(keys.dead_letter_stream)
        return count
    deleted = 0
    batch: list[str] = []
    for entry_id, _ in scan(client, keys, where):
        batch.append(entry_id)
        if len(batch) >= PAGE:
            deleted += int(client.xdel(keys.dead_letter_stream, *batch))
            batch.clear()
    if batch:
        deleted += int(client.xdel(keys.dead_letter_stream, *batch))
    return deleted


def entry_time_ms(entry_id: str) -> int:
    """The millisecond part of an entry ID (when Redis added it); 0 if it is not an ID."""
    try:
        return parse_entry_id(entry_id)[0]
    except ValueError:
        return 0
