"""The handler slots and the entries waiting for one: read-ahead bounded by free slots.

A worker never sits on entries it cannot start soon. The reader and the claim sweep take only
:meth:`Dispatch.room` entries: what the free slots will take at once (one entry per slot for a
per-event handler, ``--batch`` for a batch handler), so another worker's reader gets the rest.
An entry that still waits longer than ``--max-wait`` (its slot got stuck meanwhile) is handed
back by the caller (see :meth:`Dispatch.expired`).

A *suspect* (an entry an earlier delivery of which crashed its worker) runs alone: its slot
waits until no other slot runs, nothing else is read meanwhile, and the entries still waiting
are counted as interrupted in advance, so if it takes the process down again only its own
crash count grows (a crash loop ends with the culprit, not its neighbours).

A slot whose handler call ran past ``--handler-timeout`` and cannot be stopped (a sync call:
threads cannot be killed) stays *abandoned* until the call returns: it takes no work meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from workers.delivery import Delivery


@dataclass(slots=True)
class Slot:
    """One handler slot.

    Attributes:
        index: its number (for logs and task names).
        items: the deliveries it runs now (empty when idle).
        call_started: monotonic seconds when its current handler call started, or ``None``
            between calls.
        abandoned: a timed-out call still running (the slot waits for it), or ``None``.
        warned: a slow-handler warning was logged for the current call.
    """

    index: int
    items: list[Delivery] = field(default_factory=list)
    call_started: float | None = None
    abandoned: asyncio.Future[object] | None = None
    warned: bool = False

    def calling(self, now: float) -> None:
        """A handler call starts now."""
        self.call_started, self.warned = now, False

    def called(self) -> None:
        """The handler call returned (or was given up)."""
        self.call_started = None

    @property
    def busy(self) -> bool:
        """Running deliveries, or held by an abandoned call."""
        return bool(self.items) or self.abandoned is not None


@dataclass(frozen=True, slots=True)
class Work:
    """What a slot takes: ``items`` to run; when ``isolated`` (a suspect running alone),
    ``waiting`` are the deliveries that wait meanwhile."""

    items: list[Delivery]
    waiting: list[Delivery]
    isolated: bool = False


class Dispatch:
    """Deliveries read but not started, and the slots that take them.

    Args:
        concurrency: number of slots.
        per_slot: entries one slot takes at once (``--batch`` for batch handlers, else 1).
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self, concurrency: int, per_slot: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.slots = [Slot(i) for i in range(concurrency)]
        self.per_slot = per_slot
        self.clock = clock
        self._queue: deque[tuple[float, Delivery]] = deque()
        self._changed = asyncio.Condition()
        self._isolating: Slot | None = None
        self._closed = False

    # ---- what the reader and the sweep may take ----------------------------------------

    def room(self) -> int:
        """Entries the free slots would take now, minus those already waiting (0 while a
        suspect runs alone)."""
        if self._isolating is not None or self._closed:
            return 0
        free = sum(1 for s in self.slots if not s.busy)
        return max(0, free * self.per_slot - len(self._queue))

    def waiting_for_room(self) -> bool:
        """Every slot busy (a reader waiting for room is not hung)."""
        return self.room() == 0

    async def wait_room(self) -> int:
        """Wait until :meth:`room` is above 0; returns it."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.room() > 0 or self._closed)
        return self.room()

    async def put(self, deliveries: list[Delivery]) -> None:
        """Queue deliveries for the slots."""
        if not deliveries:
            return
        now = self.clock()
        self._queue.extend((now, d) for d in deliveries)
        async with self._changed:
            self._changed.notify_all()

    def __len__(self) -> int:
        return len(self._queue)

    # ---- the slots' side ------------------------------------------------------------------

    def _startable(self, slot: Slot) -> bool:
        if not self._queue:
            return False
        if not self._queue[0][1].suspect:
            return self._isolating is None
        return self._isolating is None and not any(s.busy for s in self.slots if s is not slot)

    async def take(self, slot: Slot) -> Work | None:
        """Wait for work for ``slot``; ``None`` once closed and nothing waits."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._startable(slot) or self._closed)
            if not self._startable(slot):
                return None
            first = self._queue.popleft()[1]
            items = [first]
            waiting: list[Delivery] = []
            if first.suspect:
                self._isolating = slot
                waiting = [d for _, d in self._queue]
            else:
                while len(items) < self.per_slot and self._queue and not self._queue[0][1].suspect:
                    items.append(self._queue.popleft()[1])
            slot.items = items
            self._changed.notify_all()
        return Work(items, waiting, first.suspect)

    async def done(self, slot: Slot) -> None:
        """``slot`` finished its work (and any abandoned call returned)."""
        async with self._changed:
            slot.items = []
            if self._isolating is slot:
                self._isolating = None
            self._changed.notify_all()

    async def abandon(self, slot: Slot, call: asyncio.Future[object]) -> None:
        """``slot``'s timed-out ``call`` still runs: the slot stays busy until it returns."""
        slot.abandoned = call
        try:
            await asyncio.wait({call})
        finally:
            slot.abandoned = None

    # ---- upkeep -------------------------------------------------------------------------

    async def expired(self, max_wait_s: float) -> list[Delivery]:
        """Remove and return deliveries that waited longer than ``max_wait_s`` (to be handed
        back: an idle worker can start them sooner)."""
        limit = self.clock() - max_wait_s
        old = [d for at, d in self._queue if at < limit]
        if old:
            ids = {d.entry_id for d in old}
            self._queue = deque((at, d) for at, d in self._queue if d.entry_id not in ids)
            async with self._changed:
                self._changed.notify_all()
        return old

    def drain(self) -> list[Delivery]:
        """Remove and return every delivery not started (at shutdown, after :meth:`close`)."""
        waiting = [d for _, d in self._queue]
        self._queue.clear()
        return waiting

    async def close(self) -> None:
        """No more work: idle slots return from :meth:`take` once the queue is empty."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    def calling_longer(self, seconds: float) -> list[Slot]:
        """Slots whose current handler call started more than ``seconds`` ago."""
        limit = self.clock() - seconds
        return [s for s in self.slots if s.call_started is not None and s.call_started < limit]

    def all_stuck(self, timeout_s: float) -> bool:
        """Every slot waits for an abandoned call or runs one call past ``timeout_s``."""
        limit = self.clock() - timeout_s
        return all(
            s.abandoned is not None or (s.call_started is not None and s.call_started < limit)
            for s in self.slots
        )

    def abandoned_count(self) -> int:
        """Slots waiting for an abandoned call."""
        return sum(1 for s in self.slots if s.abandoned is not None)
