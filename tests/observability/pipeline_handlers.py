"""Handlers for the cross-process telemetry tests (loaded by ``python -m workers --handler``).

``flaky``: events whose id starts with ``flaky-`` fail once with a transient error, then
succeed; the event ``poison`` raises ``PermanentError`` (dead-lettered at once); the rest
succeed. State lives in the worker process, so each flaky event fails exactly once there.
"""

from __future__ import annotations

import threading

from workers import Event, PermanentError, TransientError

POISON = "poison"
FLAKY_PREFIX = "flaky-"

_failed: set[str] = set()
_lock = threading.Lock()


def flaky(event: Event) -> None:
    """Fail ``flaky-*`` events once, ``poison`` always; accept the rest."""
    if event.event_id == POISON:
        raise PermanentError("poison event: cannot ever be handled")
    if event.event_id.startswith(FLAKY_PREFIX):
        with _lock:
            first = event.event_id not in _failed
            _failed.add(event.event_id)
        if first:
            raise TransientError(f"{event.event_id}: transient failure")
