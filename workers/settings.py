"""Worker settings: CLI flags and ``INGEST_*`` variables, validated at start.

Durations a human sets are seconds (``*_s``); the values sent to Redis are converted to
milliseconds once, here (``*_ms``). The options themselves are in :mod:`workers.options`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingest.errors import ConfigError
from ingest.settings import REDIS_OPTIONS, RedisSettings, resolve
from workers.options import MIN_IDLE_FLOOR_S, WORKER_OPTIONS, default_consumer_name

__all__ = ["MIN_IDLE_FLOOR_S", "WORKER_OPTIONS", "WorkerSettings", "default_consumer_name"]


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything one worker process needs, validated.

    Attributes mirror :data:`WORKER_OPTIONS` (see ``--help``); ``redis`` groups the Redis
    connection settings. Derived values (``min_idle_ms``, ``refresh_interval_s``, ...) are
    properties. ``--min-idle`` / ``INGEST_MIN_IDLE`` must be at least 1 s (checked when the
    flag or variable is parsed); building the dataclass directly accepts less, for
    in-process tests only.
    """

    redis: RedisSettings
    stream: str = "ingest:events"
    group: str = "workers"
    consumer: str = ""
    start_id: str = "0"
    read_count: int = 100
    block_ms: int = 5000
    concurrency: int = 4
    handler: str | None = None
    sink: str = "sqlite:///./ingest.db"
    retry_attempts: int = 3
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    shutdown_timeout_s: float = 25.0
    claim_interval_s: float = 5.0
    min_idle_s: float = 60.0
    max_deliveries: int = 5
    max_crashes: int = 2
    handler_timeout_s: float = 180.0
    slow_handler_s: float = 60.0
    max_wait_s: float = 10.0
    max_event_bytes: int = 1024 * 1024
    max_fields: int = 1000
    liveness_ttl_s: float = 5.0
    hung_after_s: float | None = None
    consumer_ttl_s: float = 3600.0
    on_missing_group: str = "recreate"
    trace_spans: str = "event"
    http_port: int = 0
    http_host: str = "127.0.0.1"
    burst: bool = False
    log_level: str = "INFO"
    log_format: str = "auto"

    def __post_init__(self) -> None:
        if not self.consumer:
            object.__setattr__(self, "consumer", default_consumer_name())
        if self.block_ms >= self.redis.socket_timeout_s * 1000:
            raise ConfigError(
                f"--block-ms / INGEST_BLOCK_MS = {self.block_ms}: the block time must stay "
                f"below the socket timeout (--socket-timeout / INGEST_SOCKET_TIMEOUT = "
                f"{self.redis.socket_timeout_s:g} s), or an idle worker times out every block"
            )
        if self.consumer_ttl_s <= self.min_idle_s:
            raise ConfigError(
                f"--consumer-ttl / INGEST_CONSUMER_TTL = {self.consumer_ttl_s:g}: must be above "
                f"--min-idle / INGEST_MIN_IDLE = {self.min_idle_s:g} s, so a consumer's entries "
                "are claimed before the consumer is removed"
            )
        if self.retry_max_s < self.retry_initial_s:
            raise ConfigError(
                f"--retry-max / INGEST_RETRY_MAX = {self.retry_max_s:g}: must be at least "
                f"--retry-initial / INGEST_RETRY_INITIAL = {self.retry_initial_s:g} s"
            )

    @classmethod
    def from_sources(
        cls, args: argparse.Namespace | Mapping[str, Any] | None, environ: Mapping[str, str]
    ) -> WorkerSettings:
        """Build from parsed flags and environment variables (flag > variable > default).

        Raises:
            ConfigError: a value that does not parse or an impossible combination.
        """
        values = resolve(WORKER_OPTIONS, args, environ)
        redis = RedisSettings.from_values(values)
        names = {o.dest for o in WORKER_OPTIONS} - {o.dest for o in REDIS_OPTIONS}
        kwargs = {name: values[name] for name in names}
        kwargs["consumer"] = kwargs["consumer"] or ""
        return cls(redis=redis, **kwargs)

    @property
    def min_idle_ms(self) -> int:
        """``min_idle_s`` in milliseconds (XAUTOCLAIM min-idle-time)."""
        return int(self.min_idle_s * 1000)

    @property
    def refresh_interval_s(self) -> float:
        """How often held entries get their idle time reset: a quarter of ``min_idle_s``,
        between 0.05 and 10 s, so a live worker's entries never look abandoned."""
        return min(10.0, max(0.05, self.min_idle_s / 4))

    @property
    def heartbeat_s(self) -> float:
        """How often the liveness key is refreshed (and dead consumers looked for): a fifth
        of ``liveness_ttl_s``."""
        return self.liveness_ttl_s / 5

    @property
    def live_max_age_s(self) -> float:
        """A loop with no step for this long makes the worker not live: ``hung_after_s``, or
        max(30 s, 4 x block time, 4 x claim interval)."""
        if self.hung_after_s is not None:
            return self.hung_after_s
        return max(30.0, 4 * self.block_ms / 1000, 4 * self.claim_interval_s)

    @property
    def claim_count(self) -> int:
        """XAUTOCLAIM COUNT: the read batch size."""
        return self.read_count
