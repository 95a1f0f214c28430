"""Running the worker's loops, watching them, and the graceful shutdown sequence.

Shutdown (SIGTERM/SIGINT, or a finished burst): stop reading and claiming; release entries
read but not started at once (claimable immediately by other consumers); let in-flight
handlers finish for up to ``--shutdown-timeout``; acknowledge what finished; release whatever
else this consumer still holds in the PEL (interrupted handlers, entries a cancelled read had
fetched); delete the liveness key. Exit code 0.

A loop that ends with an unexpected error makes :meth:`Supervisor.run` return 1 after a
short best-effort acknowledgement of finished entries and release of the rest, so systemd
or Kubernetes restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import redis

from ingest.connection import CONNECTION_ERRORS
from ingest.streams import EntryId
from workers import consumer as group_io
from workers.tracing import DeliveryTracer
from workers.wording import agree, plural

if TYPE_CHECKING:
    from workers.runner import Runner

log = logging.getLogger(__name__)

STATUS_EVERY_S = 5.0

_SKIPPABLE: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, redis.ResponseError)
"""Errors a shutdown step logs and goes past (response errors only when NOGROUP)."""


class Supervisor:
    """Owns the tasks of one :class:`~workers.runner.Runner`."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner
        self.loops: dict[str, asyncio.Task[None]] = {}
        self.slots: list[asyncio.Task[None]] = []
        self.refresher: asyncio.Task[None] | None = None
        self.acker: asyncio.Task[None] | None = None
        self.released: set[str] = set()
        """Entries released during this shutdown: not released (and counted) twice."""

    async def run(self) -> int:
        """Start the tasks, wait for a stop request or a failed loop, shut down."""
        r = self.r
        self.refresher = asyncio.create_task(r.refresh_loop(), name="refresh")
        self.acker = asyncio.create_task(r.acks.run(), name="acknowledge")
        self.loops = {
            "read": asyncio.create_task(r.read_loop(), name="read"),
            "claim": asyncio.create_task(r.claim_loop(), name="claim"),
        }
        self.slots = [
            asyncio.create_task(r.slot(), name=f"slot-{i}") for i in range(r.settings.concurrency)
        ]
        failed = await self._watch()
        if failed is not None:
            await self._abort(failed)
            return 1
        await self.shutdown()
        return 0

    def _all(self) -> list[asyncio.Task[None]]:
        extra = [t for t in (self.refresher, self.acker) if t is not None]
        return [*self.loops.values(), *self.slots, *extra]

    async def _watch(self) -> BaseException | None:
        """Wait for a stop request or a task ending; send watchdog pings and status."""
        r = self.r
        stop = asyncio.create_task(r.stopping.wait())
        tick = min(1.0, r.notifier.watchdog_interval_s or 1.0)
        last_status = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait(
                    [stop, *self._all()], timeout=tick, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task is stop:
                        continue
                    if task.cancelled():
                        return RuntimeError(f"task {task.get_name()} was cancelled")
                    exc = task.exception()
                    if exc is not None:
                        return exc
                    if not r.stopping.is_set():
                        return RuntimeError(f"task {task.get_name()} ended unexpectedly")
                if r.stopping.is_set():
                    return None
                if self._healthy():
                    r.notifier.watchdog()
                if time.monotonic() - last_status >= STATUS_EVERY_S:
                    last_status = time.monotonic()
                    r.notifier.status(self._status())
        finally:
            stop.cancel()

    def _healthy(self) -> bool:
        # Same rule as /livez: a read loop waiting for a free handler slot is not hung.
        max_age = max(10.0, 3 * self.r.settings.block_ms / 1000)
        alive, _ = self.r.health.liveness(max_age, waiting_for_room=not self.r.room.is_set())
        return alive

    def _status(self) -> str:
        s = self.r.stats
        return (
            f"acked {s.acked}, held {len(self.r.holding.held)}, claimed {s.claimed}, "
            f"dead-lettered {s.dead_lettered}, failed attempts {s.failed_attempts}"
        )

    async def _abort(self, exc: BaseException) -> None:
        log.critical("a worker loop failed; exiting so the supervisor restarts us", exc_info=exc)
        self.r.stopping.set()
        for task in self._all():
            task.cancel()
        await asyncio.gather(*self._all(), return_exceptions=True)
        # Entries whose handler finished are acknowledged first: released, they would be
        # claimed and handled again elsewhere.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._final_acks(), 5.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._release_rest(), 5.0)

    async def shutdown(self) -> None:
        """The graceful stop sequence (see module docstring)."""
        r = self.r
        s = r.settings
        r.notifier.stopping("stopping: finishing in-flight entries")
        log.info(
            "stopping: no new reads; in-flight entries may finish for %g s", s.shutdown_timeout_s
        )
        for task in self.loops.values():
            task.cancel()
        await asyncio.gather(*self.loops.values(), return_exceptions=True)
        await self._release_not_started()
        for _ in self.slots:
            r.queue.put_nowait(None)
        _, pending = await asyncio.wait(self.slots, timeout=s.shutdown_timeout_s)
        if pending:
            log.warning(
                "%s still busy after %g s; interrupting",
                plural(len(pending), "handler slot"),
                s.shutdown_timeout_s,
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in self.slots:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("handler slot failed", exc_info=task.exception())
        await self._final_acks()
        await self._release_rest()
        if self.refresher is not None:
            self.refresher.cancel()
            await asyncio.gather(self.refresher, return_exceptions=True)
        with contextlib.suppress(*CONNECTION_ERRORS):
            await r.holding.forget_liveness()
        r.stats.held = len(r.holding.held)
        log.info("stopped: %s", r.stats.as_dict())
        if r.stats.released:
            count = r.stats.released
            them = agree(count, "it", "them")
            log.info(
                "%s released: handed back, not lost. %s in the pending entries list "
                "(idle time set to a year) until another consumer claims %s, on its next "
                "claim sweep without waiting for --min-idle, or until this consumer name "
                "restarts and reads %s first",
                plural(count, "entry", "entries"),
                agree(count, "It stays", "They stay"),
                them,
                them,
            )

    async def _release_not_started(self) -> None:
        r = self.r
        waiting = []
        while not r.queue.empty():
            item = r.queue.get_nowait()
            if item is not None:
                waiting.append(item)
        if not waiting:
            return
        if not await self._release([d.entry_id for d in waiting]):
            return
        r.stats.released += len(waiting)
        self.released.update(d.entry_id for d in waiting)
        for d in waiting:
            DeliveryTracer.end(d, "released")
        log.info(
            "released %s read but not started (claimable at once by other consumers)",
            plural(len(waiting), "entry", "entries"),
        )

    async def _final_acks(self) -> None:
        r = self.r
        if self.acker is not None:
            self.acker.cancel()
            await asyncio.gather(self.acker, return_exceptions=True)
        for _ in range(3):
            try:
                await r.acks.flush()
                return
            except CONNECTION_ERRORS as exc:
                log.warning("final acknowledgement failed: %s", exc)
                await asyncio.sleep(0.2)

    async def _release_rest(self) -> None:
        """Release every entry the PEL still assigns to us, except ones whose handler failed
        (those already counted a failed attempt) and ones released already."""
        r = self.r
        s = r.settings
        try:
            ids = await group_io.own_pending_ids(r.client, s.stream, s.group, s.consumer)
        except _SKIPPABLE as exc:
            if isinstance(exc, redis.ResponseError) and not group_io.is_group_missing(exc):
                raise
            log.warning("could not list own pending entries: %s", exc)
            return
        # Held entries the PEL no longer assigns to us were claimed (or acknowledged) by
        # another consumer: nothing of ours to release.
        mine = set(ids)
        r.holding.drop([d for i, d in r.holding.held.items() if i not in mine])
        failed = {i for i in ids if i not in r.holding.held and i in r.holding.failed}
        rest = [EntryId(i) for i in ids if i not in failed and i not in self.released]
        if not rest:
            return
        if not await self._release(rest):
            return
        r.stats.released += len(rest)
        self.released.update(rest)
        log.info(
            "released %s (claimable at once by other consumers)",
            plural(len(rest), "interrupted entry", "interrupted entries"),
        )

    async def _release(self, ids: list[EntryId]) -> bool:
        """Release ``ids``; False (logged) when Redis is unreachable or the group is gone,
        which must not end the shutdown before its final acknowledgements."""
        try:
            await self.r.holding.release(ids)
        except _SKIPPABLE as exc:
            if isinstance(exc, redis.ResponseError) and not group_io.is_group_missing(exc):
                raise
            log.warning("could not release %s: %s", plural(len(ids), "entry", "entries"), exc)
            return False
        return True
