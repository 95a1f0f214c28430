"""Sentinel configuration text and the readiness check of one sentinel (no processes).

Source: the Sentinel docs ("Sentinel configuration") for ``monitor``, ``down-after-
milliseconds``, ``failover-timeout`` and ``parallel-syncs``; ``myid``, ``known-replica`` and
``known-sentinel`` are the lines Sentinel itself writes when it rewrites its config, and it
reads them back at start, which spares the 2 s hello-message discovery.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from tests.redis_server import command

SERVICE = "ingest"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def sentinel_conf(
    service: str,
    my_id: str,
    primary_port: int,
    replica_ports: Sequence[int],
    peers: Sequence[tuple[int, str]],
) -> str:
    """The config of one sentinel monitoring ``service`` at ``127.0.0.1:primary_port``.

    Args:
        service: the monitored primary's name.
        my_id: this sentinel's 40-hex ID.
        primary_port: the primary's port.
        replica_ports: the replicas' ports (``known-replica``).
        peers: ``(port, id)`` of every other sentinel (``known-sentinel``).
    """
    lines = [
        f"sentinel myid {my_id}",
        f"sentinel monitor {service} 127.0.0.1 {primary_port} {QUORUM}",
        f"sentinel down-after-milliseconds {service} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {service} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {service} 1",
    ]
    lines += [f"sentinel known-replica {service} 127.0.0.1 {port}" for port in replica_ports]
    lines += [f"sentinel known-sentinel {service} 127.0.0.1 {port} {id_}" for port, id_ in peers]
    return "\n".join(lines) + "\n"


def sentinel_ready(client: redis.Redis, service: str, replicas: int, sentinels: int) -> bool:
    """True when this sentinel has the primary, ``replicas`` replicas and ``sentinels - 1``
    other sentinels, each flagged plainly (no ``disconnected``/``s_down``) with its last PING
    answered (``last-ping-sent`` 0). ``SENTINEL CKQUORUM`` alone is not enough: it passes
    before the links to the other sentinels exist. A connection error counts as not ready."""
    try:
        master = command(client, "SENTINEL", "MASTER", service)
        seen_replicas = command(client, "SENTINEL", "REPLICAS", service)
        peers = command(client, "SENTINEL", "SENTINELS", service)
    except redis.RedisError:
        return False
    if len(seen_replicas) != replicas or len(peers) != sentinels - 1:
        return False
    expected = [("master", master), *(("slave", r) for r in seen_replicas)]
    expected += [("sentinel", peer) for peer in peers]
    return all(
        state["flags"] == flag and int(state["last-ping-sent"]) == 0 for flag, state in expected
    )
