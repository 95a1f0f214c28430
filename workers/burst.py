"""When a ``--burst`` worker is done, and what it says while it is not.

Done means the group has nothing pending and nothing undelivered. Entries pending in *other*
consumers keep it waiting: those of a dead consumer (say one killed with SIGKILL) until its
liveness key expires and the next takeover claims them, those of a consumer that looks alive
but stalls until they are idle for ``--min-idle``. It says so once, and again only when the set
of consumers it waits on changes, so a worker sitting out a 60 s ``--min-idle`` does not look
hung.
"""

from __future__ import annotations

import logging

import redis
import redis.asyncio

from ingest.streams import parse_entries, parse_entry_id, parse_groups
from workers.redis_io import StreamIO
from workers.settings import WorkerSettings
from workers.wording import plural

log = logging.getLogger(__name__)


class BurstCheck:
    """Decides whether a burst worker may exit; logs what it waits for.

    Args:
        client: the worker's async client.
        io: the consumer's commands (the pending summary, NOGROUP translated there).
        settings: the worker's settings (stream, group, consumer, ``min_idle_s``).

    Attributes:
        waiting_on: consumers whose pending entries the last check waited for (sorted).
    """

    def __init__(self, client: redis.asyncio.Redis, settings: WorkerSettings, io: StreamIO) -> None:
        self.client = client
        self.io = io
        self.settings = settings
        self.waiting_on: tuple[str, ...] = ()

    async def finished(self) -> bool:
        """True when the group has nothing pending and nothing undelivered (the caller has
        already checked that this worker holds nothing).

        "Undelivered" is decided by comparing the stream's last entry ID with the group's
        last-delivered ID, not by XINFO GROUPS ``lag``, which is nil after an XDEL ahead of
        the group and stale after an XTRIM.

        Not finished when the stream itself is gone (``no such key``): the read loop's
        NOGROUP handling decides what happens next.

        Raises:
            GroupMissingError: the group vanished between two commands.
        """
        s = self.settings
        try:
            groups = parse_groups(await self.client.xinfo_groups(s.stream))
        except redis.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return False
            raise
        group = next((g for g in groups if g.name == s.group), None)
        if group is None:
            return False
        if group.pending:
            await self._report_waiting()
            return False
        self.waiting_on = ()
        last = parse_entries(await self.client.xrevrange(s.stream, count=1))
        return not last or parse_entry_id(last[0].entry_id) <= parse_entry_id(
            group.last_delivered_id
        )

    async def _report_waiting(self) -> None:
        """One INFO line per change of the consumers whose pending entries we wait for."""
        s = self.settings
        summary = await self.io.pending_summary()
        others = {c: n for c, n in summary.per_consumer.items() if n and c != s.consumer}
        names = tuple(sorted(others))
        if names and names != self.waiting_on:
            log.info(
                "burst: waiting for %s pending in %s %s: claimable once its liveness key "
                "expires (--liveness-ttl) or once idle >= %g s (--min-idle)",
                plural(sum(others.values()), "entry", "entries"),
                "consumer" if len(names) == 1 else "consumers",
                ", ".join(names),
                s.min_idle_s,
            )
        self.waiting_on = names
