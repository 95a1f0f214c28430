"""A local Redis Cluster for tests: primaries and replicas on free loopback ports.

Built the way users build one: ``redis-cli --cluster create ... --cluster-replicas 1`` over
nodes started from the session's server binary (``INGEST_TEST_SERVER``; see
``tests/redis_server.py``) with persistence off, ``cluster-node-timeout`` 2000 ms and
``cluster-require-full-coverage no``. Every node is stopped by PID.

Roles change during a session (a failover promotes a replica, a restarted primary comes back
as a replica), so nothing here caches them: every role question reads ``CLUSTER NODES`` from
a live node. Fault helpers (SIGKILL/SIGSTOP/SIGCONT, promotion wait, restart) and a stepwise
slot migration (:mod:`tests.cluster_migration`) let a test interleave faults with traffic.

Usage::

    def test_roundtrip(cluster):
        client = cluster.client(decode_responses=True)
        client.set("{user:1}:name", "ada")
        primary = cluster.primary_for_key("{user:1}:name")
        cluster.kill(primary)
        elapsed_s = cluster.wait_for_promotion(cluster.replica_of(primary))
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

import redis
from redis.cluster import ClusterNode as StartupNode
from redis.cluster import RedisCluster
from redis.crc import key_slot

from tests.cluster_migration import SlotMigration
from tests.cluster_node import ClusterNode
from tests.cluster_topology import NodeView
from tests.helpers import wait_for
from tests.redis_server import cli_binary, command

NODE_TIMEOUT_MS = 2000


class LocalCluster:
    """Primaries plus replicas on loopback, created with ``redis-cli --cluster create``.

    Args:
        primaries: number of primaries (3: the smallest cluster that can elect a promotion).
        replicas_per_primary: ``--cluster-replicas`` (1).
        binary: ``"redis"``, ``"valkey"``, a path, or None for ``INGEST_TEST_SERVER``.
        node_timeout_ms: ``cluster-node-timeout`` (2000 ms: promotion in about 3-4 s).

    Attributes:
        startup_s: wall time :meth:`start` took (processes, create, healthy), in seconds.
    """

    def __init__(
        self,
        *,
        primaries: int = 3,
        replicas_per_primary: int = 1,
        binary: str | None = None,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        self.primary_count = primaries
        self.replicas_per_primary = replicas_per_primary
        self.node_timeout_ms = node_timeout_ms
        total = primaries * (1 + replicas_per_primary)
        self.nodes = [
            ClusterNode(binary=binary, node_timeout_ms=node_timeout_ms) for _ in range(total)
        ]
        self.startup_s = 0.0
        self.fault_at: float | None = None
        self._clients: list[RedisCluster] = []
        self._migrations: list[SlotMigration] = []

    # -- life cycle -------------------------------------------------------------------------

    def start(self, timeout_s: float = 60.0) -> None:
        """Start every node, run ``redis-cli --cluster create``, wait until healthy.

        Raises:
            RuntimeError: a node did not start or ``redis-cli`` failed (its output included).
            AssertionError: the cluster was not healthy within ``timeout_s``.
        """
        began = time.monotonic()
        try:
            for node in self.nodes:
                node.start()
            self._create(timeout_s)
            self.wait_healthy(timeout_s)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began

    def _create(self, timeout_s: float) -> None:
        addrs = [f"127.0.0.1:{node.port}" for node in self.nodes]
        args = [cli_binary(), "--cluster", "create", *addrs]
        args += ["--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0 or "[OK] All 16384 slots covered" not in done.stdout:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        """Close clients, stop every node by PID (SIGTERM, then SIGKILL) and remove the dirs."""
        self.close_clients()
        for node in self.nodes:
            node.paused = False
            node.admin.close()
            node.server.cleanup()

    # -- topology ---------------------------------------------------------------------------

    def live_nodes(self) -> list[ClusterNode]:
        """Nodes that are running and not paused."""
        return [node for node in self.nodes if node.alive]

    def view(self) -> list[NodeView]:
        """``CLUSTER NODES`` as seen by the first live primary that answers (else by any live
        node). A primary, because a replica learns slot moves (``SETSLOT NODE``, sent to
        primaries only) from gossip, a moment later.

        Raises:
            RuntimeError: no node answered.
        """
        fallback: list[NodeView] | None = None
        for node in self.live_nodes():
            with contextlib.suppress(redis.RedisError):
                views = node.nodes()
                if any("myself" in v.flags and v.is_primary for v in views):
                    return views
                fallback = fallback or views
        if fallback is None:
            raise RuntimeError("no live cluster node answered CLUSTER NODES")
        return fallback

    def node(self, node_id: str) -> ClusterNode:
        """The node with ``node_id``."""
        return next(node for node in self.nodes if node.node_id == node_id)

    def primaries(self) -> list[ClusterNode]:
        """Nodes that serve slots now, by a live node's view (a failed one included)."""
        return [self.node(v.node_id) for v in self.view() if v.is_primary and v.slots]

    def replicas(self) -> list[ClusterNode]:
        """Nodes flagged replica now."""
        return [self.node(v.node_id) for v in self.view() if not v.is_primary]

    def primary_for_slot(self, slot: int) -> ClusterNode:
        """The primary serving ``slot`` (0..16383) by a live node's view."""
        for v in self.view():
            if v.is_primary and v.serves(slot):
                return self.node(v.node_id)
        raise LookupError(f"no primary serves slot {slot}")

    def primary_for_key(self, key: str | bytes) -> ClusterNode:
        """The primary serving ``key``'s slot (``CRC16 mod 16384`` of its hash tag)."""
        return self.primary_for_slot(self.slot_of(key))

    @staticmethod
    def slot_of(key: str | bytes) -> int:
        """``key``'s hash slot (redis-py's CRC16, hash tags honoured)."""
        return int(key_slot(key.encode() if isinstance(key, str) else key))

    def replica_of(self, primary: ClusterNode) -> ClusterNode:
        """One replica of ``primary`` (the first listed), by a live node's view.

        Raises:
            LookupError: ``primary`` has no replica.
        """
        for v in self.view():
            if v.primary_id == primary.node_id:
                return self.node(v.node_id)
        raise LookupError(f"{primary} has no replica")

    # -- health -----------------------------------------------------------------------------

    def healthy(self) -> bool:
        """True when every node is live, ``cluster_state:ok`` with all slots ok and all nodes
        known, every node sees every other connected and unflagged, all views agree on the
        roles, and every replica's link to its primary is up."""
        if len(self.live_nodes()) != len(self.nodes):
            return False
        try:
            roles = {self._roles(node) for node in self.nodes}
            links = [node.admin.info("replication") for node in self.replicas()]
        except (redis.RedisError, LookupError):
            return False
        return (
            len(roles) == 1
            and None not in roles
            and all(link.get("master_link_status") == "up" for link in links)
        )

    def _roles(self, node: ClusterNode) -> frozenset[tuple[str, str | None]] | None:
        info = node.info()
        if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
            return None
        views = node.nodes()
        if len(views) != len(self.nodes) or any(v.failing or not v.connected for v in views):
            return None
        if sum(1 for v in views if v.is_primary and v.slots) != self.primary_count:
            return None
        return frozenset((v.node_id, v.primary_id) for v in views)

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Poll :meth:`healthy` until true (AssertionError after ``timeout_s``)."""
        wait_for(self.healthy, timeout_s=timeout_s, interval_s=0.05, what="a healthy cluster")

    # -- faults -----------------------------------------------------------------------------

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL ``node`` (its ``nodes.conf`` stays for :meth:`restart`); notes the time."""
        self.fault_at = time.monotonic()
        node.server.kill()

    def pause(self, node: ClusterNode) -> None:
        """SIGSTOP ``node``: sockets stay open, nothing answers; notes the time."""
        self.fault_at = time.monotonic()
        node.paused = True
        node.server.pause()

    def resume(self, node: ClusterNode) -> None:
        """SIGCONT a paused node."""
        node.server.resume()
        node.paused = False

    def restart(self, node: ClusterNode, timeout_s: float = 30.0) -> None:
        """Start a killed node again on its port with its ``nodes.conf`` and wait until the
        cluster is healthy (a former primary whose replica was promoted rejoins as a
        replica of it and syncs)."""
        node.start()
        self.wait_healthy(timeout_s)

    def wait_for_promotion(
        self, replica: ClusterNode, *, since: float | None = None, timeout_s: float = 20.0
    ) -> float:
        """Poll until ``replica`` is a primary serving slots in the view of every live node.

        Returns:
            Seconds from ``since`` (a ``time.monotonic()`` value; default: the last
            :meth:`kill`/:meth:`pause`, else the call) to the first poll that saw it.

        Raises:
            AssertionError: not promoted within ``timeout_s``.
        """
        start = since if since is not None else (self.fault_at or time.monotonic())

        def promoted() -> bool:
            try:
                views = [node.nodes() for node in self.live_nodes()]
            except redis.RedisError:
                return False
            return all(
                any(v.node_id == replica.node_id and v.is_primary and v.slots for v in view)
                for view in views
            )

        wait_for(promoted, timeout_s=timeout_s, interval_s=0.05, what=f"{replica} promoted")
        return time.monotonic() - start

    # -- slot migration ---------------------------------------------------------------------

    def migrate_slot(self, slot: int, target: ClusterNode) -> SlotMigration:
        """A stepwise migration of ``slot`` from its primary to ``target`` (not begun yet)."""
        source = self.primary_for_slot(slot)
        others = [node.admin for node in self.primaries() if node not in (source, target)]
        ids = (source.node_id, target.node_id)
        migration = SlotMigration(
            slot, source.admin, target.admin, target.port, ids=ids, others=others
        )
        self._migrations.append(migration)
        return migration

    # -- clients and reset ------------------------------------------------------------------

    def client(self, **kwargs: Any) -> RedisCluster:
        """A ``redis.cluster.RedisCluster`` seeded with every node; closed by
        :meth:`close_clients` (after each test) or :meth:`stop`. ``kwargs`` go to it."""
        startup = [
            StartupNode("127.0.0.1", node.port)  # type: ignore[no-untyped-call]
            for node in self.nodes
        ]
        client = RedisCluster(startup_nodes=startup, **kwargs)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        """Close every client made by :meth:`client`."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    def reset(self, timeout_s: float = 60.0) -> None:
        """Heal and empty the cluster for the next test: resume paused nodes, restart killed
        ones, settle unfinished slot migrations (SETSLOT STABLE), wait until healthy, then
        FLUSHALL and FUNCTION FLUSH on every primary and WAIT for its replica."""
        for node in self.nodes:
            if node.paused:
                self.resume(node)
            if node.server.proc is None:
                node.start()
        for migration in self._migrations:
            migration.settle(node.admin for node in self.nodes)
        self._migrations.clear()
        self.fault_at = None
        self.wait_healthy(timeout_s)
        for node in self.primaries():
            node.admin.flushall()
            node.admin.function_flush()
            command(node.admin, "WAIT", self.replicas_per_primary, 2000)
