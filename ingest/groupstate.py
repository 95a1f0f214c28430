"""The state of a stream and its consumer groups, read in three pipelined round trips.

Used by ``python -m ingest.stats`` (sync client) and by the worker's metrics sampler (asyncio
client); both shells issue the same commands and share the pure assembly below.

Backlog of a group = entries it has not acknowledged = undelivered + pending, with
"undelivered" decided by the same rule as the producer's admission function
(``ingest/lua/admission.lua``), so the stats view and backpressure agree:

* an empty stream: 0 (``empty``);
* the group's ``last-delivered-id`` is below the first entry: every entry is undelivered, XLEN
  (``before-first``; also right after an XTRIM made Redis' lag stale);
* Redis reports ``lag``: ``min(lag, XLEN)`` (``redis``);
* ``lag`` is nil (an XDEL ahead of the group, or Redis < 7) and the group is at or past the
  last entry: 0 (``caught-up``);
* otherwise the entries after ``last-delivered-id`` are counted with XRANGE up to
  ``count_bound`` (``counted``; at the bound the figure is a lower bound, ``counted-bound``).
  Never 0 for "unknown".

Oldest pending age is the server time minus the millisecond part of the smallest pending entry
ID: how long the oldest unacknowledged delivered entry has existed (entry IDs are assigned by
Redis from its clock when the producer uses ``*``, which ours does).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from ingest.backlog import known_lag
from ingest.errors import IngestError
from ingest.keys import StreamKeys
from ingest.streams import (
    ZERO_ID,
    ConsumerInfo,
    EntryId,
    GroupInfo,
    PendingSummary,
    StreamInfo,
    parse_consumers,
    parse_entry_id,
    parse_groups,
    parse_pending_summary,
    parse_stream_info,
)

COUNT_BOUND = 10_000
"""Most entries counted with XRANGE when Redis cannot tell a group's lag."""


@dataclass(frozen=True, slots=True)
class GroupState:
    """One consumer group as the stats view shows it.

    Attributes:
        name: the group.
        pending: entries delivered and not acknowledged (PEL size).
        lag: Redis' own lag (XINFO GROUPS), ``None`` when it cannot tell.
        undelivered: entries not yet delivered to the group (see the module docstring).
        undelivered_source: how ``undelivered`` was found: ``empty``, ``before-first``,
            ``caught-up``, ``redis``, ``counted`` or ``counted-bound`` (a lower bound).
        last_delivered_id: the group's last-delivered ID.
        entries_read: the group's read counter (Redis >= 7), or ``None``.
        oldest_pending_id: smallest pending entry ID, ``None`` when nothing is pending.
        oldest_pending_age_ms: server time minus that ID's millisecond part, ms.
        consumer_count: consumers in the group.
        consumers: name, pending, idle ms per consumer (empty unless asked for).
    """

    name: str
    pending: int
    lag: int | None
    undelivered: int
    undelivered_source: str
    last_delivered_id: EntryId
    entries_read: int | None
    oldest_pending_id: EntryId | None
    oldest_pending_age_ms: int | None
    consumer_count: int
    consumers: tuple[ConsumerInfo, ...] = ()

    @property
    def backlog(self) -> int:
        """Entries the group has not acknowledged: undelivered + pending."""
        return self.undelivered + self.pending

    @property
    def exact(self) -> bool:
        """``False`` when ``undelivered`` hit the count bound (then it is a lower bound)."""
        return self.undelivered_source != "counted-bound"


@dataclass(frozen=True, slots=True)
class StreamState:
    """A stream, its dead-letter stream and its groups at server time ``time_ms``.

    Attributes:
        stream: the stream key.
        exists: ``False`` when the key does not exist (all counts 0, no groups).
        time_ms: Redis server time (TIME), Unix ms.
        length: XLEN.
        first_entry_id: oldest entry still in the stream, ``None`` when empty.
        last_generated_id: ID of the last entry ever added.
        entries_added: entries ever added (Redis >= 7), or ``None``; two samples give a rate.
        dead_letter_length: XLEN of the dead-letter stream.
        groups: one :class:`GroupState` per group read.
    """

    stream: str
    exists: bool
    time_ms: int
    length: int = 0
    first_entry_id: EntryId | None = None
    last_generated_id: EntryId = ZERO_ID
    entries_added: int | None = None
    dead_letter_length: int = 0
    groups: tuple[GroupState, ...] = ()

    def group(self, name: str) -> GroupState | None:
        """The group called ``name``, or ``None``."""
        return next((g for g in self.groups if g.name == name), None)


def _lt(a: str, b: str) -> bool:
    return parse_entry_id(a) < parse_entry_id(b)


def undelivered(group: GroupInfo, info: StreamInfo) -> tuple[int | None, str]:
    """Entries not yet delivered to ``group`` and how that was found, or ``(None, "count")``
    when they must be counted with XRANGE (lag nil and the position inside the stream).

    The rule is :func:`ingest.backlog.known_lag`, the producer's, so both sides agree; a group
    at or past the last entry is 0 without counting.
    """
    known = known_lag(group, info.length, info.first_entry_id)
    if known is not None:
        return known
    if info.last_entry_id is not None and not _lt(group.last_delivered_id, info.last_entry_id):
        return 0, "caught-up"
    return None, "count"


def _server_ms(raw_time: Sequence[Any]) -> int:
    return int(raw_time[0]) * 1000 + int(raw_time[1]) // 1000


def _check_type(stream: str, kind: Any) -> bool:
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "none":
        return False
    if kind != "stream":
        raise IngestError(f"key {stream!r} holds a {kind}, not a stream")
    return True


def _queue_round1(pipe: Any, keys: StreamKeys) -> None:
    pipe.time()
    pipe.type(keys.stream)
    pipe.xlen(keys.dead_letter_stream)


def _queue_round3(
    pipe: Any, stream: str, groups: Sequence[GroupInfo], info: StreamInfo, consumers: bool
) -> None:
    for group in groups:
        pipe.xpending(stream, group.name)
        if consumers:
            pipe.xinfo_consumers(stream, group.name)
        if undelivered(group, info)[0] is None:
            start = "(" + group.last_delivered_id
            pipe.xrange(stream, min=start, max="+", count=COUNT_BOUND)


def _assemble(
    stream: str,
    now_ms: int,
    dead: int,
    info: StreamInfo,
    groups: Sequence[GroupInfo],
    replies: list[Any],
    consumers: bool,
) -> StreamState:
    states: list[GroupState] = []
    pos = 0
    for group in groups:
        summary: PendingSummary = parse_pending_summary(replies[pos])
        pos += 1
        rows: tuple[ConsumerInfo, ...] = ()
        if consumers:
            rows = tuple(parse_consumers(replies[pos]))
            pos += 1
        count, source = undelivered(group, info)
        if count is None:
            count = len(replies[pos] or ())
            source = "counted-bound" if count >= COUNT_BOUND else "counted"
            pos += 1
        age = None
        if summary.min_id is not None:
            age = max(0, now_ms - parse_entry_id(summary.min_id)[0])
        states.append(
            GroupState(
                name=group.name,
                pending=summary.count,
                lag=group.lag,
                undelivered=count,
                undelivered_source=source,
                last_delivered_id=group.last_delivered_id,
                entries_read=group.entries_read,
                oldest_pending_id=summary.min_id,
                oldest_pending_age_ms=age,
                consumer_count=group.consumers,
                consumers=rows,
            )
        )
    return StreamState(
        stream=stream,
        exists=True,
        time_ms=now_ms,
        length=info.length,
        first_entry_id=info.first_entry_id,
        last_generated_id=info.last_generated_id,
        entries_added=info.entries_added,
        dead_letter_length=dead,
        groups=tuple(states),
    )


def _select(groups: list[GroupInfo], only: Collection[str] | None) -> list[GroupInfo]:
    return groups if only is None else [g for g in groups if g.name in only]


def read_state(
    client: redis.Redis,
    stream: str,
    *,
    groups: Collection[str] | None = None,
    consumers: bool = True,
) -> StreamState:
    """Read :class:`StreamState` of ``stream`` with a sync client (three round trips).

    Commands: TIME, TYPE, XLEN (dead-letter stream); XINFO STREAM, XINFO GROUPS; per group
    XPENDING (summary), XINFO CONSUMERS (when ``consumers``) and, only when the lag is
    unknown, XRANGE ``(last-delivered-id + COUNT 10000``.

    Args:
        groups: names of the groups to read (default all).
        consumers: also read each group's consumers.

    Raises:
        IngestError: the key exists but is not a stream.
        redis.RedisError: from the client (connection errors included).
    """
    keys = StreamKeys(stream)
    pipe = client.pipeline(transaction=False)
    _queue_round1(pipe, keys)
    raw_time, kind, dead = pipe.execute()
    now_ms = _server_ms(raw_time)
    if not _check_type(stream, kind):
        return StreamState(stream=stream, exists=False, time_ms=now_ms, dead_letter_length=dead)
    pipe.xinfo_stream(stream)
    pipe.xinfo_groups(stream)
    raw_info, raw_groups = pipe.execute()
    info = parse_stream_info(raw_info)
    chosen = _select(parse_groups(raw_groups), groups)
    _queue_round3(pipe, stream, chosen, info, consumers)
    replies = pipe.execute() if chosen else []
    return _assemble(stream, now_ms, int(dead), info, chosen, replies, consumers)


async def read_state_async(
    client: redis.asyncio.Redis,
    stream: str,
    *,
    groups: Collection[str] | None = None,
    consumers: bool = False,
) -> StreamState:
    """:func:`read_state` for an asyncio client (the worker's sampler); same commands.

    ``consumers`` defaults to ``False`` here: the sampler only needs counts.
    """
    keys = StreamKeys(stream)
    pipe = client.pipeline(transaction=False)
    _queue_round1(pipe, keys)
    raw_time, kind, dead = await pipe.execute()
    now_ms = _server_ms(raw_time)
    if not _check_type(stream, kind):
        return StreamState(stream=stream, exists=False, time_ms=now_ms, dead_letter_length=dead)
    pipe.xinfo_stream(stream)
    pipe.xinfo_groups(stream)
    raw_info, raw_groups = await pipe.execute()
    info = parse_stream_info(raw_info)
    chosen = _select(parse_groups(raw_groups), groups)
    _queue_round3(pipe, stream, chosen, info, consumers)
    replies = await pipe.execute() if chosen else []
    return _assemble(stream, now_ms, int(dead), info, chosen, replies, consumers)
