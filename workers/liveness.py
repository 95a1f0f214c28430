"""The one liveness rule, shared by ``/livez`` and systemd's watchdog.

Alive while starting, and while Redis is unreachable (the loops retry; a restart would not
help: readiness reports it). Not alive when a loop has made no step for ``max_age_s`` while
Redis answers (a quiet read or claim loop is fine while it waits for a free handler slot), or
when every handler slot is stuck: waiting for a call abandoned past ``--handler-timeout``, or
running one call longer than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from workers.slots import Dispatch
from workers.stats import Health


@dataclass
class Liveness:
    """``check()`` -> ``(alive, detail)``.

    Attributes:
        health: the loops' beats and connection state.
        dispatch: the slots (room, stuck calls).
        max_age_s: longest a loop may go without a step (``--hung-after``).
        handler_timeout_s: ``--handler-timeout``.
        clock: monotonic seconds (the beats' clock).
    """

    health: Health
    dispatch: Dispatch
    max_age_s: float
    handler_timeout_s: float
    clock: Callable[[], float] = time.monotonic

    def stale_loops(self) -> list[str]:
        """Loops whose last step is older than ``max_age_s`` (the read and claim loops excused
        while they wait for a free slot)."""
        now = self.clock()
        stale = [name for name, at in self.health.beats.items() if now - at > self.max_age_s]
        if self.dispatch.waiting_for_room():
            stale = [name for name in stale if name not in ("read", "claim")]
        return sorted(stale)

    def all_slots_stuck(self) -> bool:
        """Every handler slot stuck past the timeout (see the module docstring)."""
        return self.dispatch.all_stuck(self.handler_timeout_s)

    def check(self) -> tuple[bool, str]:
        """The rule (see the module docstring)."""
        if not self.health.joined:
            return True, "starting"
        if not self.health.connected:
            return True, "redis unreachable; loops retrying"
        if self.all_slots_stuck():
            return False, (
                f"every handler slot stuck past --handler-timeout {self.handler_timeout_s:g} s"
            )
        stale = self.stale_loops()
        if stale:
            return False, f"no step for over {self.max_age_s:g} s: {', '.join(stale)}"
        return True, "loops running"
