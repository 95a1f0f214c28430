"""A stream's backlog in tests: the Python rule through :func:`ingest.groupstate.read_state`."""

from __future__ import annotations

import redis

from ingest.backlog import stream_backlog
from ingest.groupstate import GroupState, read_state


def groups_of(client: redis.Redis, stream: str) -> tuple[GroupState, ...]:
    """Every group's state (consumers not read)."""
    return read_state(client, stream, consumers=False).groups


def backlog_of(client: redis.Redis, stream: str, no_group: str = "block") -> int:
    """The stream's backlog as the stats view and the gauges see it, entries."""
    state = read_state(client, stream, consumers=False)
    return stream_backlog((g.backlog for g in state.groups), state.length, no_group)


def worst_of(client: redis.Redis, stream: str) -> GroupState | None:
    """The group with the largest backlog (the first of equals, as the admission function)."""
    groups = groups_of(client, stream)
    return max(groups, key=lambda g: g.backlog, default=None)
