"""The streams page: each logical stream, its partitions and its consumer groups.

A **logical stream** is what an operator names; it is made of one or more partition streams
(one today, the stream itself; several once partitions land, see the Redis Cluster issue).
Every figure is read per partition with the readers the CLIs use
(:func:`ingest.groupstate.read_state`, whose backlog is :mod:`ingest.backlog`'s rule) and then
added up here: a group's backlog, lag and pending are sums over partitions, its oldest pending
age the largest; the stream's backlog is :func:`ingest.backlog.stream_backlog` over the summed
group backlogs. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import redis

from ingest.backlog import stream_backlog
from ingest.groupstate import StreamState, read_state
from ingest.keys import StreamKeys
from ingest.pause import PauseState, pause_key
from ingest.stats import parse_producer_settings
from workers.web.history import Rates, Sample

__all__ = [
    "GroupSummary",
    "LogicalStream",
    "PartitionSummary",
    "StreamSummary",
    "logical_streams",
    "read_pauses",
    "read_stream",
    "summarize",
]


@dataclass(frozen=True, slots=True)
class LogicalStream:
    """A stream as operators name it, and the partition streams it is made of.

    Attributes:
        name: the name shown and used in URLs.
        partitions: the stream keys, in partition order (``(name,)`` without partitions).
    """

    name: str
    partitions: tuple[str, ...]


def logical_streams(names: Iterable[str]) -> list[LogicalStream]:
    """One :class:`LogicalStream` per configured name. Without partitions each is its own
    only partition; when the partition layout is stored in Redis, it is read here."""
    return [LogicalStream(name, (name,)) for name in names]


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One consumer group over every partition of a stream.

    Attributes:
        name: the group.
        backlog: entries not acknowledged (undelivered + pending), summed.
        exact: ``False`` when a partition's undelivered count is only a lower bound.
        undelivered: entries not yet delivered (the lag the backlog rule found), summed.
        pending: entries delivered and not acknowledged, summed.
        oldest_pending_age_ms: the oldest pending entry's age, ms (``None``: none pending).
        consumers: consumers, summed over partitions.
        lag_stale: Redis' own lag counter is stale on some partition.
        paused: the pause of the first paused partition, ``None`` when none is.
        paused_partitions: how many partitions are paused.
        pause_known: ``False`` when Redis refused to show the pause flag (ACL).
        out_per_s: entries acknowledged per second (``None`` until two samples).
    """

    name: str
    backlog: int
    exact: bool
    undelivered: int
    pending: int
    oldest_pending_age_ms: int | None
    consumers: int
    lag_stale: bool
    paused: PauseState | None = None
    paused_partitions: int = 0
    pause_known: bool = True
    out_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class PartitionSummary:
    """One partition stream: ``stream`` key, whether it exists, XLEN, backlog, dead letters."""

    stream: str
    exists: bool
    length: int
    backlog: int
    dead_letters: int


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """A logical stream at server time ``time_ms``.

    Attributes:
        name: the logical stream.
        time_ms: Redis server time of the read, Unix ms.
        length: entries in the stream (XLEN summed).
        backlog: the largest group backlog (every entry when there is no group and no
            producer recorded ``no_group trim``).
        dead_letters: entries in the dead-letter streams, summed.
        cap: the length cap producers recorded (summed), ``None`` when none did.
        entries_added: entries ever added, summed; ``None`` when unknown.
        groups: one summary per group, by name.
        partitions: one per partition stream.
        in_per_s: entries added per second (``None`` until two samples).
    """

    name: str
    time_ms: int
    length: int
    backlog: int
    dead_letters: int
    cap: int | None
    entries_added: int | None
    groups: tuple[GroupSummary, ...]
    partitions: tuple[PartitionSummary, ...]
    in_per_s: float | None = None

    def sample(self) -> Sample:
        """This reading as a history :class:`~workers.web.history.Sample`."""
        backlogs = {g.name: g.backlog for g in self.groups}
        return Sample(self.time_ms, self.entries_added, self.backlog, backlogs)

    def group(self, name: str) -> GroupSummary | None:
        """The group called ``name``, or ``None``."""
        return next((g for g in self.groups if g.name == name), None)


Pauses = Mapping[tuple[str, str], PauseState | None]
"""``(partition stream, group)`` -> its pause, ``None`` when not paused; a pair missing from
the mapping is unknown (Redis refused the read)."""


def read_pauses(client: redis.Redis, pairs: Sequence[tuple[str, str]]) -> Pauses:
    """``GET`` the pause flag (:func:`ingest.pause.pause_key`) of each ``(stream, group)`` in
    one pipelined round trip; a refused read leaves its pair out."""
    if not pairs:
        return {}
    pipe = client.pipeline(transaction=False)
    for stream, group in pairs:
        pipe.get(pause_key(stream, group))
    replies = pipe.execute(raise_on_error=False)
    found: dict[tuple[str, str], PauseState | None] = {}
    for pair, reply in zip(pairs, replies, strict=True):
        if isinstance(reply, Exception):
            continue
        found[pair] = None if reply is None else PauseState.parse(str(reply))
    return found


def read_stream(
    client: redis.Redis, stream: LogicalStream
) -> tuple[list[StreamState], Pauses, list[Mapping[str, object] | None]]:
    """Read every partition of ``stream``: its state with groups (no consumers), the groups'
    pause flags and the producer's recorded settings (``HGETALL {stream}:config``)."""
    states = [read_state(client, p, consumers=False) for p in stream.partitions]
    pairs = [(s.stream, g.name) for s in states for g in s.groups]
    pauses = read_pauses(client, pairs)
    pipe = client.pipeline(transaction=False)
    for partition in stream.partitions:
        pipe.hgetall(StreamKeys(partition).config)
    configs: list[Mapping[str, object] | None] = [
        None if isinstance(raw, Exception) else parse_producer_settings(raw)
        for raw in pipe.execute(raise_on_error=False)
    ]
    return states, pauses, configs


def _group(name: str, states: Sequence[StreamState], pauses: Pauses) -> GroupSummary:
    found = [(s.stream, g) for s in states for g in s.groups if g.name == name]
    ages = [g.oldest_pending_age_ms for _, g in found if g.oldest_pending_age_ms is not None]
    flags = [pauses.get((stream, name), None) for stream, _ in found]
    paused = [flag for flag in flags if flag is not None]
    return GroupSummary(
        name=name,
        backlog=sum(g.backlog for _, g in found),
        exact=all(g.exact for _, g in found),
        undelivered=sum(g.undelivered for _, g in found),
        pending=sum(g.pending for _, g in found),
        oldest_pending_age_ms=max(ages) if ages else None,
        consumers=sum(g.consumer_count for _, g in found),
        lag_stale=any(g.lag_stale for _, g in found),
        paused=paused[0] if paused else None,
        paused_partitions=len(paused),
        pause_known=all((stream, name) in pauses for stream, _ in found),
    )


def summarize(
    stream: LogicalStream,
    states: Sequence[StreamState],
    pauses: Pauses,
    configs: Sequence[Mapping[str, object] | None],
    rates: Rates | None = None,
) -> StreamSummary:
    """Add up the partitions of ``stream`` (pure; see the module docstring)."""
    names = sorted({g.name for s in states for g in s.groups})
    groups = [_group(name, states, pauses) for name in names]
    if rates is not None:
        groups = [_with_rate(g, rates) for g in groups]
    no_group = next((str(c.get("no_group")) for c in configs if c and c.get("no_group")), "block")
    partitions = tuple(_partition(s, no_group) for s in states)
    caps = [c.get("maxlen") for c in configs if c]
    added = [s.entries_added for s in states]
    return StreamSummary(
        name=stream.name,
        time_ms=max(s.time_ms for s in states),
        length=sum(s.length for s in states),
        backlog=stream_backlog(
            (g.backlog for g in groups), sum(s.length for s in states), no_group
        ),
        dead_letters=sum(s.dead_letter_length for s in states),
        cap=sum(int(str(c)) for c in caps) if caps and len(caps) == len(states) else None,
        entries_added=None if None in added else sum(a for a in added if a is not None),
        groups=tuple(groups),
        partitions=partitions,
        in_per_s=None if rates is None else rates.in_per_s,
    )


def _with_rate(group: GroupSummary, rates: Rates) -> GroupSummary:
    return replace(group, out_per_s=rates.out_per_s.get(group.name))


def _partition(state: StreamState, no_group: str) -> PartitionSummary:
    backlog = stream_backlog((g.backlog for g in state.groups), state.length, no_group)
    return PartitionSummary(
        state.stream, state.exists, state.length, backlog, state.dead_letter_length
    )
