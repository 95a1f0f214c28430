"""The state of a stream and its consumer groups, read in three or four pipelined round trips.

Used by ``python -m ingest.stats`` and by the worker's metrics sampler (both sync clients; the
sampler runs in a thread). Backlog of a group = entries it has not acknowledged = undelivered +
pending, with "undelivered" decided by :func:`ingest.backlog.undelivered`, the rule the
producer's admission function applies on the server, so the stats view, the gauges and
backpressure agree, and none of them believes a stale ``lag`` counter (a phantom backlog
after a Redis restart). This module only reads: the admission function is what repairs a
stale counter; here it is reported (:attr:`GroupState.lag_stale`).

Oldest pending age is the server time minus the millisecond part of the smallest pending entry
ID: how long the oldest unacknowledged delivered entry has existed (entry IDs are assigned by
Redis from its clock when the producer uses ``*``, which ours does).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from ingest.backlog import PROBE, Probe, Undelivered, undelivered
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


@dataclass(frozen=True, slots=True)
class GroupState:
    """One consumer group as the stats view shows it.

    Attributes:
        name: the group.
        pending: entries delivered and not acknowledged (PEL size).
        lag: Redis' own lag (XINFO GROUPS), ``None`` when it cannot tell; may be stale.
        undelivered: entries not yet delivered to the group (:func:`ingest.backlog.undelivered`).
        undelivered_source: how ``undelivered`` was found: ``empty``, ``before-first``,
            ``caught-up``, ``redis``, ``counted`` or ``counted-bound`` (a lower bound).
        last_delivered_id: the group's last-delivered ID.
        entries_read: the group's read counter (Redis >= 7), or ``None``.
        oldest_pending_id: smallest pending entry ID, ``None`` when nothing is pending.
        oldest_pending_age_ms: server time minus that ID's millisecond part, ms.
        consumer_count: consumers in the group.
        consumers: name, pending, idle ms per consumer (empty unless asked for).
        lag_stale: Redis' ``lag`` is proven wrong (``undelivered`` replaces it); the producer's
            admission function repairs it, or ``python -m ingest.groups repair``.
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
    lag_stale: bool = False

    @property
    def backlog(self) -> int:
        """Entries the group has not acknowledged: undelivered + pending."""
        return self.undelivered + self.pending

    @property
    def exact(self) -> bool:
        """``False`` when ``undelivered`` is only a lower bound (``counted-bound``)."""
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


class LagProbes:
    """Feeds the backlog rule the entry counts it asks for, a pipeline round at a time.

    Each round queues, per group still undecided, the probe the rule asks for (plus, when
    Redis' lag is nil, the ``before`` probe it will ask for next if the first one comes back
    full); :meth:`take` counts the replies. Two rounds at most.
    """

    def __init__(self, stream: str, groups: Sequence[GroupInfo], info: StreamInfo) -> None:
        self.stream, self.groups, self.info = stream, groups, info
        self.counts: list[dict[str, int]] = [{} for _ in groups]
        self.results: list[Undelivered | None] = [None] * len(groups)
        self._queued: list[tuple[int, str]] = []

    def _decide(self, index: int) -> Undelivered | Probe:
        group, counts = self.groups[index], self.counts[index]
        return undelivered(
            lag=group.lag,
            last_delivered_id=group.last_delivered_id,
            length=self.info.length,
            first_id=self.info.first_entry_id,
            last_id=self.info.last_entry_id,
            after=counts.get("after"),
            before=counts.get("before"),
        )

    def queue(self, pipe: Any) -> int:
        """Queue this round's probes on ``pipe``; returns how many replies to :meth:`take`."""
        self._queued = []
        for index, group in enumerate(self.groups):
            if self.results[index] is not None:
                continue
            step = self._decide(index)
            if isinstance(step, Undelivered):
                self.results[index] = step
                continue
            probes = [step]
            if step.side == "after" and group.lag is None:
                probes.append(Probe("before", PROBE))
            for probe in probes:
                _queue_probe(pipe, self.stream, group.last_delivered_id, probe)
                self._queued.append((index, probe.side))
        return len(self._queued)

    def take(self, replies: Sequence[Any]) -> None:
        """Count the replies of the probes :meth:`queue` queued, in order."""
        for (index, side), reply in zip(self._queued, replies, strict=True):
            self.counts[index][side] = len(reply or ())
        self._queued = []

    @property
    def done(self) -> bool:
        """Every group decided (call :meth:`queue` once more to decide the last ones)."""
        return all(result is not None for result in self.results)

    def result(self, index: int) -> Undelivered:
        """The decided figure of group ``index``."""
        result = self.results[index]
        if result is None:
            raise RuntimeError(f"group {self.groups[index].name!r} is not decided: queue() again")
        return result


def _queue_probe(pipe: Any, stream: str, last_delivered_id: str, probe: Probe) -> None:
    if probe.side == "after":
        pipe.xrange(stream, min="(" + last_delivered_id, max="+", count=probe.count)
    else:
        pipe.xrevrange(stream, max=last_delivered_id, min="-", count=probe.count)


def _server_ms(raw_time: Sequence[Any]) -> int:
    return int(raw_time[0]) * 1000 + int(raw_time[1]) // 1000


def _check_type(stream: str, kind: Any) -> bool:
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "none":
        return False
    if kind != "stream":
        raise IngestError(f"key {stream!r} holds a {kind}, not a stream")
    return True


def _group_state(
    group: GroupInfo,
    summary: PendingSummary,
    consumers: tuple[ConsumerInfo, ...],
    figure: Undelivered,
    now_ms: int,
) -> GroupState:
    age = None
    if summary.min_id is not None:
        age = max(0, now_ms - parse_entry_id(summary.min_id)[0])
    return GroupState(
        name=group.name,
        pending=summary.count,
        lag=group.lag,
        undelivered=figure.count,
        undelivered_source=figure.source,
        last_delivered_id=group.last_delivered_id,
        entries_read=group.entries_read,
        oldest_pending_id=summary.min_id,
        oldest_pending_age_ms=age,
        consumer_count=group.consumers,
        consumers=consumers,
        lag_stale=figure.stale,
    )


def _select(groups: list[GroupInfo], only: Collection[str] | None) -> list[GroupInfo]:
    return groups if only is None else [g for g in groups if g.name in only]


def _read_groups(
    pipe: Any, stream: str, groups: Sequence[GroupInfo], info: StreamInfo, consumers: bool
) -> tuple[list[PendingSummary], list[tuple[ConsumerInfo, ...]], LagProbes]:
    """Round 3 (and a rare round 4): XPENDING, XINFO CONSUMERS and the lag probes per group."""
    probes = LagProbes(stream, groups, info)
    for group in groups:
        pipe.xpending(stream, group.name)
        if consumers:
            pipe.xinfo_consumers(stream, group.name)
    probed = probes.queue(pipe)
    replies = pipe.execute()
    per_group = 2 if consumers else 1
    summaries = [parse_pending_summary(replies[i * per_group]) for i in range(len(groups))]
    rows = [
        tuple(parse_consumers(replies[i * per_group + 1])) if consumers else ()
        for i in range(len(groups))
    ]
    probes.take(replies[len(replies) - probed :] if probed else [])
    while probes.queue(pipe):
        probes.take(pipe.execute())
    return summaries, rows, probes


def read_state(
    client: redis.Redis,
    stream: str,
    *,
    groups: Collection[str] | None = None,
    consumers: bool = True,
) -> StreamState:
    """Read :class:`StreamState` of ``stream`` (three round trips, four in a rare case).

    Commands: TIME, TYPE, XLEN (dead-letter stream); XINFO STREAM, XINFO GROUPS; per group
    XPENDING (summary), XINFO CONSUMERS (when ``consumers``) and the probes of the backlog
    rule (:mod:`ingest.backlog`): ``XRANGE (<last-delivered-id> + COUNT k`` and, when Redis'
    lag is nil, ``XREVRANGE <last-delivered-id> - COUNT 100``; ``k <= 100``. A fourth round
    trip only when a counter said less than was counted.

    Args:
        groups: names of the groups to read (default all).
        consumers: also read each group's consumers.

    Raises:
        IngestError: the key exists but is not a stream.
        redis.RedisError: from the client (connection errors included).
    """
    keys = StreamKeys(stream)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.type(keys.stream)
    pipe.xlen(keys.dead_letter_stream)
    raw_time, kind, dead = pipe.execute()
    now_ms = _server_ms(raw_time)
    if not _check_type(stream, kind):
        return StreamState(stream=stream, exists=False, time_ms=now_ms, dead_letter_length=dead)
    pipe.xinfo_stream(stream)
    pipe.xinfo_groups(stream)
    raw_info, raw_groups = pipe.execute()
    info = parse_stream_info(raw_info)
    chosen = _select(parse_groups(raw_groups), groups)
    states: list[GroupState] = []
    if chosen:
        summaries, rows, probes = _read_groups(pipe, stream, chosen, info, consumers)
        states = [
            _group_state(group, summaries[i], rows[i], probes.result(i), now_ms)
            for i, group in enumerate(chosen)
        ]
    return StreamState(
        stream=stream,
        exists=True,
        time_ms=now_ms,
        length=info.length,
        first_entry_id=info.first_entry_id,
        last_generated_id=info.last_generated_id,
        entries_added=info.entries_added,
        dead_letter_length=int(dead),
        groups=tuple(states),
    )
