"""A local Sentinel deployment for tests: one primary, replicas, three sentinels, on loopback.

Data nodes and sentinels run from the session's server binary (``INGEST_TEST_SERVER``; the
sentinels as ``<binary> sentinel.conf --sentinel``) on free ports, persistence off, and are
stopped by PID. Each sentinel's generated config already names the replicas and the other
sentinels (``known-replica`` / ``known-sentinel`` lines, the format Sentinel itself rewrites),
so :meth:`SentinelDeployment.start` does not wait out the 2 s hello-message discovery.

Timing (Sentinel docs, "Sentinel configuration"): ``down-after-milliseconds`` 1000, quorum 2,
``failover-timeout`` 3000 ms; a SIGKILLed primary's replica is promoted in about 2-3 s.
:meth:`SentinelDeployment.wait_for_promotion` returns only once the failover is complete
(``+switch-master``, which also clears a sentinel's "no new failover within 2 x
failover-timeout" guard), so a test can restart the old primary or fail over again at once.

Usage::

    def test_failover(sentinel):
        client = sentinel.primary_client(decode_responses=True)
        client.set("k", "v")
        sentinel.kill_primary()
        elapsed_s = sentinel.wait_for_promotion()
        assert client.get("k") == "v"  # redis-py's Sentinel pool follows the new primary
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from tests.helpers import wait_for
from tests.redis_server import RedisServer, command
from tests.sentinel_config import SERVICE, sentinel_conf, sentinel_ready

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LossCase(Generic[T]):
    """What :meth:`SentinelDeployment.lose_writes` did.

    Attributes:
        result: what the ``write`` callback returned (the writes the primary acknowledged).
        old_primary: the SIGKILLed primary (stopped; its writes exist nowhere now).
        new_primary: the promoted replica, which never received those writes.
        promotion_s: seconds from the SIGKILL to every sentinel naming ``new_primary``.
    """

    result: T
    old_primary: RedisServer
    new_primary: RedisServer
    promotion_s: float


def _admin(server: RedisServer) -> redis.Redis:
    return server.client(decode_responses=True, socket_timeout=2.0, retry=Retry(NoBackoff(), 0))


class SentinelDeployment:
    """One primary, ``replicas`` replicas and ``sentinels`` sentinels monitoring ``service``.

    Args:
        replicas: replicas of the primary (1 or 2).
        sentinels: sentinel processes (3; quorum 2).
        binary: ``"redis"``, ``"valkey"``, a path, or None for ``INGEST_TEST_SERVER``.
        service: the monitored primary's name (``sentinel monitor <service> ...``).

    Attributes:
        data_nodes: primary first at start; roles change after a failover, so ask
            :meth:`current_primary` and :meth:`replicas`.
        sentinel_nodes: the sentinel processes.
        startup_s: wall time :meth:`start` took, in seconds.
    """

    def __init__(
        self, *, replicas: int = 1, sentinels: int = 3, binary: str | None = None,
        service: str = SERVICE,
    ) -> None:  # fmt: skip
        self.service = service
        self.data_nodes = [
            # The default waits 5 s for more replicas before each full sync.
            RedisServer(binary=binary, extra=["--repl-diskless-sync-delay", "0"])
            for _ in range(1 + replicas)
        ]
        self.sentinel_nodes = [RedisServer(binary=binary, sentinel=True) for _ in range(sentinels)]
        self.fault_at: float | None = None
        self.last_killed: RedisServer | None = None
        self.startup_s = 0.0
        self._clients: list[redis.Redis] = []

    # -- life cycle -------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the primary, then the replicas (``--replicaof`` it) and wait for their links,
        then the sentinels, and wait until every sentinel sees the primary, every replica and
        every other sentinel answering (:func:`tests.sentinel_config.sentinel_ready`).

        Raises:
            RuntimeError: a process did not start.
            AssertionError: not ready within ``timeout_s``.
        """
        began = time.monotonic()
        try:
            primary, *replicas = self.data_nodes
            primary.start()
            for node in replicas:
                node.extra += ["--replicaof", "127.0.0.1", str(primary.port)]
                node.start()
            wait_for(self._replication_up, timeout_s, what="replicas linked to the primary")
            self._write_configs()
            for sentinel in self.sentinel_nodes:
                sentinel.start()
            wait_for(self._sentinels_ready, timeout_s, interval_s=0.05, what="sentinels ready")
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began

    def _write_configs(self) -> None:
        ids = [secrets.token_hex(20) for _ in self.sentinel_nodes]
        primary, *replicas = self.data_nodes
        for sentinel, my_id in zip(self.sentinel_nodes, ids, strict=True):
            peers = [
                (other.port, other_id)
                for other, other_id in zip(self.sentinel_nodes, ids, strict=True)
                if other is not sentinel
            ]
            text = sentinel_conf(
                self.service, my_id, primary.port, [r.port for r in replicas], peers
            )
            sentinel.config_file = sentinel.dir / "sentinel.conf"
            sentinel.config_file.write_text(text)

    def stop(self) -> None:
        """Close clients, stop every process by PID and remove the directories."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        # Replicas before the primary: a primary given SIGTERM first waits (up to
        # shutdown-timeout) for its replicas to acknowledge the last writes.
        for server in [*self.sentinel_nodes, *reversed(self.data_nodes)]:
            server.cleanup()

    # -- state ------------------------------------------------------------------------------

    def _replication_up(self) -> bool:
        for node in self.data_nodes[1:]:
            with _admin(node) as client:
                if client.info("replication").get("master_link_status") != "up":
                    return False
        return True

    def _sentinels_ready(self) -> bool:
        for sentinel in self.sentinel_nodes:
            with _admin(sentinel) as client:
                replicas = len(self.data_nodes) - 1
                if not sentinel_ready(client, self.service, replicas, len(self.sentinel_nodes)):
                    return False
        return True

    def live_sentinels(self) -> list[RedisServer]:
        """Sentinels that are running."""
        return [s for s in self.sentinel_nodes if s.proc is not None]

    def primary_addr(self, sentinel: RedisServer | None = None) -> tuple[str, int]:
        """``SENTINEL GET-MASTER-ADDR-BY-NAME`` from ``sentinel`` (default: the first live)."""
        with _admin(sentinel or self.live_sentinels()[0]) as client:
            host, port = command(client, "SENTINEL GET-MASTER-ADDR-BY-NAME", self.service)
        return str(host), int(port)

    def node_at(self, port: int) -> RedisServer:
        """The data node listening on ``port``."""
        return next(node for node in self.data_nodes if node.port == port)

    def current_primary(self) -> RedisServer:
        """The data node the sentinels name as primary now."""
        return self.node_at(self.primary_addr()[1])

    def replicas(self) -> list[RedisServer]:
        """Running data nodes other than the current primary."""
        primary = self.current_primary()
        return [n for n in self.data_nodes if n is not primary and n.proc is not None]

    # -- clients ----------------------------------------------------------------------------

    def sentinel_client(self, **kwargs: Any) -> Sentinel:
        """A redis-py ``Sentinel`` over every sentinel; ``kwargs`` go to each connection
        (e.g. ``socket_timeout``). Its ``master_for`` pools are closed by :meth:`stop`."""
        addrs = [s.addr for s in self.sentinel_nodes]
        sentinel = Sentinel(addrs, sentinel_kwargs={"socket_timeout": 1.0}, **kwargs)
        self._clients.extend(sentinel.sentinels)
        return sentinel

    def primary_client(self, **kwargs: Any) -> redis.Redis:
        """``Sentinel(...).master_for(service)``: a client that finds the primary through the
        sentinels on every (re)connect; ``kwargs`` go to it. Closed by :meth:`stop`."""
        client: redis.Redis = self.sentinel_client().master_for(self.service, **kwargs)
        self._clients.append(client)
        return client

    # -- faults -----------------------------------------------------------------------------

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary; returns it (stopped, restartable). Notes the time."""
        primary = self.current_primary()
        self.fault_at = time.monotonic()
        self.last_killed = primary
        primary.kill()
        return primary

    def wait_for_promotion(
        self, old_primary: RedisServer | None = None, *, timeout_s: float = 30.0
    ) -> float:
        """Poll the sentinels until the failover away from ``old_primary`` (default: the last
        one killed) is complete, and return when clients could first find the new primary.

        Two moments, both polled every 50 ms on every live sentinel:

        1. *addressed*: ``SENTINEL GET-MASTER-ADDR-BY-NAME`` names one node other than
           ``old_primary`` on all of them, and that node answers ``ROLE`` as master. From
           here a redis-py ``Sentinel`` client connects to the new primary.
        2. *complete*: ``SENTINEL MASTER`` shows that node with plain ``master`` flags
           (``+switch-master`` done, no failover in progress). Only now is it safe to restart
           the old primary or cause the next failover.

        Returns:
            Seconds from the last fault (:meth:`kill_primary`, :meth:`lose_writes`) to 1.

        Raises:
            AssertionError: not complete within ``timeout_s``.
            ValueError: no ``old_primary`` given and none killed.
        """
        start = self.fault_at or time.monotonic()
        old = old_primary or self.last_killed
        if old is None:
            raise ValueError("wait_for_promotion needs old_primary when none was killed")
        addressed_at: list[float] = []

        def complete() -> bool:
            try:
                port = self._addressed_primary(old)
                if port is None:
                    return False
                if not addressed_at:
                    addressed_at.append(time.monotonic())
                return self._failover_done(port)
            except redis.RedisError:
                return False

        wait_for(complete, timeout_s, interval_s=0.05, what=f"{self.service} failed over")
        return addressed_at[0] - start

    def _addressed_primary(self, old: RedisServer) -> int | None:
        ports = {self.primary_addr(s)[1] for s in self.live_sentinels()}
        if len(ports) != 1 or old.port in ports:
            return None
        port = ports.pop()
        with _admin(self.node_at(port)) as client:
            return port if command(client, "ROLE")[0] == "master" else None

    def _failover_done(self, port: int) -> bool:
        for sentinel in self.live_sentinels():
            with _admin(sentinel) as client:
                state = command(client, "SENTINEL", "MASTER", self.service)
            if int(state["port"]) != port or state["flags"] != "master":
                return False
        return True

    def restart(
        self, node: RedisServer, *, as_replica: bool = True, timeout_s: float = 30.0
    ) -> None:
        """Start a stopped data node again (empty: persistence is off) and wait until it is a
        replica of the current primary with its link up.

        Args:
            as_replica: send ``REPLICAOF <current primary>`` right after start, as an operator
                (or a config Sentinel rewrote) would. False leaves the conversion to Sentinel,
                which notices a returning old primary only at its next ``INFO`` of it (every
                10 s for replicas), so it takes about 10 s.
        """
        node.start()
        primary = self.current_primary()
        if as_replica:
            with _admin(node) as client:
                client.replicaof("127.0.0.1", primary.port)

        def rejoined() -> bool:
            with _admin(node) as client:
                info = client.info("replication")
            return bool(
                info.get("role") == "slave"
                and info.get("master_port") == primary.port
                and info.get("master_link_status") == "up"
            )

        wait_for(rejoined, timeout_s, interval_s=0.05, what=f"port {node.port} rejoined")

    def set_min_replicas(self, count: int, max_lag_s: int = 10) -> None:
        """``CONFIG SET min-replicas-to-write count`` and ``min-replicas-max-lag`` on every
        running data node, so it holds whichever one is primary (0 turns it off)."""
        for node in self.data_nodes:
            if node.proc is not None:
                with _admin(node) as client:
                    client.config_set("min-replicas-to-write", count)
                    client.config_set("min-replicas-max-lag", max_lag_s)

    def lose_writes(
        self, write: Callable[[redis.Redis], T], *, timeout_s: float = 30.0
    ) -> LossCase[T]:
        """The deterministic loss case (design notes E6), with Sentinel doing the promotion.

        1. SIGSTOP every replica, then ``CLIENT KILL TYPE replica`` on the primary: no
           replica can receive (or re-sync) anything written from here on.
        2. ``write(primary_client)``: the primary acknowledges these writes (``WAIT`` here
           returns 0).
        3. SIGKILL the primary, SIGCONT the replicas; the sentinels see the primary down and
           promote a replica, which never had those writes.

        Returns:
            :class:`LossCase` with ``write``'s result, both primaries and the promotion time.
        """
        primary = self.current_primary()
        replicas = self.replicas()
        for replica in replicas:
            replica.pause()
        try:
            with _admin(primary) as admin:
                command(admin, "CLIENT", "KILL", "TYPE", "replica")
            with primary.client() as client:
                result = write(client)
            self.fault_at = time.monotonic()
            self.last_killed = primary
            primary.kill()
        finally:
            for replica in replicas:
                replica.resume()
        promotion_s = self.wait_for_promotion(primary, timeout_s=timeout_s)
        return LossCase(result, primary, self.current_primary(), promotion_s)
