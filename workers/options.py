"""The worker's options: flag, ``INGEST_*`` variable, parser, default and help of each
(the README's settings table is generated from :data:`WORKER_OPTIONS`)."""

from __future__ import annotations

import os
import re
import socket

from ingest.settings import (
    LOG_FORMAT_OPTION,
    REDIS_OPTIONS,
    STREAM_OPTIONS,
    Option,
    boolean,
    choice,
    non_negative_float,
    positive_float,
    positive_int,
    text,
)


def _handler_ref(value: str) -> str:
    module, _, attr = value.partition(":")
    if not module or not attr:
        raise ValueError("must be module:callable, e.g. mypkg.handlers:handle")
    return value


def _sink_url(value: str) -> str:
    if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
        raise ValueError("must be sqlite:///PATH, e.g. sqlite:///./ingest.db")
    return value


_ENTRY_ID = re.compile(r"(\d+)(?:-(\d+))?")


def _start_id(value: str) -> str:
    """``0``, ``$`` or an entry ID (``<ms>`` or ``<ms>-<seq>``), as XGROUP CREATE takes."""
    match = _ENTRY_ID.fullmatch(value)
    if value != "$" and (
        match is None or any(int(part) >= 2**64 for part in match.groups(default="0"))
    ):
        raise ValueError(
            "must be 0, $ or an entry ID (<ms> or <ms>-<seq>, e.g. 1718000000000-0): 0 reads "
            "what the stream already holds, $ only entries added later"
        )
    return value


MIN_IDLE_FLOOR_S = 1.0
"""Smallest ``--min-idle`` the CLI and environment accept (seconds)."""


def _min_idle(value: str) -> float:
    """``--min-idle``: at least :data:`MIN_IDLE_FLOOR_S`.

    Held entries have their idle time reset every quarter of it (``refresh_interval_s``);
    below a second, a refresh delayed by a busy event loop or a slow round trip lets another
    live worker claim entries in flight (``0`` makes every sweep steal them). Tests that
    need less build :class:`WorkerSettings` directly.
    """
    seconds = non_negative_float(value)
    if seconds < MIN_IDLE_FLOOR_S:
        raise ValueError(
            f"must be at least {MIN_IDLE_FLOOR_S:g} s: live workers would claim each other's "
            "in-flight entries"
        )
    return seconds


def _liveness_ttl(value: str) -> float:
    seconds = positive_float(value)
    if seconds < 1.0:
        raise ValueError("must be at least 1 s: a busy event loop would let it expire")
    return seconds


def _port(value: str) -> int:
    port = int(value.replace("_", ""))
    if not 0 <= port <= 65535:
        raise ValueError("must be a TCP port, 0..65535 (0 = off)")
    return port


def _log_level(value: str) -> str:
    upper = value.upper()
    if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return upper


def default_consumer_name() -> str:
    """``<hostname>-<pid>``: unique per live process on one host."""
    return f"{socket.gethostname()}-{os.getpid()}"


WORKER_OPTIONS: tuple[Option, ...] = (
    *REDIS_OPTIONS,
    *STREAM_OPTIONS,
    Option(
        "consumer",
        "--consumer",
        "INGEST_CONSUMER",
        text,
        None,
        "consumer name, unique per live process (default <hostname>-<pid>)",
    ),
    Option(
        "start_id",
        "--start-id",
        "INGEST_START_ID",
        _start_id,
        "0",
        "entry ID a newly created group starts after (0: read everything already there)",
    ),
    Option(
        "read_count",
        "--batch",
        "INGEST_READ_COUNT",
        positive_int,
        100,
        "entries per XREADGROUP (COUNT)",
        "entries",
    ),
    Option(
        "block_ms",
        "--block-ms",
        "INGEST_BLOCK_MS",
        positive_int,
        5000,
        "XREADGROUP BLOCK time; must stay below the socket timeout",
        "ms",
    ),
    Option(
        "concurrency",
        "--concurrency",
        "INGEST_CONCURRENCY",
        positive_int,
        4,
        "handler calls (or handler batches) running at once",
    ),
    Option(
        "handler",
        "--handler",
        "INGEST_HANDLER",
        _handler_ref,
        None,
        "module:callable handler (default: the SQLite sink)",
    ),
    Option(
        "sink",
        "--sink",
        "INGEST_SINK",
        _sink_url,
        "sqlite:///./ingest.db",
        "where the built-in sink writes (used without --handler)",
    ),
    Option(
        "retry_attempts",
        "--retry-attempts",
        "INGEST_RETRY_ATTEMPTS",
        positive_int,
        3,
        "handler attempts per delivery (1 = no in-process retry)",
    ),
    Option(
        "retry_initial_s",
        "--retry-initial",
        "INGEST_RETRY_INITIAL",
        non_negative_float,
        0.1,
        "first retry wait (doubles, with jitter)",
        "s",
    ),
    Option(
        "retry_max_s",
        "--retry-max",
        "INGEST_RETRY_MAX",
        non_negative_float,
        5.0,
        "longest retry wait",
        "s",
    ),
    Option(
        "shutdown_timeout_s",
        "--shutdown-timeout",
        "INGEST_SHUTDOWN_TIMEOUT",
        non_negative_float,
        25.0,
        "how long in-flight handlers may finish after SIGTERM",
        "s",
    ),
    Option(
        "claim_interval_s",
        "--claim-interval",
        "INGEST_CLAIM_INTERVAL",
        positive_float,
        5.0,
        "how often to claim entries idle in other consumers (XAUTOCLAIM)",
        "s",
    ),
    Option(
        "min_idle_s",
        "--min-idle",
        "INGEST_MIN_IDLE",
        _min_idle,
        60.0,
        "idle time after which another consumer's entry may be claimed (at least 1 s; "
        "held entries are refreshed every quarter of it)",
        "s",
    ),
    Option(
        "max_deliveries",
        "--max-deliveries",
        "INGEST_MAX_DELIVERIES",
        positive_int,
        5,
        "failed deliveries before an entry goes to the dead-letter stream",
    ),
    Option(
        "max_crashes",
        "--max-crashes",
        "INGEST_MAX_CRASHES",
        positive_int,
        2,
        "deliveries that ended with the worker dying (or its loop failing) while it held the "
        "entry, before the entry goes to the dead-letter stream (reason crashed)",
    ),
    Option(
        "handler_timeout_s",
        "--handler-timeout",
        "INGEST_HANDLER_TIMEOUT",
        positive_float,
        180.0,
        "longest handler call: an async one is cancelled, a sync one abandoned (its thread "
        "cannot be killed); the delivery counts as a failed attempt (reason timeout)",
        "s",
    ),
    Option(
        "slow_handler_s",
        "--slow-handler",
        "INGEST_SLOW_HANDLER",
        positive_float,
        60.0,
        "log a WARNING naming each handler call still running after this long",
        "s",
    ),
    Option(
        "max_wait_s",
        "--max-wait",
        "INGEST_MAX_WAIT",
        positive_float,
        10.0,
        "longest an entry read ahead waits for a free handler slot before it is released "
        "for an idle worker",
        "s",
    ),
    Option(
        "max_event_bytes",
        "--max-event-bytes",
        "INGEST_MAX_EVENT_BYTES",
        positive_int,
        1024 * 1024,
        "largest payload (JSON, UTF-8) accepted; larger ones are rejected",
        "bytes",
    ),
    Option(
        "max_fields",
        "--max-fields",
        "INGEST_MAX_FIELDS",
        positive_int,
        1000,
        "most fields an entry may have; entries with more (or over --max-event-bytes plus "
        "64 KiB of envelope) are dead-lettered (reason too_large) without being read whole",
    ),
    Option(
        "liveness_ttl_s",
        "--liveness-ttl",
        "INGEST_LIVENESS_TTL",
        _liveness_ttl,
        5.0,
        "TTL of the consumer's liveness key, refreshed every fifth of it; once it expires "
        "the consumer is dead and live workers take its pending entries over at once",
        "s",
    ),
    Option(
        "hung_after_s",
        "--hung-after",
        "INGEST_HUNG_AFTER",
        positive_float,
        None,
        "a loop with no step for this long makes the worker not live (/livez, systemd "
        "watchdog); default max(30 s, 4 x --block-ms, 4 x --claim-interval)",
        "s",
    ),
    Option(
        "consumer_ttl_s",
        "--consumer-ttl",
        "INGEST_CONSUMER_TTL",
        positive_float,
        3600.0,
        "remove consumers idle this long with no pending entries",
        "s",
    ),
    Option(
        "on_missing_group",
        "--on-missing-group",
        "INGEST_ON_MISSING_GROUP",
        choice("recreate", "exit"),
        "recreate",
        "when the group vanishes (NOGROUP): recreate it from 0, or exit non-zero",
    ),
    Option(
        "trace_spans",
        "--trace-spans",
        "INGEST_TRACE_SPANS",
        choice("event", "batch"),
        "event",
        "process spans when tracing is on: one per event, or, for batch handlers and sinks, "
        "one per read batch of events that share a producer span (cheaper at high rates; "
        "failures still name each event); per-event handlers keep one span per event",
    ),
    Option(
        "http_port",
        "--http-port",
        "INGEST_HTTP_PORT",
        _port,
        0,
        "port for /metrics, /livez, /readyz (0 = off)",
    ),
    Option(
        "http_host",
        "--http-host",
        "INGEST_HTTP_HOST",
        text,
        "127.0.0.1",
        "address the --http-port server binds: loopback by default; 0.0.0.0 (all IPv4 "
        "interfaces) in the container image and the Kubernetes manifests",
    ),
    Option(
        "burst",
        "--burst",
        "INGEST_BURST",
        boolean,
        False,
        "exit 0 once the group has no undelivered and no pending entries",
        is_flag=True,
    ),
    Option("log_level", "--log-level", "INGEST_LOG_LEVEL", _log_level, "INFO", "log level"),
    LOG_FORMAT_OPTION,
)
