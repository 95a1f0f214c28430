"""One node of a local Redis Cluster: a server in cluster mode, its bus port and node ID."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.cluster_topology import NodeView, parse_cluster_nodes, parse_info
from tests.redis_server import RedisServer, command, free_port


class ClusterNode:
    """One cluster node: a :class:`RedisServer` in cluster mode, its bus port and node ID.

    ``admin`` is a ``decode_responses`` client with a 2 s socket timeout and no retries, for
    topology polls that must not hang on a dead or paused node.
    """

    def __init__(self, *, binary: str | None, node_timeout_ms: int) -> None:
        self.bus_port = free_port()
        extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        extra += ["--cluster-port", str(self.bus_port)]
        extra += ["--cluster-node-timeout", str(node_timeout_ms)]
        extra += ["--cluster-require-full-coverage", "no"]
        # A replica that was paused or cut off longer than 10 x node timeout would refuse to
        # fail over with the default factor; tests need promotion to be deterministic.
        extra += ["--cluster-replica-validity-factor", "0"]
        # Keep the 3 + 3 layout fixed: no replica wanders to an orphaned primary.
        extra += ["--cluster-allow-replica-migration", "no"]
        # The default waits 5 s for more replicas before a full sync: start and rejoin slower.
        extra += ["--repl-diskless-sync-delay", "0"]
        self.server = RedisServer(binary=binary, extra=extra)
        self.node_id = ""
        self.paused = False
        self.admin = self._admin_client()

    def _admin_client(self) -> redis.Redis:
        return self.server.client(
            decode_responses=True, socket_timeout=2.0, retry=Retry(NoBackoff(), 0)
        )

    def __repr__(self) -> str:
        return f"ClusterNode(port={self.port}, id={self.node_id[:8]}, pid={self.pid})"

    @property
    def port(self) -> int:
        """Client port on 127.0.0.1."""
        return self.server.port

    @property
    def pid(self) -> int | None:
        """PID, None while killed."""
        return self.server.pid

    @property
    def alive(self) -> bool:
        """Running and not paused (it answers commands)."""
        return self.server.proc is not None and self.server.proc.poll() is None and not self.paused

    def start(self) -> None:
        """Start the process (same port and ``nodes.conf`` on a restart) and read its ID."""
        self.server.start()
        self.server._fixed_port = True  # a node keeps its address: peers know it by it
        self.node_id = str(command(self.admin, "CLUSTER", "MYID"))

    def nodes(self) -> list[NodeView]:
        """This node's ``CLUSTER NODES`` view."""
        return parse_cluster_nodes(str(command(self.admin, "CLUSTER", "NODES")))

    def info(self) -> dict[str, str]:
        """This node's ``CLUSTER INFO`` fields."""
        return parse_info(str(command(self.admin, "CLUSTER", "INFO")))

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain (non-cluster) client on this node; caller closes it."""
        return self.server.client(**kwargs)
