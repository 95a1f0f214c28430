"""Running a loop's step forever: connection errors back off, NOGROUP recreates the group.

Anything else a step raises ends the loop (and so the worker, with exit code 1: see
:mod:`workers.supervise`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio

from ingest.connection import CONNECTION_ERRORS
from workers import consumer as group_io
from workers.backoff import LoopBackoff
from workers.errors import GroupMissingError
from workers.settings import WorkerSettings
from workers.stats import Health, Stats

log = logging.getLogger("workers.runner")


def stop_if_cancelled() -> None:
    """Raise the cancellation of the current task if a Redis call swallowed it.

    redis-py's asyncio client can finish a command instead of raising a ``CancelledError``
    that arrived meanwhile (redis/redis-py#2028 and #2551; seen with redis-py 8.2), leaving
    ``Task.cancelling()`` above 0: a loop that went on would never stop. Every loop calls
    this after each step.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Guard:
    """The error policy shared by every loop.

    Args:
        client: for recreating the group.
        stream, group: the group to recreate.
        recreate: recreate a missing group from ``0`` (``--on-missing-group recreate``), or
            let :class:`GroupMissingError` end the worker.
        health, stats: connection state, beats and counters.
        stopping: loops run until it is set.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        stream: str,
        group: str,
        *,
        recreate: bool,
        health: Health,
        stats: Stats,
        stopping: asyncio.Event,
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.recreate = recreate
        self.health = health
        self.stats = stats
        self.stopping = stopping
        self._lock = asyncio.Lock()
        self._recreated_at = -float("inf")

    @classmethod
    def for_settings(
        cls,
        client: redis.asyncio.Redis,
        s: WorkerSettings,
        health: Health,
        stats: Stats,
        stopping: asyncio.Event,
    ) -> Guard:
        """The policy for the group ``s`` names and its ``--on-missing-group``."""
        recreate = s.on_missing_group == "recreate"
        return cls(
            client,
            s.stream,
            s.group,
            recreate=recreate,
            health=health,
            stats=stats,
            stopping=stopping,
        )

    async def run(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        *,
        backoff_cap_s: float = 5.0,
        forever: bool = False,
    ) -> None:
        """Run ``step`` until stopping (or, ``forever``, until cancelled: the heartbeat and
        the acknowledger serve the shutdown too); beat ``name`` after each step that worked.
        """
        backoff = LoopBackoff(name, log, cap_s=backoff_cap_s)
        while forever or not self.stopping.is_set():
            try:
                await step()
            except CONNECTION_ERRORS as exc:
                self.health.connected = False
                self.stats.connection_errors += 1
                stop_if_cancelled()
                await backoff.failed(exc)
                continue
            except GroupMissingError as exc:
                stop_if_cancelled()
                await self.group_missing(exc)
                continue
            stop_if_cancelled()
            self.health.connected = True
            backoff.succeeded()
            self.health.beat(name)

    async def group_missing(self, exc: GroupMissingError) -> None:
        """NOGROUP: re-raise (``--on-missing-group=exit``) or recreate the group from ``0``,
        at most once a second however many loops notice."""
        self.health.group_exists = False
        if not self.recreate:
            raise exc
        async with self._lock:
            wait = self._recreated_at + 1.0 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            created = await group_io.ensure_group(self.client, self.stream, self.group, "0")
            self._recreated_at = time.monotonic()
            if created:
                self.stats.groups_recreated += 1
                log.warning(
                    "consumer group %s of %s was missing (NOGROUP); recreated it from 0, so "
                    "entries still in the stream are delivered again (the sink deduplicates)",
                    self.group,
                    self.stream,
                )
            self.health.group_exists = True


async def sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stopping`` is set meanwhile."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return
