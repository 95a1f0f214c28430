"""The coalescing of acknowledgements: many finished deliveries per XACK, on a short timer.

At a moderate steady rate each read returns one entry; acknowledging per read would cost a
round trip per entry. Finished deliveries collect here and :class:`~workers.ledger.Ledger`
sends one ``XACK`` for all of them once ``max_batch`` are waiting or ``delay_s`` after the
first one arrived. In memory only: the ledger does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib

from workers.delivery import Delivery


class AckQueue:
    """Finished deliveries waiting for their XACK.

    Args:
        max_batch: ready at once when this many are waiting.
        delay_s: otherwise ready this long after the first one arrived.
    """

    def __init__(self, *, max_batch: int = 500, delay_s: float = 0.005) -> None:
        self.max_batch = max_batch
        self.delay_s = delay_s
        self._waiting: list[Delivery] = []
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, deliveries: list[Delivery]) -> None:
        """Queue finished deliveries."""
        self._waiting.extend(deliveries)
        self._nonempty.set()
        if len(self._waiting) >= self.max_batch:
            self._full.set()

    def take(self) -> list[Delivery]:
        """Everything waiting, oldest first (the queue is empty after)."""
        batch, self._waiting = self._waiting, []
        self._nonempty.clear()
        self._full.clear()
        return batch

    def put_back(self, batch: list[Delivery]) -> None:
        """Return a batch whose XACK failed, ahead of anything queued since."""
        self._waiting[:0] = batch
        if self._waiting:
            self._nonempty.set()

    async def ready(self) -> None:
        """Wait until something is queued, then until ``max_batch`` are or ``delay_s`` passed."""
        await self._nonempty.wait()
        if not self._full.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.delay_s)
