"""Checks of the Redis server a producer runs once at start, and recording its settings.

* An ``allkeys-*`` maxmemory policy can evict the stream with its groups and pending entries:
  refused unless allowed (:func:`check_eviction_policy`).
* A server that persists nothing (no AOF, no RDB save points) loses every entry on a restart
  while producers have reported success: warned (:func:`check_persistence`); the worker can
  call it too.
* The settings in effect go to the stream's config hash for the stats view
  (:func:`record_settings`).

Each check needs ``CONFIG GET``; a user without it gets a warning and the producer goes on.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from ingest.codec import now_ms
from ingest.errors import ConfigError
from ingest.keys import StreamKeys
from ingest.settings import ProducerSettings

log = logging.getLogger(__name__)

_warned: set[tuple[object, ...]] = set()
"""Servers already warned about in this process (one warning each, however many producers)."""


def _server(client: redis.Redis) -> tuple[object, ...]:
    kwargs = client.connection_pool.connection_kwargs
    return (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db"))


def check_eviction_policy(client: redis.Redis, allow_eviction: bool) -> str | None:
    """Refuse an ``allkeys-*`` maxmemory policy (it can evict the stream, its groups and their
    pending entries). Returns the policy, or ``None`` when CONFIG is not permitted (warned).

    Raises:
        ConfigError: an ``allkeys-*`` policy without ``allow_eviction``.
    """
    try:
        reply: Any = client.config_get("maxmemory-policy")
    except redis.ResponseError as exc:
        log.warning("cannot read maxmemory-policy (%s); make sure it is noeviction", exc)
        return None
    policy = str(reply.get("maxmemory-policy", ""))
    if policy.startswith("allkeys-"):
        if not allow_eviction:
            raise ConfigError(
                f"Redis maxmemory-policy is {policy}: under memory pressure it may evict the "
                "stream with its consumer groups and pending entries (silent loss). Set "
                "maxmemory-policy noeviction, or pass --allow-eviction / "
                "INGEST_ALLOW_EVICTION=1 to accept the risk"
            )
        log.warning(
            "maxmemory-policy is %s and --allow-eviction is set: Redis MAY EVICT THE "
            "STREAM and lose events under memory pressure",
            policy,
        )
    return policy


def persists_nothing(config: dict[str, str]) -> bool:
    """``True`` for ``CONFIG GET`` values with AOF off and no RDB save point (pure)."""
    return config.get("appendonly", "no") == "no" and not config.get("save", "").strip()


def check_persistence(client: redis.Redis) -> bool | None:
    """Warn when the server persists nothing: no AOF (``appendonly no``) and no RDB save
    points (``save ""``). A restart then loses the stream, its groups and every pending entry,
    while producers have reported the events as produced.

    Returns ``True`` when something is persisted, ``False`` when nothing is (warned once per
    server and process), ``None`` when CONFIG is not permitted (not checked; says so at DEBUG).
    """
    try:
        reply: Any = client.config_get("appendonly")
        reply.update(client.config_get("save"))
    except redis.ResponseError as exc:
        log.debug("cannot read appendonly/save (%s): persistence not checked", exc)
        return None
    if persists_nothing({str(k): str(v) for k, v in reply.items()}):
        if _server(client) in _warned:
            return False
        _warned.add(_server(client))
        log.warning(
            "Redis persists nothing (appendonly no, no save points): a restart loses the "
            "stream, its consumer groups and every pending entry although they were reported "
            "as produced; enable AOF (appendonly yes, appendfsync everysec)"
        )
        return False
    return True


def record_settings(client: redis.Redis, settings: ProducerSettings) -> bool:
    """Write the settings in effect to the stream's config hash (:attr:`StreamKeys.config`),
    so ``python -m ingest.stats`` shows the real cap and marks. Returns whether it was written.

    Fields (strings): ``maxlen``, ``high_water``, ``low_water`` (entries), ``no_group``,
    ``updated_at_ms`` (Unix ms). Not being allowed to write it (ACL ``NOPERM``, OOM) only
    warns: the settings are informational, admission gets them with every call.
    """
    key = StreamKeys(settings.stream).config
    fields = {
        "maxlen": settings.maxlen,
        "high_water": settings.high_water,
        "low_water": settings.watermark_low,
        "no_group": settings.no_group,
        "updated_at_ms": now_ms(),
    }
    try:
        client.hset(key, mapping=fields)  # type: ignore[arg-type]
    except redis.ResponseError as exc:
        log.warning("cannot record the producer settings in %s (%s); stats will show its own "
                    "--maxlen as the cap", key, exc)  # fmt: skip
        return False
    return True
