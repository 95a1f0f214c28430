"""Typed views of the worker functions' replies (``ingest/lua/worker.lua``), and the entry
limits they enforce. Parsers only: no client calls.

An entry row is ``[id, [name, value, ...]]``, a stub ``[id, bytes, fields]`` for an entry over
the limits (its bytes stayed on the server), or ``[id, None]`` for one deleted while pending;
claimed and history rows add ``delivery count, failed attempts, interruptions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.streams import ZERO_ID, EntryId, StreamEntry, parse_read_reply
from workers.delivery import FIRST, Delivery, History, from_fields, too_large

ENVELOPE_ALLOWANCE_BYTES = 64 * 1024
"""Bytes an entry may hold beyond ``--max-event-bytes`` (the payload limit): the envelope's
other fields (event ID, source, type, trace context, ...)."""


@dataclass(frozen=True, slots=True)
class EntryLimits:
    """The worker's limits on one entry.

    Attributes:
        max_bytes: bytes of field names and values together.
        max_fields: number of fields.
    """

    max_bytes: int
    max_fields: int

    @classmethod
    def for_payload(cls, max_event_bytes: int, max_fields: int) -> EntryLimits:
        """Limits for a payload limit (``--max-event-bytes``) plus the envelope allowance."""
        return cls(max_event_bytes + ENVELOPE_ALLOWANCE_BYTES, max_fields)

    def exceeded(self, fields: Mapping[str, str]) -> tuple[int, int] | None:
        """``(bytes, fields)`` of ``fields`` when over a limit, else ``None`` (for entries
        that came through a plain read; the functions check on the server)."""
        count = len(fields)
        size = 0
        for name, value in fields.items():
            for text in (name, value):
                size += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes or count > self.max_fields:
            return size, count
        return None


@dataclass(slots=True)
class Row:
    """One entry of a reply (read-only by convention: not frozen, which would cost a third
    of a microsecond per entry on the read path).

    Attributes:
        entry_id: the entry ID.
        fields: its fields; ``None`` for a stub or a deleted entry.
        size, field_count: a stub's bytes and field count (0 otherwise).
        history: from claims and history reads; ``None`` for fresh reads.
    """

    entry_id: EntryId
    fields: dict[str, str] | None
    size: int = 0
    field_count: int = 0
    history: History | None = None

    @property
    def deleted(self) -> bool:
        """Deleted from the stream while pending (nothing left to handle)."""
        return self.fields is None and self.field_count == 0 and self.size == 0


@dataclass(frozen=True, slots=True)
class Page:
    """A claim or takeover reply: ``rows`` now ours, ``deleted_ids`` gone from the stream
    (and the PEL), ``cursor`` where the next XAUTOCLAIM starts (``"0-0"``: end of the PEL),
    ``more`` (takeover) whether the dead consumer may hold more."""

    rows: list[Row]
    deleted_ids: list[EntryId] = field(default_factory=list)
    cursor: EntryId = ZERO_ID
    more: bool = False


def _fields(flat: Sequence[str]) -> dict[str, str]:
    items = iter(flat)
    return dict(zip(items, items))  # noqa: B905 - pairs by construction; strict costs per entry


def parse_row(raw: Sequence[Any]) -> Row:
    """One ``[id, fields|bytes|None, fields, count, failed, interrupted]`` row."""
    entry_id = EntryId(str(raw[0]))
    body = raw[1]
    history = History(int(raw[3]), int(raw[4]), int(raw[5])) if len(raw) > 3 else None
    if isinstance(body, list):
        return Row(entry_id, _fields(body), history=history)
    if body is None:
        return Row(entry_id, None, history=history)
    return Row(entry_id, None, int(body), int(raw[2]), history)


def parse_rows(raw: Any) -> list[Row]:
    """A list of rows (``ingest_read``, ``ingest_history``)."""
    return [parse_row(item) for item in raw or ()]


def parse_claim(raw: Sequence[Any]) -> Page:
    """``ingest_claim``: ``[cursor, rows, deleted IDs]``."""
    deleted = [EntryId(str(i)) for i in raw[2] or ()]
    return Page(parse_rows(raw[1]), deleted, cursor=EntryId(str(raw[0])))


def parse_takeover(raw: Sequence[Any]) -> Page | None:
    """``ingest_takeover``: ``None`` when the consumer is alive (``[-1]``), else a page."""
    if int(raw[0]) == -1:
        return None
    deleted = [EntryId(str(i)) for i in raw[2] or ()]
    return Page(parse_rows(raw[1]), deleted, more=bool(int(raw[0])))


def rows_of_read(raw: Any, limits: EntryLimits) -> list[Row]:
    """Rows of a plain XREADGROUP reply (the blocking wait), checked against ``limits``
    here: over a limit, the row becomes a stub (its fields dropped at once)."""
    rows: list[Row] = []
    for _, entries in parse_read_reply(raw):
        rows.extend(_checked(entry, limits) for entry in entries)
    return rows


def _checked(entry: StreamEntry, limits: EntryLimits) -> Row:
    if entry.fields is None:
        return Row(entry.entry_id, None)
    over = limits.exceeded(entry.fields)
    if over is not None:
        return Row(entry.entry_id, None, over[0], over[1])
    return Row(entry.entry_id, entry.fields)


def to_delivery(row: Row, limits: EntryLimits, *, claimed: bool) -> Delivery:
    """The delivery of a (not deleted) row: decoded, or refused ``too_large`` for a stub."""
    history = row.history or FIRST
    if row.fields is None:
        bounds = (limits.max_bytes, limits.max_fields)
        d = too_large(row.entry_id, row.size, row.field_count, bounds, history)
    else:
        d = from_fields(row.entry_id, row.fields, history)
    d.claimed = claimed
    d.has_record = row.history is not None
    return d
