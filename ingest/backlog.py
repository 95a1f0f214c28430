"""The backlog of a stream: entries its consumer groups have not acknowledged.

Definition (the same in the admission function, :mod:`ingest.admission`, and here):

* for one group, ``backlog = lag + pending``: ``lag`` is the entries not yet delivered to the
  group, ``pending`` the entries delivered and not acknowledged (the PEL size);
* ``lag`` comes from ``XINFO GROUPS`` (Redis >= 7), clamped to ``XLEN``. It is not trusted when
  the group's last-delivered ID is older than the first entry (an ``XTRIM`` removed undelivered
  entries, so Redis' counter is stale): then ``lag = XLEN``. When Redis reports it as nil (an
  ``XDEL`` ahead of the group), the entries after the last-delivered ID are counted with
  ``XRANGE``, bounded by the caller's limit: the count is exact below the bound and a lower
  bound above it. It is never read as 0;
* with several groups, the largest backlog counts;
* with no group at all, ``block`` mode counts every entry (a group created later from ID ``0``
  will read them all), ``trim`` mode counts none.

Source for the fields: https://redis.io/docs/latest/commands/xinfo-groups/ ("lag" may be nil).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from ingest.keys import StreamKeys
from ingest.streams import EntryId, GroupInfo, parse_entries, parse_entry_id, parse_groups


@dataclass(frozen=True, slots=True)
class GroupBacklog:
    """One group's share of the backlog.

    Attributes:
        group: the consumer group.
        lag: entries not yet delivered to it (as computed, see module docstring).
        pending: entries delivered and not acknowledged.
        backlog: ``lag + pending``.
        lag_source: ``redis`` (XINFO GROUPS lag), ``before-first`` (stale lag replaced by
            XLEN), ``counted`` (nil lag, counted with XRANGE), or ``empty`` (empty stream).
        lag_estimated: ``True`` when the lag did not come from Redis as is.
    """

    group: str
    lag: int
    pending: int
    backlog: int
    lag_source: str

    @property
    def lag_estimated(self) -> bool:
        """``True`` unless the lag is Redis' own (or the stream is empty)."""
        return self.lag_source not in {"redis", "empty"}


@dataclass(frozen=True, slots=True)
class Backlog:
    """The backlog of one stream (what ``python -m ingest.stats`` shows).

    Attributes:
        stream: the stream key.
        length: XLEN, entries.
        groups: one row per consumer group, in XINFO GROUPS order.
        no_group: ``block`` or ``trim``: how a stream without groups counts (module docstring).
    """

    stream: str
    length: int
    groups: tuple[GroupBacklog, ...]
    no_group: str = "block"

    @property
    def backlog(self) -> int:
        """The largest group backlog; with no group, XLEN (``block``) or 0 (``trim``)."""
        if not self.groups:
            return self.length if self.no_group == "block" else 0
        return max(g.backlog for g in self.groups)

    @property
    def worst(self) -> GroupBacklog | None:
        """The group with the largest backlog, or ``None`` without groups."""
        return max(self.groups, key=lambda g: g.backlog, default=None)


def known_lag(info: GroupInfo, length: int, first_id: str | None) -> tuple[int, str] | None:
    """Lag decided without counting, with its source (pure).

    Returns ``(0, "empty")`` on an empty stream, ``(XLEN, "before-first")`` when the group's
    last-delivered ID is older than the first entry, ``(min(lag, XLEN), "redis")`` when Redis
    has a lag, and ``None`` when the lag must be counted.
    """
    if length == 0 or first_id is None:
        return 0, "empty"
    if parse_entry_id(info.last_delivered_id) < parse_entry_id(first_id):
        return length, "before-first"
    if info.lag is not None:
        return min(info.lag, length), "redis"
    return None


def group_backlog(
    info: GroupInfo, length: int, first_id: str | None, counted_lag: int | None = None
) -> GroupBacklog:
    """Compute one group's backlog (pure).

    Args:
        info: the group's XINFO GROUPS row.
        length: XLEN.
        first_id: the first entry's ID, ``None`` for an empty stream.
        counted_lag: entries after the last-delivered ID counted with XRANGE; used only when
            :func:`known_lag` cannot decide.

    Raises:
        ValueError: the lag must be counted and ``counted_lag`` is ``None``.
    """
    known = known_lag(info, length, first_id)
    if known is None:
        if counted_lag is None:
            raise ValueError(f"group {info.name!r}: lag is nil and was not counted")
        known = counted_lag, "counted"
    lag, source = known
    return GroupBacklog(info.name, lag, info.pending, lag + info.pending, source)


def _first_id(client: redis.Redis, stream: str) -> EntryId | None:
    entries = parse_entries(client.xrange(stream, "-", "+", count=1))
    return entries[0].entry_id if entries else None


MAX_ENTRY_ID = f"{2**64 - 1}-{2**64 - 1}"
"""The largest entry ID; XRANGE refuses it as an exclusive start, and nothing follows it."""


def _count_after(client: redis.Redis, stream: str, entry_id: str, bound: int) -> int:
    if entry_id == MAX_ENTRY_ID:
        return 0
    raw: Any = client.xrange(stream, f"({entry_id}", "+", count=bound)
    return len(raw)


def read_backlog(
    client: redis.Redis, keys: StreamKeys, *, limit: int | None = None, no_group: str = "block"
) -> Backlog:
    """Read the backlog of ``keys.stream`` (XLEN, XINFO GROUPS, XRANGE; read-only commands).

    Args:
        client: a client with ``decode_responses=True``.
        keys: names the stream.
        limit: bound for counting a nil lag (entries); default XLEN (exact, O(XLEN)).
        no_group: ``block`` or ``trim`` (see :class:`Backlog`).

    Returns:
        ``Backlog(stream, length, groups)``; an absent stream has length 0 and no groups.

    Raises:
        redis.ResponseError: WRONGTYPE when the key holds something else than a stream.
    """
    stream = keys.stream
    length = int(client.xlen(stream))
    if length == 0 and not client.exists(stream):
        return Backlog(stream, 0, (), no_group)
    infos = parse_groups(client.xinfo_groups(stream))
    first_id = _first_id(client, stream)
    rows = []
    for info in infos:
        counted = None
        if known_lag(info, length, first_id) is None:
            bound = max((limit if limit is not None else length) - info.pending + 1, 1)
            counted = _count_after(client, stream, info.last_delivered_id, bound)
        rows.append(group_backlog(info, length, first_id, counted))
    return Backlog(stream, length, tuple(rows), no_group)
