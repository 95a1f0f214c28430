"""Find an event by its event ID: where is it now?

Redis keeps no index by event ID, so the search reads the stream and its dead-letter stream
newest first (XREVRANGE, :data:`SCAN_PAGE` entries per call) up to a budget per look, and says
how far it got; the next look goes on from there. For each entry found in the stream, and each
consumer group, the entry is:

* **undelivered**: its ID is after the group's last-delivered ID;
* **pending**: in the group's PEL (``XPENDING key group id id 1``), with the consumer holding
  it, its delivery count and idle time;
* **acknowledged**: delivered and no longer pending (a dead-lettered entry is acknowledged
  too, in the same step as its copy to the dead-letter stream).

An entry found in the dead-letter stream is **dead-lettered** (its ``dead_entry_id`` names the
original). When the whole stream was read and the event is in neither, it is not in the stream
any more: acknowledged by every group and trimmed (admission trims only what every group has
acknowledged), or never produced. A replayed event is found as each of its entries (the
replay adds ``replayed_from``).

The trace link is ``<jaeger>/trace/<trace id>`` with the trace ID of the entry's
``traceparent`` field (W3C Trace Context: ``00-<32 hex>-<16 hex>-<2 hex>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from ingest.display import visible
from ingest.groupstate import GroupState, read_state
from ingest.keys import StreamKeys
from ingest.streams import parse_entries, parse_entry_id, parse_pending_range

__all__ = ["SCAN_PAGE", "Finding", "GroupPlace", "Look", "Match", "find_event", "trace_id", "where"]

SCAN_PAGE = 1000
"""Entries read per XREVRANGE call."""

_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_id(traceparent: str | None) -> str | None:
    """The trace ID of a W3C ``traceparent`` value, or ``None`` when it is not one (or all
    zeros, which the spec calls invalid)."""
    if not traceparent:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None or set(match.group(1)) == {"0"}:
        return None
    return match.group(1)


@dataclass(frozen=True, slots=True)
class Look:
    """How far a search of one stream got.

    Attributes:
        scanned: entries read in this look.
        cursor: the entry ID the next look starts below (exclusive), ``None`` when the
            stream was read to its oldest entry.
    """

    scanned: int
    cursor: str | None

    @property
    def complete(self) -> bool:
        """The stream was read to its oldest entry."""
        return self.cursor is None


def _matches(fields: dict[str, str], event_id: str) -> bool:
    found = fields.get("event_id")
    return found is not None and (found == event_id or visible(found) == event_id)


def search(
    client: redis.Redis, key: str, event_id: str, budget: int, below: str | None = None
) -> tuple[list[tuple[str, dict[str, str]]], Look]:
    """Entries of ``key`` whose ``event_id`` field is ``event_id`` (or shows as it, escaped),
    newest first, reading at most ``budget`` entries below the entry ID ``below``."""
    high = "+" if below is None else f"({below}"
    found: list[tuple[str, dict[str, str]]] = []
    scanned = 0
    while scanned < budget:
        count = min(SCAN_PAGE, budget - scanned)
        page = parse_entries(client.xrevrange(key, max=high, min="-", count=count))
        scanned += len(page)
        found += [(e.entry_id, e.fields) for e in page if e.fields and _matches(e.fields, event_id)]
        if len(page) < count:
            return found, Look(scanned, None)
        high = f"({page[-1].entry_id}"
    return found, Look(scanned, high[1:])


@dataclass(frozen=True, slots=True)
class GroupPlace:
    """Where one entry stands in one group.

    Attributes:
        group: the consumer group.
        state: ``undelivered``, ``pending``, ``acknowledged``, or ``dead-lettered`` (acknowledged
            by being moved to the dead-letter stream, whose copy names this entry and group).
        consumer: the consumer holding it (pending only).
        delivery_count: deliveries so far (pending only).
        idle_ms: since its last delivery, ms (pending only).
    """

    group: str
    state: str
    consumer: str = ""
    delivery_count: int = 0
    idle_ms: int = 0


def where(entry_id: str, group: GroupState, pending: Sequence[object]) -> GroupPlace:
    """Place ``entry_id`` in ``group`` given the XPENDING rows for that ID (pure)."""
    rows = parse_pending_range(pending)
    if rows:
        row = rows[0]
        return GroupPlace(group.name, "pending", row.consumer, row.delivery_count, row.idle_ms)
    if parse_entry_id(entry_id) > parse_entry_id(group.last_delivered_id):
        return GroupPlace(group.name, "undelivered")
    return GroupPlace(group.name, "acknowledged")


@dataclass(frozen=True, slots=True)
class Match:
    """An entry carrying the event: its ``entry_id``, ``fields``, and (in the stream) its
    place in every group; empty ``places`` for a dead letter."""

    entry_id: str
    fields: dict[str, str]
    places: tuple[GroupPlace, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """The result of one look for an event in one stream.

    Attributes:
        stream: the stream searched (a partition stream).
        event_id: what was searched for.
        in_stream: entries of the stream carrying it, newest first.
        dead: entries of the dead-letter stream carrying it, newest first.
        stream_look, dead_look: how far each search got.
        groups: the stream's groups (none: nobody reads it yet).
    """

    stream: str
    event_id: str
    in_stream: tuple[Match, ...]
    dead: tuple[Match, ...]
    stream_look: Look
    dead_look: Look
    groups: tuple[str, ...]

    @property
    def gone(self) -> bool:
        """Both streams were read whole and the event is in neither."""
        return (
            not self.in_stream
            and not self.dead
            and self.stream_look.complete
            and self.dead_look.complete
        )


def _dead_lettered(match: Match, dead: Sequence[tuple[str, dict[str, str]]]) -> Match:
    """``match`` with ``acknowledged`` turned into ``dead-lettered`` for each group a dead
    letter of this entry names (``dead_entry_id``, ``dead_group``)."""
    groups = {f.get("dead_group") for _, f in dead if f.get("dead_entry_id") == match.entry_id}
    if not groups:
        return match
    places = tuple(
        GroupPlace(p.group, "dead-lettered") if p.state == "acknowledged" and p.group in groups
        else p
        for p in match.places
    )  # fmt: skip
    return Match(match.entry_id, match.fields, places)


def find_event(
    client: redis.Redis,
    stream: str,
    event_id: str,
    budget: int,
    below: str | None = None,
    dead_below: str | None = None,
) -> Finding:
    """Look for ``event_id`` in ``stream`` and its dead-letter stream, reading at most
    ``budget`` entries of each below the cursors ``below`` and ``dead_below`` (see the module
    docstring). A cursor of ``""`` means that stream was already read whole: it is skipped."""
    keys = StreamKeys(stream)
    hits, look = (
        ([], Look(0, None)) if below == "" else search(client, stream, event_id, budget, below)
    )
    dead_hits, dead_look = (
        ([], Look(0, None))
        if dead_below == ""
        else search(client, keys.dead_letter_stream, event_id, budget, dead_below)
    )
    state = read_state(client, stream, consumers=False)
    matches = []
    if hits and state.groups:
        pipe = client.pipeline(transaction=False)
        for entry_id, _ in hits:
            for group in state.groups:
                pipe.xpending_range(stream, group.name, entry_id, entry_id, 1)
        replies = iter(pipe.execute())
        for entry_id, fields in hits:
            places = tuple(where(entry_id, g, next(replies)) for g in state.groups)
            matches.append(Match(entry_id, fields, places))
    else:
        matches = [Match(entry_id, fields) for entry_id, fields in hits]
    return Finding(
        stream=stream,
        event_id=event_id,
        in_stream=tuple(_dead_lettered(m, dead_hits) for m in matches),
        dead=tuple(Match(i, f) for i, f in dead_hits),
        stream_look=look,
        dead_look=dead_look,
        groups=tuple(g.name for g in state.groups),
    )
