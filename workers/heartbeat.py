"""The heartbeat: what keeps a live worker's claim on its entries, and notices stalls.

Every beat (a fifth of ``--liveness-ttl``): the liveness key is refreshed; entries read ahead
that waited past ``--max-wait`` are released for an idle worker; a WARNING names each handler
call running past ``--slow-handler`` (once per call); gauges are updated. Every refresh
interval (a quarter of ``--min-idle``, at most 10 s) the idle time of every held entry is reset
(``XCLAIM ... JUSTID``), so no other consumer's XAUTOCLAIM takes it while this one is alive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ingest.logs import ENTRY_ID, EVENT_ID
from workers.consumer import liveness_value
from workers.ledger import Ledger
from workers.redis_io import StreamIO
from workers.settings import WorkerSettings
from workers.slots import Dispatch, Slot
from workers.stats import Stats

log = logging.getLogger(__name__)


class Heartbeat:
    """One step per beat (see the module docstring).

    Args:
        io, ledger, dispatch, stats: the parts it looks after.
        liveness_value: what the liveness key holds (this process).
        liveness_ttl_s: its TTL.
        refresh_interval_s: how often held entries' idle time is reset.
        max_wait_s: longest wait of an entry read ahead.
        slow_handler_s: handler calls running longer are named in a WARNING.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        io: StreamIO,
        ledger: Ledger,
        dispatch: Dispatch,
        stats: Stats,
        *,
        liveness_value: str,
        liveness_ttl_s: float,
        refresh_interval_s: float,
        max_wait_s: float,
        slow_handler_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.io = io
        self.ledger = ledger
        self.dispatch = dispatch
        self.stats = stats
        self.liveness_value = liveness_value
        self.liveness_ttl_s = liveness_ttl_s
        self.refresh_interval_s = refresh_interval_s
        self.max_wait_s = max_wait_s
        self.slow_handler_s = slow_handler_s
        self.clock = clock
        self._last_refresh = -float("inf")

    @classmethod
    def for_settings(
        cls, io: StreamIO, ledger: Ledger, dispatch: Dispatch, stats: Stats, s: WorkerSettings
    ) -> Heartbeat:
        """The heartbeat of the consumer ``s`` describes (this process holds the key)."""
        return cls(
            io,
            ledger,
            dispatch,
            stats,
            liveness_value=liveness_value(),
            liveness_ttl_s=s.liveness_ttl_s,
            refresh_interval_s=s.refresh_interval_s,
            max_wait_s=s.max_wait_s,
            slow_handler_s=s.slow_handler_s,
        )

    async def step(self) -> None:
        """One beat.

        Raises:
            Connection errors, GroupMissingError: from the liveness key or the refresh.
        """
        await self.io.keep_alive(self.liveness_value, self.liveness_ttl_s)
        self.warn_slow()
        expired = await self.dispatch.expired(self.max_wait_s)
        if expired:
            await self.ledger.release(expired, f"that waited over {self.max_wait_s:g} s for a slot")
        if self.clock() - self._last_refresh >= self.refresh_interval_s:
            self._last_refresh = self.clock()
            await self.ledger.refresh()
        self.stats.held = self.ledger.held_count
        self.stats.abandoned = self.dispatch.abandoned_count()

    def warn_slow(self) -> None:
        """A WARNING per handler call past ``slow_handler_s`` (once per call)."""
        for slot in self.dispatch.calling_longer(self.slow_handler_s):
            if slot.warned:
                continue
            slot.warned = True
            self._warn(slot)

    def _warn(self, slot: Slot) -> None:
        started = slot.call_started if slot.call_started is not None else self.clock()
        items = slot.items
        first = items[0] if items else None
        log.warning(
            "handler call in slot %d still running after %.0f s (--slow-handler %g s): "
            "events %s, entries %s",
            slot.index,
            self.clock() - started,
            self.slow_handler_s,
            ", ".join(d.event_id for d in items[:5]) + (" ..." if len(items) > 5 else ""),
            ", ".join(d.entry_id for d in items[:5]) + (" ..." if len(items) > 5 else ""),
            extra={ENTRY_ID: first.entry_id, EVENT_ID: first.event_id} if first else {},
        )
