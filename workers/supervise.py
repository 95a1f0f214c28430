"""Running the worker's tasks, watching them, and the shutdown sequences.

Graceful stop (SIGTERM/SIGINT, a finished burst): stop reading and claiming; release entries
read but not started at once (claimable immediately by other consumers); let in-flight
handlers finish for up to ``--shutdown-timeout``; acknowledge what finished; release whatever
else this consumer still holds in the PEL (interrupted handlers, entries a cancelled read had
fetched); delete the liveness key. Exit code 0.

Every handler slot stuck past ``--handler-timeout`` (the thread pool full of abandoned calls):
the same sequence, exit code 1, so the supervisor restarts the process.

A task that ends with an unexpected error: exit code 1 after a short best-effort
acknowledgement of finished entries and a release of the rest; the entries the failed slot was
handling are released *without* counting an interruption, so their next delivery counts a
crash (and a crash loop ends after ``--max-crashes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ingest.streams import EntryId
from workers.ledger import SETTLE_ERRORS, Ledger
from workers.liveness import Liveness
from workers.redis_io import StreamIO
from workers.slots import Dispatch, Slot
from workers.stats import Stats
from workers.systemd import Notifier
from workers.wording import agree, plural

log = logging.getLogger(__name__)

Loop = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    """Owns the worker's tasks.

    Args:
        loops: name -> loop; ``read`` and ``claim`` stop first at a graceful stop,
            ``heartbeat`` and ``acknowledge`` last.
        run_slot: the loop of one handler slot.
        io: deletes the liveness key at the end.
        dispatch, ledger, stats, notifier, liveness: the parts it drives and reports on.
        stopping: set to request a stop.
        shutdown_timeout_s: how long in-flight handlers may finish.
        status_every_s: seconds between systemd status lines.
    """

    def __init__(
        self,
        loops: Mapping[str, Loop],
        run_slot: Callable[[Slot], Coroutine[Any, Any, None]],
        *,
        io: StreamIO,
        dispatch: Dispatch,
        ledger: Ledger,
        stats: Stats,
        notifier: Notifier,
        liveness: Liveness,
        stopping: asyncio.Event,
        shutdown_timeout_s: float,
        status_every_s: float = 5.0,
    ) -> None:
        self.loop_factories = loops
        self.run_slot = run_slot
        self.io = io
        self.dispatch = dispatch
        self.ledger = ledger
        self.stats = stats
        self.notifier = notifier
        self.liveness = liveness
        self.stopping = stopping
        self.shutdown_timeout_s = shutdown_timeout_s
        self.status_every_s = status_every_s
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.slot_tasks: dict[asyncio.Task[None], Slot] = {}
        self.stuck = False

    async def run(self) -> int:
        """Start the tasks, wait for a stop request or a failed task, shut down; returns the
        exit code."""
        self.tasks = {
            name: asyncio.create_task(f(), name=name) for name, f in self.loop_factories.items()
        }
        self.slot_tasks = {
            asyncio.create_task(self.run_slot(s), name=f"slot-{s.index}"): s
            for s in self.dispatch.slots
        }
        failed = await self._watch()
        if failed is not None:
            await self._abort(*failed)
            return 1
        await self.shutdown()
        return 1 if self.stuck else 0

    def _all(self) -> list[asyncio.Task[None]]:
        return [*self.tasks.values(), *self.slot_tasks]

    async def _watch(self) -> tuple[BaseException, list[EntryId]] | None:
        """Wait for a stop request or a task ending; send watchdog pings and status."""
        stop = asyncio.create_task(self.stopping.wait())
        tick = min(1.0, self.notifier.watchdog_interval_s or 1.0)
        last_status = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait(
                    [stop, *self._all()], timeout=tick, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task is not stop:
                        problem = self._ended(task)
                        if problem is not None:
                            return problem
                if self.stopping.is_set():
                    return None
                self._check_stuck()
                if self.liveness.check()[0]:
                    self.notifier.watchdog()
                if time.monotonic() - last_status >= self.status_every_s:
                    last_status = time.monotonic()
                    self.notifier.status(self._status())
        finally:
            stop.cancel()

    def _ended(self, task: asyncio.Task[Any]) -> tuple[BaseException, list[EntryId]] | None:
        slot = self.slot_tasks.get(task)
        culprits = [d.entry_id for d in slot.items] if slot is not None else []
        if task.cancelled():
            return RuntimeError(f"task {task.get_name()} was cancelled"), culprits
        exc = task.exception()
        if exc is not None:
            return exc, culprits
        if not self.stopping.is_set():
            return RuntimeError(f"task {task.get_name()} ended unexpectedly"), culprits
        return None

    def _check_stuck(self) -> None:
        if self.liveness.all_slots_stuck() and not self.stuck:
            self.stuck = True
            log.error(
                "every handler slot is stuck past --handler-timeout (%g s): stopping so the "
                "supervisor restarts the process",
                self.liveness.handler_timeout_s,
            )
            self.stopping.set()

    def _status(self) -> str:
        s = self.stats
        return (
            f"acked {s.acked}, held {self.ledger.held_count}, claimed {s.claimed}, "
            f"dead-lettered {s.dead_lettered}, failed attempts {s.failed_attempts}"
        )

    async def _abort(self, exc: BaseException, culprits: list[EntryId]) -> None:
        log.critical("a worker task failed; exiting so the supervisor restarts us", exc_info=exc)
        self.stopping.set()
        await self._cancel_tasks(self._all())
        # Entries whose handler finished are acknowledged first: released, they would be
        # claimed and handled again elsewhere.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._final_acks(), 5.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._release_all(culprits), 5.0)

    async def shutdown(self) -> None:
        """The graceful stop sequence (see the module docstring)."""
        self.notifier.stopping("stopping: finishing in-flight entries")
        log.info(
            "stopping: no new reads; in-flight entries may finish for %g s",
            self.shutdown_timeout_s,
        )
        await self._cancel("read", "claim")
        await self.dispatch.close()
        waiting = self.dispatch.drain()
        if waiting:
            await self.ledger.release(waiting, "read but not started")
        _, busy = await asyncio.wait(self.slot_tasks, timeout=self.shutdown_timeout_s)
        if busy:
            log.warning(
                "%s still busy after %g s; interrupting",
                plural(len(busy), "handler slot"),
                self.shutdown_timeout_s,
            )
            await self._cancel_tasks(list(busy))
        for task in self.slot_tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("handler slot failed", exc_info=task.exception())
        await self._final_acks()
        await self._release_all([])
        await self._cancel("heartbeat")
        with contextlib.suppress(*SETTLE_ERRORS):
            await self.io.forget_liveness()
        self.stats.held = self.ledger.held_count
        log.info("stopped: %s", self.stats.as_dict())
        self._explain_released()

    async def _cancel(self, *names: str) -> None:
        await self._cancel_tasks([self.tasks[n] for n in names if n in self.tasks])

    @staticmethod
    async def _cancel_tasks(tasks: list[asyncio.Task[None]], timeout_s: float = 10.0) -> None:
        """Cancel ``tasks`` and wait for them, at most ``timeout_s`` (a task that swallowed
        its cancellation is left behind rather than hang the shutdown)."""
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def _final_acks(self) -> None:
        await self._cancel("acknowledge")
        for _ in range(3):
            try:
                await self.ledger.flush_acks()
                return
            except SETTLE_ERRORS as exc:
                log.warning("final acknowledgement failed: %s", exc)
                await asyncio.sleep(0.2)

    async def _release_all(self, culprits: list[EntryId]) -> None:
        """Release what is still ours (``culprits`` as crashed); a failure is logged, never
        raised, so it cannot end the shutdown."""
        waiting = self.dispatch.drain()
        if waiting:
            await self.ledger.release(waiting, "read but not started")
        try:
            await self.ledger.release_rest(set(culprits))
        except SETTLE_ERRORS as exc:
            log.warning("could not release the entries still held: %s", exc)

    def _explain_released(self) -> None:
        count = self.stats.released
        if not count:
            return
        them = agree(count, "it", "them")
        log.info(
            "%s released: handed back, not lost. %s in the pending entries list (idle time "
            "set to a year) until another consumer claims %s, on its next claim sweep without "
            "waiting for --min-idle, or until this consumer name restarts and reads %s first",
            plural(count, "entry", "entries"),
            agree(count, "It stays", "They stay"),
            them,
            them,
        )
