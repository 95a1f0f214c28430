"""The read loop: this consumer's own pending entries first (its history), then new ones.

Each read takes at most what the free handler slots will take (:meth:`Dispatch.room`), through
the ``ingest`` library's functions, which replace an entry over the limits by a stub so its
bytes never cross the wire. When nothing is waiting, the loop blocks in a plain
``XREADGROUP COUNT 1 BLOCK`` (a function cannot block): the one place where an entry's raw bytes
reach the worker before its size is checked, and only one entry's.
"""

from __future__ import annotations

import asyncio
import logging

from workers.burst import BurstCheck
from workers.ledger import Ledger
from workers.redis_io import StreamIO
from workers.rows import Row
from workers.slots import Dispatch
from workers.stats import Health, Stats

log = logging.getLogger(__name__)


class Reader:
    """One step per read (see the module docstring).

    Args:
        io, ledger, dispatch: where entries come from and go to.
        stats, health: counters and health state.
        read_count: most entries per read (``--batch``).
        block_ms: the blocking wait when idle (``--block-ms``; at most 500 in burst mode).
        burst: stop once the group has nothing undelivered and nothing pending.
        burst_check: decides that (only with ``burst``).
        stopping: set to stop the worker (a finished burst sets it).
    """

    def __init__(
        self,
        io: StreamIO,
        ledger: Ledger,
        dispatch: Dispatch,
        stats: Stats,
        health: Health,
        read_count: int,
        block_ms: int,
        burst_check: BurstCheck | None,
        stopping: asyncio.Event,
    ) -> None:
        self.io = io
        self.ledger = ledger
        self.dispatch = dispatch
        self.stats = stats
        self.health = health
        self.read_count = read_count
        self.block_ms = min(block_ms, 500) if burst_check is not None else block_ms
        self.burst_check = burst_check
        self.stopping = stopping
        self.history_from: str | None = "0"
        self.history_done = asyncio.Event()
        """Set once the own pending history was read; claim sweeps wait for it, or a sweep
        would claim our own released entries again (an extra delivery count)."""
        self.burst_done = False
        self._ahead: tuple[asyncio.Future[list[Row]], int] | None = None
        """The next read, sent while the last full batch is admitted, and its count."""

    async def step(self) -> None:
        """Read once: history while there is some, else new entries (blocking when idle)."""
        room = await self.dispatch.wait_room()
        count = min(room, self.read_count)
        try:
            if self.history_from is not None:
                rows = await self.io.read_history(self.history_from, count)
                self.history_from = rows[-1].entry_id if rows else None
                if self.history_from is None:
                    self.history_done.set()
            else:
                rows = await self._read_new(count)
                if not rows:
                    rows = await self.io.wait_for_new(self.block_ms)
                self.health.group_exists = True
        except asyncio.CancelledError:
            if self._ahead is not None:
                self._ahead[0].cancel()
            raise
        await self._hand_over(rows)
        if not rows and self.burst_check is not None and await self._burst_finished():
            self.burst_done = True
            self.stopping.set()

    async def _read_new(self, count: int) -> list[Row]:
        """New entries; after a full batch the next read is sent at once, so its round trip
        (and the server's work) overlaps the decoding of this one."""
        if self._ahead is not None:
            (task, count), self._ahead = self._ahead, None
            rows = await task
        else:
            rows = await self.io.read_new(count)
        more = min(self.dispatch.room() - len(rows), self.read_count)
        if len(rows) == count and more > 0:
            self._ahead = (asyncio.ensure_future(self.io.read_new(more)), more)
        return rows

    async def _hand_over(self, rows: list[Row]) -> None:
        if not rows:
            return
        self.stats.read += len(rows)
        await self.dispatch.put(await self.ledger.admit(rows, claimed=False))

    async def _burst_finished(self) -> bool:
        """This worker holds nothing and the group has nothing pending or undelivered."""
        if self.ledger.held_count or len(self.dispatch) or self.burst_check is None:
            return False
        return await self.burst_check.finished()
