"""The consumers page: each group's consumers, live or dead, what each holds, and where it runs.

Live or dead comes from the consumer's liveness key (:meth:`ingest.keys.StreamKeys.consumer_alive`,
read by :func:`ingest.stats.read_liveness`): its value is ``host:pid`` of the worker holding
the name, and it expires when the worker stops refreshing it. The handler comes from the hash a
worker publishes about itself (:mod:`ingest.workerinfo`), when it exists. Idle time is Redis'
(XINFO CONSUMERS ``idle``: since the consumer's last attempted read or claim; ``inactive``
since its last successful one, Redis >= 7.2).

What a consumer holds is its pending entries (``XPENDING key group start + count consumer``),
each with its delivery count and idle time, and the event ID read from the entry itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from ingest.groupstate import GroupState, StreamState, read_state
from ingest.pause import PauseState
from ingest.stats import read_liveness
from ingest.streams import parse_entries, parse_pending_range
from ingest.workerinfo import WorkerInfo, parse_holder, worker_info_key
from workers.web.overview import Pauses, read_pauses

__all__ = [
    "PENDING_PAGE",
    "ConsumerRow",
    "GroupDetail",
    "PendingRow",
    "read_groups",
    "read_pending",
    "split_holder",
]

PENDING_PAGE = 100
"""Pending entries shown per page."""


@dataclass(frozen=True, slots=True)
class ConsumerRow:
    """One consumer of a group.

    Attributes:
        name: the consumer.
        live: its liveness key exists (``None``: Redis refused the read, unknown).
        host, pid: from the liveness key's ``host:pid`` ("" and ``None`` when dead).
        pending: entries it holds (delivered, not acknowledged).
        idle_ms: since its last attempted read or claim, ms.
        inactive_ms: since its last successful one, ms (Redis >= 7.2), else ``None``.
        info: what its worker published (:mod:`ingest.workerinfo`), ``None`` when nothing.
    """

    name: str
    live: bool | None
    host: str
    pid: int | None
    pending: int
    idle_ms: int
    inactive_ms: int | None
    info: WorkerInfo | None


@dataclass(frozen=True, slots=True)
class GroupDetail:
    """A group of one partition stream with its consumers and pause flag (``pause``:
    ``None`` when not paused; ``pause_known`` ``False`` when Redis refused the read)."""

    stream: str
    group: GroupState
    consumers: tuple[ConsumerRow, ...]
    pause: PauseState | None
    pause_known: bool


def split_holder(value: str | None) -> tuple[str, int | None]:
    """A liveness key's value -> ``(host, pid)`` (:func:`ingest.workerinfo.parse_holder`);
    ``("", None)`` for ``None``, and the whole value as the host when it does not end in a
    PID."""
    holder = parse_holder(value)
    return ("", None) if holder is None else (holder.host, holder.pid)


def _worker_infos(
    client: redis.Redis, stream: str, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], WorkerInfo | None]:
    if not pairs:
        return {}
    pipe = client.pipeline(transaction=False)
    for group, consumer in pairs:
        pipe.hgetall(worker_info_key(stream, group, consumer))
    replies = pipe.execute(raise_on_error=False)
    return {
        pair: None if isinstance(raw, Exception) else WorkerInfo.parse(raw)
        for pair, raw in zip(pairs, replies, strict=True)
    }


def _detail(
    state: StreamState,
    group: GroupState,
    liveness: Mapping[tuple[str, str], str | None] | None,
    infos: Mapping[tuple[str, str], WorkerInfo | None],
    pauses: Pauses,
) -> GroupDetail:
    rows = []
    for consumer in group.consumers:
        pair = (group.name, consumer.name)
        holder = None if liveness is None else liveness.get(pair)
        host, pid = split_holder(holder)
        live = None if liveness is None else holder is not None
        idle, inactive = consumer.idle_ms, consumer.inactive_ms
        rows.append(
            ConsumerRow(consumer.name, live, host, pid, consumer.pending, idle, inactive,
                        infos.get(pair))
        )  # fmt: skip
    pair = (state.stream, group.name)
    return GroupDetail(state.stream, group, tuple(rows), pauses.get(pair), pair in pauses)


def read_groups(client: redis.Redis, stream: str) -> tuple[StreamState, list[GroupDetail]]:
    """Read ``stream`` (one partition) with its groups, consumers, liveness keys, published
    worker hashes and pause flags: five round trips, whatever the number of consumers."""
    state = read_state(client, stream)
    liveness = read_liveness(client, state)
    pairs = [(g.name, c.name) for g in state.groups for c in g.consumers]
    infos = _worker_infos(client, stream, pairs)
    pauses = read_pauses(client, [(stream, g.name) for g in state.groups])
    return state, [_detail(state, g, liveness, infos, pauses) for g in state.groups]


@dataclass(frozen=True, slots=True)
class PendingRow:
    """One pending entry: ``entry_id``, ``consumer``, ``delivery_count``, ``idle_ms``, and the
    ``event_id`` in the entry (``None`` when the entry is gone: deleted or trimmed while
    pending)."""

    entry_id: str
    consumer: str
    delivery_count: int
    idle_ms: int
    event_id: str | None


def read_pending(
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str | None,
    start: str = "-",
    count: int = PENDING_PAGE,
) -> list[PendingRow]:
    """Pending entries of ``group`` (of one ``consumer``, or all), from ``start`` (inclusive;
    ``(<id>`` exclusive), at most ``count``, with the event ID of each (one pipelined XRANGE
    per entry). Raises ``redis.ResponseError`` (NOGROUP) when the group does not exist."""
    raw = client.xpending_range(stream, group, start, "+", count, consumer)
    rows = parse_pending_range(raw)
    if not rows:
        return []
    pipe = client.pipeline(transaction=False)
    for row in rows:
        pipe.xrange(stream, row.entry_id, row.entry_id)
    entries = [parse_entries(reply) for reply in pipe.execute()]
    return [
        PendingRow(
            row.entry_id,
            row.consumer,
            row.delivery_count,
            row.idle_ms,
            (found[0].fields or {}).get("event_id", "") if found and found[0].fields else None,
        )
        for row, found in zip(rows, entries, strict=True)
    ]
