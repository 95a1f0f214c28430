"""Typed views of raw Redis stream replies (contract module: parsers only, no client calls).

This is the one place that turns redis-py's loosely typed replies (with
``decode_responses=True``) into typed values, so the ``cast``s stay here. Reply shapes
differ between redis-py versions, RESP2/RESP3, Redis 7.0 and Valkey 8; every parser accepts
all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType, cast

EntryId = NewType("EntryId", str)
"""A stream entry ID assigned by Redis, ``"<ms>-<seq>"``."""

ZERO_ID = EntryId("0-0")


def parse_entry_id(value: str) -> tuple[int, int]:
    """Split ``"<ms>-<seq>"`` into ``(ms, seq)``; a bare ``"<ms>"`` means seq 0.

    Raises ``ValueError`` for anything else.
    """
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def next_entry_id(value: str) -> EntryId:
    """The smallest entry ID strictly greater than ``value`` (for exclusive range starts)."""
    ms, seq = parse_entry_id(value)
    if seq == 2**64 - 1:
        return EntryId(f"{ms + 1}-0")
    return EntryId(f"{ms}-{seq + 1}")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    return int(value)


def _as_dict(raw: Any) -> dict[str, Any]:
    """RESP3 replies are dicts, RESP2 replies flat ``[k, v, k, v]`` lists."""
    if isinstance(raw, Mapping):
        return {_text(k): v for k, v in raw.items()}
    items = list(cast(Sequence[Any], raw))
    return {_text(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry of a reply: ID and fields (``None`` when the entry was deleted)."""

    entry_id: EntryId
    fields: dict[str, str] | None


def parse_entries(raw: Any) -> list[StreamEntry]:
    """Parse a list of entries as redis-py returns them from XRANGE/XCLAIM/XAUTOCLAIM.

    Accepts ``[(id, {fields})]``, ``[[id, [k, v, ...]]]`` and ``(None, None)`` or ``[id, None]``
    for deleted entries (Redis 6.2 XCLAIM, XREADGROUP of own history).
    """
    entries: list[StreamEntry] = []
    for item in raw or ():
        if item is None:
            continue
        entry_id, fields = item[0], item[1]
        if entry_id is None:
            continue
        if fields is None or (not fields and not isinstance(fields, Mapping)):
            entries.append(StreamEntry(EntryId(_text(entry_id)), None))
            continue
        if type(entry_id) is str and type(fields) is dict:
            # Hot path (every read of a worker): redis-py with decode_responses=True decodes
            # a whole reply, so a str ID means str field names and values; keep its dict.
            entries.append(StreamEntry(EntryId(entry_id), fields))
            continue
        as_dict = _as_dict(fields)
        entries.append(
            StreamEntry(EntryId(_text(entry_id)), {k: _text(v) for k, v in as_dict.items()})
        )
    return entries


def parse_read_reply(raw: Any) -> list[tuple[str, list[StreamEntry]]]:
    """Parse an XREAD/XREADGROUP reply into ``[(stream, entries)]``.

    Accepts RESP2 ``[[stream, entries]]`` and RESP3 ``{stream: entries}`` shapes, and ``None``
    (BLOCK timed out).
    """
    if not raw:
        return []
    pairs = list(raw.items()) if isinstance(raw, Mapping) else [(item[0], item[1]) for item in raw]
    result: list[tuple[str, list[StreamEntry]]] = []
    for stream, entries in pairs:
        result.append((_text(stream), parse_entries(entries)))
    return result


@dataclass(frozen=True, slots=True)
class ClaimPage:
    """One XAUTOCLAIM reply.

    Attributes:
        cursor: where the next call starts; ``"0-0"`` when the sweep reached the end of the PEL.
        claimed: entries now owned by the caller. Entries whose fields are ``None`` were deleted.
        deleted_ids: IDs that were pending but no longer exist in the stream (Redis >= 7 third
            reply element); Redis has removed them from the PEL.
    """

    cursor: EntryId
    claimed: list[StreamEntry]
    deleted_ids: list[EntryId] = field(default_factory=list)


def parse_autoclaim(raw: Any) -> ClaimPage:
    """Parse an XAUTOCLAIM reply (redis-py 4-8, Redis 6.2 two elements, Redis 7/Valkey three).

    Source: https://redis.io/docs/latest/commands/xautoclaim/ ("Return").
    """
    items = list(raw)
    cursor = EntryId(_text(items[0]))
    claimed = parse_entries(items[1]) if len(items) > 1 else []
    deleted = [EntryId(_text(x)) for x in items[2]] if len(items) > 2 and items[2] else []
    # Redis 6.2 reports deleted entries as nil in the claimed list instead.
    deleted += [e.entry_id for e in claimed if e.fields is None]
    return ClaimPage(cursor, [e for e in claimed if e.fields is not None], deleted)


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """One row of ``XPENDING key group start end count`` (extended form).

    Attributes:
        entry_id: the pending entry's ID.
        consumer: the consumer that owns it.
        idle_ms: milliseconds since it was last delivered (or claimed).
        delivery_count: times delivered (redis-py's ``times_delivered``).
    """

    entry_id: EntryId
    consumer: str
    idle_ms: int
    delivery_count: int


def parse_pending_range(raw: Any) -> list[PendingEntry]:
    """Parse ``XPENDING ... start end count [consumer]``: redis-py dicts or raw 4-lists."""
    rows: list[PendingEntry] = []
    for item in raw or ():
        if isinstance(item, Mapping):
            rows.append(
                PendingEntry(
                    EntryId(_text(item["message_id"])),
                    _text(item["consumer"]),
                    int(item["time_since_delivered"]),
                    int(item["times_delivered"]),
                )
            )
        else:
            rows.append(
                PendingEntry(EntryId(_text(item[0])), _text(item[1]), int(item[2]), int(item[3]))
            )
    return rows


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """One row of ``XINFO GROUPS key``.

    Attributes:
        name: the group.
        consumers: number of consumers.
        pending: entries delivered and not acknowledged (PEL size).
        last_delivered_id: the group's last-delivered ID.
        entries_read: the group's read counter (Redis >= 7), or ``None``.
        lag: entries not yet delivered, or ``None`` when Redis cannot tell (after XDEL/XTRIM
            of entries beyond the group's position, or before Redis 7). Never read ``None``
            as 0.
    """

    name: str
    consumers: int
    pending: int
    last_delivered_id: EntryId
    entries_read: int | None = None
    lag: int | None = None


def parse_groups(raw: Any) -> list[GroupInfo]:
    """Parse ``XINFO GROUPS`` (list of dicts or of flat lists)."""
    groups: list[GroupInfo] = []
    for item in raw or ():
        d = _as_dict(item)
        groups.append(
            GroupInfo(
                name=_text(d["name"]),
                consumers=int(d.get("consumers", 0)),
                pending=int(d.get("pending", 0)),
                last_delivered_id=EntryId(_text(d.get("last-delivered-id", "0-0"))),
                entries_read=_int_or_none(d.get("entries-read")),
                lag=_int_or_none(d.get("lag")),
            )
        )
    return groups


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    """One row of ``XINFO CONSUMERS key group``: name, pending count, idle ms (since last
    attempted interaction), inactive ms (since last successful read/claim; Redis >= 7.2, else
    ``None``)."""

    name: str
    pending: int
    idle_ms: int
    inactive_ms: int | None = None


def parse_consumers(raw: Any) -> list[ConsumerInfo]:
    """Parse ``XINFO CONSUMERS`` (list of dicts or of flat lists)."""
    rows: list[ConsumerInfo] = []
    for item in raw or ():
        d = _as_dict(item)
        rows.append(
            ConsumerInfo(
                name=_text(d["name"]),
                pending=int(d.get("pending", 0)),
                idle_ms=int(d.get("idle", 0)),
                inactive_ms=_int_or_none(d.get("inactive")),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The parts of ``XINFO STREAM key`` (without ``FULL``) the stats view needs.

    Attributes:
        length: entries in the stream (XLEN).
        last_generated_id: the ID of the last entry ever added.
        first_entry_id: the oldest entry still in the stream, or ``None`` when empty.
        last_entry_id: the newest entry still in the stream, or ``None`` when empty.
        entries_added: entries ever added (Redis >= 7), or ``None``.
        groups: number of consumer groups.
    """

    length: int
    last_generated_id: EntryId
    first_entry_id: EntryId | None
    last_entry_id: EntryId | None
    entries_added: int | None
    groups: int


def _first_id(entry: Any) -> EntryId | None:
    if not entry:
        return None
    return EntryId(_text(entry[0]))


def parse_stream_info(raw: Any) -> StreamInfo:
    """Parse ``XINFO STREAM`` (redis-py dict, RESP3 map or RESP2 flat list)."""
    d = _as_dict(raw)
    return StreamInfo(
        length=int(d.get("length", 0)),
        last_generated_id=EntryId(_text(d.get("last-generated-id", "0-0"))),
        first_entry_id=_first_id(d.get("first-entry")),
        last_entry_id=_first_id(d.get("last-entry")),
        entries_added=_int_or_none(d.get("entries-added")),
        groups=int(d.get("groups", 0)),
    )


@dataclass(frozen=True, slots=True)
class PendingSummary:
    """The summary form ``XPENDING key group``: count, smallest and greatest pending IDs
    (``None`` when nothing is pending) and pending entries per consumer."""

    count: int
    min_id: EntryId | None
    max_id: EntryId | None
    per_consumer: dict[str, int]


def parse_pending_summary(raw: Any) -> PendingSummary:
    """Parse ``XPENDING key group``: redis-py's dict or the raw ``[count, min, max, [[c, n]]]``."""
    if isinstance(raw, Mapping):
        count, low, high = raw.get("pending", 0), raw.get("min"), raw.get("max")
        rows = raw.get("consumers") or []
        per = {
            _text(r["name"] if isinstance(r, Mapping) else r[0]): int(
                r["pending"] if isinstance(r, Mapping) else r[1]
            )
            for r in rows
        }
    else:
        count, low, high, rows = raw[0], raw[1], raw[2], raw[3] or []
        per = {_text(r[0]): int(r[1]) for r in rows}
    return PendingSummary(
        count=int(count or 0),
        min_id=EntryId(_text(low)) if low else None,
        max_id=EntryId(_text(high)) if high else None,
        per_consumer=per,
    )
