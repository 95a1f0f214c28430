"""Plain counters, health state and optional measurement hooks of one worker.

The observability layer reads :class:`Stats` (as OpenTelemetry metrics) and :class:`Health`
(for ``/livez`` and ``/readyz``), and may set :class:`Hooks`. Nothing here does I/O, and a hook
left at ``None`` costs one attribute check per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    """Counters since the worker started (entries unless stated otherwise)."""

    read: int = 0
    """Entries read with XREADGROUP (own pending history included)."""
    acked: int = 0
    """Entries acknowledged after their handler succeeded, as counted by XACK's reply: an
    entry another consumer claimed and acknowledged first is not counted here (so ``acked``
    summed over every worker of a group is the number of entries acknowledged)."""
    retried: int = 0
    """In-process handler retries (one per extra attempt)."""
    failed_attempts: int = 0
    """Deliveries whose handler failed after its retries (the entry stayed pending)."""
    handler_errors: int = 0
    """Handler calls that raised (each attempt counts)."""
    claimed: int = 0
    """Entries claimed from idle consumers (XAUTOCLAIM)."""
    dead_lettered: int = 0
    """Entries moved to the dead-letter stream."""
    decode_errors: int = 0
    """Entries that did not decode (dead-lettered with reason ``decode``)."""
    too_large: int = 0
    """Entries over ``--max-event-bytes`` or ``--max-fields`` (dead-lettered ``too_large``
    without being decoded)."""
    crashed: int = 0
    """Entries dead-lettered ``crashed``: ``--max-crashes`` earlier deliveries ended with their
    worker dying or its loop failing."""
    refused: int = 0
    """Entries dead-lettered before any handler ran: ``decode``, ``too_large``, ``crashed`` and
    ``max-deliveries`` reached on an earlier delivery."""
    timeouts: int = 0
    """Deliveries whose handler ran past ``--handler-timeout`` (each a failed attempt)."""
    taken_over: int = 0
    """Entries claimed at once from consumers whose liveness key had expired (dead)."""
    lost: int = 0
    """Entries deleted or trimmed while pending (nothing left to handle)."""
    released: int = 0
    """Entries handed back at shutdown (each once): still pending for this consumer, idle time
    set to a year, so any other consumer's next sweep claims them without --min-idle."""
    refreshed: int = 0
    """Idle-time refreshes of held entries (XCLAIM JUSTID)."""
    stolen: int = 0
    """Entries another consumer claimed while we held them (XAUTOCLAIM after they looked idle
    for ``--min-idle``: we stalled, e.g. SIGSTOP or a long GC pause, or ``--min-idle`` is shorter
    than a handler call), noticed by the idle-time refresh. We stop refreshing them; if our
    handler still finishes, our XACK acknowledges only what the other consumer has not, and
    ``acked`` counts only that. The handler may have run on both consumers (at-least-once)."""
    groups_recreated: int = 0
    """Times the consumer group vanished and was recreated."""
    consumers_removed: int = 0
    """Idle consumers with no pending entries removed (XGROUP DELCONSUMER)."""
    connection_errors: int = 0
    """Redis connection errors seen by the loops."""
    in_flight: int = 0
    """Gauge: entries whose handler is running now."""
    held: int = 0
    """Gauge: entries held by this consumer (read, running, or awaiting ack); updated by every
    refresh and every XACK, and 0 after a graceful stop."""
    abandoned: int = 0
    """Gauge: handler calls past ``--handler-timeout`` that are still running (sync ones cannot
    be stopped; their slot waits for them)."""

    def as_dict(self) -> dict[str, int]:
        """Every counter by name."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Health:
    """What ``/livez`` and ``/readyz`` need; monotonic-clock seconds.

    Attributes:
        connected: the last Redis command of any loop succeeded.
        group_exists: the consumer group was there at the last read.
        joined: the worker has created/joined its group and started its loops.
        beats: loop name -> ``time.monotonic()`` of its last successful step (a read that
            returned or a block that timed out counts).
    """

    connected: bool = False
    group_exists: bool = False
    joined: bool = False
    beats: dict[str, float] = field(default_factory=dict)

    def beat(self, loop: str) -> None:
        """Record that ``loop`` completed a step now."""
        self.beats[loop] = time.monotonic()

    def stale_loops(self, max_age_s: float) -> list[str]:
        """Loops whose last beat is older than ``max_age_s``."""
        now = time.monotonic()
        return [name for name, at in self.beats.items() if now - at > max_age_s]


@dataclass(slots=True)
class Hooks:
    """Optional measurement callbacks, called once per batch, never per entry when unset.

    Attributes:
        handler_duration: ``(seconds, entries)`` after each handler call (a batch handler call
            covers ``entries`` events).
        end_to_end: latencies in seconds from ``produced_at_ms`` to the acknowledgement, once per
            XACK round trip.
    """

    handler_duration: Callable[[float, int], None] | None = None
    end_to_end: Callable[[Sequence[float]], None] | None = None
