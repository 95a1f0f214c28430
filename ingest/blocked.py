"""Saying what blocks a producer: the backpressure timeout that names its cause.

When a batch has waited ``max_block_s``, the operator needs to know who holds the backlog, not
only its size: a consumer group nobody consumes any more (abandoned), a stream with no group
at all, a worker that stalls, or a server out of memory. :func:`describe_block` reads the
stream's state once (:func:`ingest.groupstate.read_state`) and says so, with the command that
shows and deletes groups (``python -m ingest.groups``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis

from ingest.errors import BackpressureTimeout, IngestError
from ingest.groupstate import GroupState, StreamState, read_state

if TYPE_CHECKING:
    from ingest.backpressure import Limits

GROUPS_COMMAND = "python -m ingest.groups"


class Blocked(BackpressureTimeout):
    """A :class:`~ingest.errors.BackpressureTimeout` whose message also says what blocks.

    Attributes:
        reason: ``high-water`` (backlog above the mark), ``cap`` (no room under ``maxlen``
            without trimming entries a group still needs), ``oom`` (Redis above maxmemory) or
            ``noreplicas`` (fewer replicas in sync than Redis' ``min-replicas-to-write``).
        detail: what holds the backlog, with a remedy ("" when it could not be read).
    """

    def __init__(self, timeout: BackpressureTimeout, *, reason: str, detail: str) -> None:
        super().__init__(timeout.backlog, timeout.high_water, timeout.low_water, timeout.blocked_s)
        self.reason, self.detail = reason, detail
        if detail:
            self.args = (f"{self.args[0]}; {detail}",)


def _age(ms: int) -> str:
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def group_line(group: GroupState) -> str:
    """``'workers': backlog 50,000 (49,000 undelivered, 1,000 pending), 2 consumers, last
    active 3 s ago`` (``no consumers`` when it has none)."""
    bound = "" if group.exact else " at least"
    text = (
        f"{group.name!r}: backlog{bound} {group.backlog:,} ({group.undelivered:,} undelivered, "
        f"{group.pending:,} pending)"
    )
    if not group.consumers:
        return f"{text}, no consumers"
    idle = min(c.idle_ms for c in group.consumers)
    count = len(group.consumers)
    return f"{text}, {count} consumer{'s' if count != 1 else ''}, last active {_age(idle)} ago"


def explain(state: StreamState, reason: str, limits: Limits) -> str:
    """What blocks a producer of ``state.stream`` refused for ``reason`` (pure)."""
    stream = state.stream
    if reason == "oom":
        return (
            "Redis is above its maxmemory (noeviction): free memory, raise maxmemory, or let "
            "the workers catch up so acknowledged entries can be trimmed"
        )
    if reason == "noreplicas":
        return (
            "Redis refuses writes (NOREPLICAS): fewer replicas are connected and in sync than "
            "its min-replicas-to-write; bring a replica back (INFO replication on the primary "
            "shows them), or lower min-replicas-to-write"
        )
    if not state.groups:
        return (
            f"no consumer group on {stream!r}: every entry counts as backlog until one exists; "
            "start a worker (python -m workers), or use --no-group trim"
        )
    holding = sorted(
        (g for g in state.groups if g.backlog > limits.marks.low or reason == "cap"),
        key=lambda g: -g.backlog,
    )
    names = "; ".join(group_line(g) for g in holding or state.groups)
    what = (
        f"no room under the cap ({limits.maxlen:,} entries) without trimming entries these "
        "groups still need"
        if reason == "cap"
        else "held by consumer group"
    )
    return (
        f"{what}: {names}. A group nobody consumes holds the backlog for ever: see "
        f"{GROUPS_COMMAND} list --stream {stream}, delete one with {GROUPS_COMMAND} delete "
        f"NAME --stream {stream}"
    )


def describe_block(client: redis.Redis, stream: str, reason: str, limits: Limits) -> str:
    """:func:`explain` for the stream as it is now; "" when it cannot be read (the timeout is
    reported without it)."""
    try:
        state = read_state(client, stream, consumers=True)
    except (redis.RedisError, IngestError, OSError):
        return ""
    return explain(state, reason, limits)
