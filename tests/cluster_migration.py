"""Moving one hash slot between primaries in steps a test can interleave with traffic.

The steps are the Redis Cluster spec's live resharding ("Cluster live reconfiguration"),
as ``redis-cli --cluster reshard`` runs them:

1. :meth:`SlotMigration.begin`: ``CLUSTER SETSLOT <slot> IMPORTING <source-id>`` on the
   target, then ``MIGRATING <target-id>`` on the source. From here the source answers ``-ASK``
   for keys it no longer has, and multi-key commands on a split slot get ``-TRYAGAIN``.
2. :meth:`SlotMigration.move_batch`, repeated: ``CLUSTER GETKEYSINSLOT`` then ``MIGRATE ...
   KEYS`` for up to ``count`` keys. A stream moves whole, with its consumer groups and PEL.
3. :meth:`SlotMigration.finish`: ``CLUSTER SETSLOT <slot> NODE <target-id>`` on the target,
   the source, then every other primary (replicas learn it from their primaries).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import redis
from redis.client import NEVER_DECODE

from tests.redis_server import command


class SlotMigration:
    """One slot's move from ``source`` to ``target``; see the module docstring for steps.

    Args:
        slot: the hash slot, 0..16383.
        source: admin client on the primary serving the slot now.
        target: admin client on the receiving primary.
        target_port: the target's client port on 127.0.0.1 (MIGRATE connects to it).
        ids: ``(source node ID, target node ID)``, as SETSLOT names them.
        others: admin clients on the remaining primaries (told at :meth:`finish`).

    Attributes:
        state: ``"new"``, ``"begun"`` or ``"finished"``.
        moved: keys moved so far.
    """

    def __init__(
        self,
        slot: int,
        source: redis.Redis,
        target: redis.Redis,
        target_port: int,
        *,
        ids: tuple[str, str],
        others: Iterable[redis.Redis] = (),
    ) -> None:
        self.slot = slot
        self.source = source
        self.target = target
        self.target_port = target_port
        self.source_id, self.target_id = ids
        self.others = list(others)
        self.state = "new"
        self.moved = 0

    def begin(self) -> None:
        """Mark the slot IMPORTING on the target, then MIGRATING on the source (that order,
        so no moment exists where the source sends ``-ASK`` to a target that refuses)."""
        command(self.target, "CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.source_id)
        command(self.source, "CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.target_id)
        self.state = "begun"

    def keys_left(self) -> int:
        """``CLUSTER COUNTKEYSINSLOT`` on the source."""
        return int(command(self.source, "CLUSTER", "COUNTKEYSINSLOT", self.slot))

    def move_batch(self, count: int = 100, timeout_ms: int = 5000) -> int:
        """MIGRATE up to ``count`` keys of the slot to the target; returns how many (0: none
        left). ``timeout_ms`` is MIGRATE's I/O timeout. Raises ``redis.ResponseError`` on
        ``BUSYKEY`` (the target already has one of the keys) or ``IOERR``."""
        keys = command(
            self.source, "CLUSTER", "GETKEYSINSLOT", self.slot, count, **{NEVER_DECODE: True}
        )
        if not keys:
            return 0
        command(
            self.source, "MIGRATE", "127.0.0.1", self.target_port, "", 0, timeout_ms, "KEYS", *keys
        )
        self.moved += len(keys)
        return len(keys)

    def finish(self) -> None:
        """Assign the slot to the target on every primary: target first (it bumps its config
        epoch and leaves the importing state), then source, then the others."""
        for client in [self.target, self.source, *self.others]:
            command(client, "CLUSTER", "SETSLOT", self.slot, "NODE", self.target_id)
        self.state = "finished"

    def run(self, batch: int = 100) -> int:
        """All steps at once; returns the number of keys moved."""
        self.begin()
        while self.move_batch(batch):
            pass
        self.finish()
        return self.moved

    def settle(self, clients: Iterable[redis.Redis]) -> None:
        """Undo an unfinished migration's IMPORTING/MIGRATING marks (``SETSLOT STABLE``) on
        every node given; replicas refuse SETSLOT, which is ignored."""
        if self.state != "begun":
            return
        for client in clients:
            with contextlib.suppress(redis.RedisError):
                command(client, "CLUSTER", "SETSLOT", self.slot, "STABLE")
        self.state = "new"
