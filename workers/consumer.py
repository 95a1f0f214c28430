"""Joining the consumer group: the group itself, the consumer name, and a look at the server.

Semantics from https://redis.io/docs/latest/commands/xgroup-create/: ``XGROUP CREATE ...
MKSTREAM`` answers ``BUSYGROUP`` when the group exists.

The consumer name is held by a liveness key, ``{stream}:alive:<group>:<consumer>``, whose value
names the holder (``<host>:<process start>:<pid>``: the PID last, so a reader taking the last
``:``-separated part as the PID, as of ``host:pid``, still gets it right) and whose TTL
(``--liveness-ttl``) the
worker keeps refreshing. A consumer whose key has expired is dead: any live worker takes its
pending entries over at once (:mod:`workers.reclaimer`). A process restarted under the same
name on the same host takes the key over at once when the recorded holder is gone (no such
PID, a zombie, or a PID reused by a process that started later).
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import redis
import redis.asyncio

from ingest.keys import StreamKeys
from ingest.workerinfo import parse_holder
from workers.errors import ConsumerNameTaken, GroupCreateError

log = logging.getLogger(__name__)

PROC = Path("/proc")


async def ensure_group(
    client: redis.asyncio.Redis, stream: str, group: str, start_id: str = "0"
) -> bool:
    """Create ``group`` on ``stream`` (``XGROUP CREATE stream group start_id MKSTREAM``).

    Returns:
        True when this call created it, False when it existed already (``BUSYGROUP``).

    Raises:
        GroupCreateError: any other error reply, e.g. ``WRONGTYPE`` when the key holds a string.
    """
    try:
        await client.xgroup_create(stream, group, id=start_id, mkstream=True)
    except redis.ResponseError as exc:
        if str(exc).startswith("BUSYGROUP"):
            return False
        raise GroupCreateError(stream, group, str(exc)) from None
    return True


def process_start(pid: int, proc: Path = PROC) -> tuple[str, str] | None:
    """``(state, start time)`` of process ``pid`` from ``/proc/<pid>/stat`` (the state letter,
    ``Z`` for a zombie, and the start time in clock ticks since boot, fields 3 and 22 of
    proc(5)), or ``None`` when there is no such process (or no ``/proc``)."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses.
    rest = text[text.rfind(")") + 2 :].split()
    if len(rest) < 20:
        return None
    return rest[0], rest[19]


def liveness_value(pid: int | None = None, proc: Path = PROC) -> str:
    """What the liveness key holds: ``<hostname>:<process start>:<pid>`` of this process (the
    start time, in clock ticks since boot, tells a reused PID apart; empty where ``/proc`` is
    missing). A value of the older form ``<hostname>:<pid>`` is still understood."""
    pid = os.getpid() if pid is None else pid
    found = process_start(pid, proc)
    return f"{socket.gethostname()}:{found[1] if found else ''}:{pid}"


def holder_is_gone(holder: str, proc: Path = PROC) -> bool:
    """True when the liveness key's holder is provably dead: on this host, and its PID is ours
    (a restarted container reuses PID 1), runs no process, runs a zombie (killed, not yet
    reaped), or runs a process that started at another time (the PID was reused)."""
    parsed = parse_holder(holder)
    if parsed is None or parsed.pid is None or parsed.host != socket.gethostname():
        return False
    pid, started = parsed.pid, parsed.started
    if pid == os.getpid():
        return True
    found = process_start(pid, proc)
    if found is None:
        return not _exists(pid)
    state, start = found
    return state == "Z" or bool(started and start != started)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def claim_consumer_name(
    client: redis.asyncio.Redis, keys: StreamKeys, group: str, consumer: str, ttl_s: float
) -> None:
    """Take the liveness key of ``consumer`` (``SET key <holder> NX PX ttl``).

    A key left by a process on this host that is gone (see :func:`holder_is_gone`) is taken
    over at once.

    Raises:
        ConsumerNameTaken: a live process holds the name; says who and when it frees.
    """
    key = keys.consumer_alive(group, consumer)
    mine = liveness_value()
    ttl_ms = int(ttl_s * 1000)
    if await client.set(key, mine, nx=True, px=ttl_ms):
        return
    holder = await client.get(key)
    if holder is None or holder == mine or holder_is_gone(str(holder)):
        log.info("consumer %s: taking over the liveness key left by %s", consumer, holder)
        await client.set(key, mine, px=ttl_ms)
        return
    left_ms = int(await client.pttl(key))
    raise ConsumerNameTaken(consumer, str(holder), left_ms / 1000 if left_ms >= 0 else None)


async def warn_if_not_persistent(client: redis.asyncio.Redis) -> bool:
    """Warn once when the server persists nothing (``appendonly no`` and no RDB ``save``
    points): a restart would empty the stream, its groups and their pending entries. Returns
    True when it warned. A server that refuses ``CONFIG GET`` (ACLs, managed Redis) is not
    judged."""
    try:
        config = await client.config_get("appendonly")
        config.update(await client.config_get("save"))
    except redis.ResponseError as exc:
        log.debug("cannot read the persistence settings (%s)", exc)
        return False
    if config.get("appendonly") == "no" and not str(config.get("save", "")).strip():
        log.warning(
            "Redis persists nothing (appendonly no, no save points): a restart empties the "
            "stream, its consumer groups and their pending entries. Enable AOF "
            "(appendonly yes, appendfsync everysec)"
        )
        return True
    return False
