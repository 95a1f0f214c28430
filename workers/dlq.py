"""``python -m workers.dlq``: look at, replay and purge the dead-letter stream.

Commands::

    list [--count N]                      newest first: ID, reason, error type, deliveries,
                                          age; the event ID and the error on lines of their own
    show (ID... | FILTERS) [--count N]    every field of the given or matching entries
    replay (--all | ID... | FILTERS)      put the original events back on the main stream
           [--rate N] [--include-decode-failures]
    purge (--all | FILTERS)               delete dead-letter entries

Filters (every sub-command): ``--reason R``, ``--error-type T``, ``--event-id E`` (each
repeatable; a value or a shell pattern) and ``--older-than D`` (30s, 15m, 2h, 7d); see
:class:`workers.dlq_inspect.DeadLetterFilter`.

Output: a table when stdout is a terminal, JSON when it is not (a pipe or a file); ``--json``
forces JSON on a terminal too (:mod:`workers.dlq_view`; stream content is shown escaped, never
interpreted). Replay re-adds the original fields (same event ID, so the sink still
deduplicates) plus ``replayed_from`` (the dead-letter entry ID), ``replay_count`` and
``replayed_reason``, through the producer's admit-and-wait (:class:`ingest.admitting.Admitter`:
the stream's cap and high-water mark hold for replays too; re-sends are idempotent), and
deletes the dead-letter entry only after its re-add was admitted. It skips dead letters the
worker refused before any handler ran (reasons ``decode`` and ``too_large``: they would come
straight back) unless ``--include-decode-failures`` or a ``--reason`` naming them. Exit codes:
0 ok, 1 an ID was not found (or ``show`` matched nothing), 2 usage, 3 Redis unreachable, 4
blocked by backpressure longer than ``--max-block``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from ingest.admission import AdmissionUnavailable, ensure_loaded
from ingest.admitting import Admitter
from ingest.backpressure import Limits, Watermarks
from ingest.connection import sync_client, wait_until_reachable
from ingest.display import json_text
from ingest.errors import BackpressureTimeout, ConfigError, IngestError, RedisUnavailable
from ingest.keys import StreamKeys
from ingest.settings import NO_GROUP_MODES, REDIS_OPTIONS, STREAM_OPTIONS, RedisSettings, resolve
from ingest.streams import parse_entries
from workers.dead_format import original_fields
from workers.dlq_args import (
    REPLAY_OPTIONS,
    UsageError,
    build_parser,
    check_selection,
    keep_negative_values,
    parse_duration_s,
)
from workers.dlq_commands import replay_selection, run_command
from workers.dlq_inspect import DeadLetter, DeadLetterFilter, purge, select

__all__ = [
    "ReplayBlocked",
    "ReplayCap",
    "build_parser",
    "main",
    "parse_duration_s",
    "purge",
    "replay",
    "replay_cap",
    "replay_entries",
    "replay_fields",
]

REPLAY_BATCH = 100
"""Dead letters offered per admission call (one round trip) when ``--rate`` is not given."""


@dataclass(frozen=True, slots=True)
class ReplayCap:
    """The admission settings a replay obeys (entries), and where they came from.

    Attributes:
        maxlen, high_water, low_water, no_group: as the producer's (see ``ingest.producer``).
        source: ``producer`` (recorded in ``{stream}:config``) or ``option`` (flags,
            variables, defaults).
    """

    maxlen: int
    high_water: int
    low_water: int
    no_group: str = "block"
    source: str = "option"


class ReplayBlocked(IngestError):
    """Backpressure outlasted ``--max-block``: some dead letters were not replayed.

    Attributes:
        done: ``(dead-letter ID, new entry ID)`` of those replayed (deleted from the
            dead-letter stream).
        left: how many were not replayed (still in the dead-letter stream).
    """

    def __init__(self, done: list[tuple[str, str]], left: int, cause: BackpressureTimeout) -> None:
        super().__init__(
            f"replayed {len(done)} of {len(done) + left} dead letters; the other {left} are "
            f"still in the dead-letter stream ({cause})"
        )
        self.done = done
        self.left = left


def replay_fields(entry_id: str, fields: Mapping[str, str]) -> dict[str, str]:
    """The entry to re-add for dead-letter entry ``entry_id``: original fields, no ``dead_*``,
    with the dead-letter history noted."""
    out = original_fields(fields)  # unpacks dead_original (workers.dead_format)
    out["replayed_from"] = entry_id
    count = fields.get("replay_count", "0")
    # Another program may have written anything here: a count we cannot read restarts at 1.
    out["replay_count"] = str(int(count) + 1 if count.isdigit() else 1)
    out["replayed_reason"] = fields.get("dead_reason", "")
    return out


def replay_cap(client: redis.Redis, keys: StreamKeys, values: Mapping[str, Any]) -> ReplayCap:
    """The cap and marks a replay obeys: those the producer recorded in ``{stream}:config``
    (:attr:`StreamKeys.config`), else ``values`` (resolved :data:`REPLAY_OPTIONS`). The
    high-water mark is capped at ``maxlen``; the low-water mark defaults to 80% of it.

    Raises:
        ConfigError: the low-water mark is not below the high-water mark.
    """
    recorded: Mapping[str, str] = client.hgetall(keys.config)  # type: ignore[assignment]
    try:
        maxlen, high = int(recorded["maxlen"]), int(recorded["high_water"])
        low: int | None = int(recorded["low_water"])
        no_group, source = recorded.get("no_group", "block"), "producer"
    except (KeyError, ValueError):
        maxlen, high, low = values["maxlen"], values["high_water"], values["low_water"]
        no_group, source = values["no_group"], "option"
    high = min(high, maxlen)
    marks = Watermarks.from_high(high, low)
    mode = no_group if no_group in NO_GROUP_MODES else "block"
    return ReplayCap(maxlen, marks.high, marks.low, mode, source)


def replay(
    client: redis.Redis,
    keys: StreamKeys,
    ids: Sequence[str] | None,
    rate: float | None = None,
    *,
    cap: ReplayCap | None = None,
    max_block_s: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    where: DeadLetterFilter | None = None,
) -> list[tuple[str, str]]:
    """Replay dead-letter entries ``ids``, or all matching ``where`` when ``ids`` is ``None``
    (every one without a filter), oldest first; see :func:`replay_entries`. It replays what
    it selects as it is: skipping decode failures is the caller's choice
    (:func:`workers.dlq_inspect.split_replayable`).

    Raises:
        KeyError: an ID that is not in the dead-letter stream (nothing replayed).
        ReplayBlocked, AdmissionUnavailable: as :func:`replay_entries`.
    """
    entries = select(client, keys, ids, where)
    return replay_entries(
        client, keys, entries, rate, cap=cap, max_block_s=max_block_s, sleep=sleep
    )


def replay_entries(
    client: redis.Redis,
    keys: StreamKeys,
    entries: Sequence[DeadLetter],
    rate: float | None = None,
    *,
    cap: ReplayCap | None = None,
    max_block_s: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    redis_settings: RedisSettings | None = None,
) -> list[tuple[str, str]]:
    """Replay the dead letters ``entries`` (``(ID, fields)``, as selected), in that order.

    Each batch (:data:`REPLAY_BATCH` entries, or one at a time with ``rate``) goes through the
    producer's one admit-and-wait (:class:`ingest.admitting.Admitter`) under ``cap`` (default:
    :func:`replay_cap` with the producer's defaults): XLEN never passes the cap and the
    high-water mark holds; a refused batch waits until the backlog is at or below the low-water
    mark, for up to ``max_block_s``; a missing function is loaded again; a batch re-sent after a
    connection error is not appended twice. Dead-letter entries are ``XDEL``ed only after their
    batch was admitted (a crash between leaves a duplicate the sink deduplicates, never a
    loss). ``rate`` caps replays per second.

    Args:
        redis_settings: the URL (shown redacted) and the re-send window
            (``connect_timeout_s``); default :class:`~ingest.settings.RedisSettings` defaults.

    Returns:
        ``(dead-letter ID, new entry ID)`` pairs.

    Raises:
        ReplayBlocked: backpressure outlasted ``max_block_s`` (carries what was replayed).
        AdmissionUnavailable: the admission function is missing and may not be loaded.
        RedisUnavailable: Redis stayed unreachable for ``connect_timeout_s``.
    """
    entries = list(entries)
    if cap is None:
        cap = replay_cap(client, keys, resolve(REPLAY_OPTIONS, None, {}))
    ensure_loaded(client)
    limits = Limits(
        cap.maxlen, Watermarks(cap.high_water, cap.low_water), cap.no_group, max_block_s
    )
    admitter = Admitter(
        client, keys.stream, limits, redis=redis_settings or RedisSettings(), sleep=sleep
    )
    size = 1 if rate else min(REPLAY_BATCH, cap.maxlen)
    done: list[tuple[str, str]] = []
    for start in range(0, len(entries), size):
        chunk = entries[start : start + size]
        started = time.monotonic()
        try:
            new_ids = _admit_chunk(client, keys, chunk, admitter)
        except BackpressureTimeout as exc:
            raise ReplayBlocked(done, len(entries) - start, exc) from None
        done += zip([entry_id for entry_id, _ in chunk], new_ids, strict=True)
        wait = (1.0 / rate if rate else 0.0) * len(chunk) - (time.monotonic() - started)
        if wait > 0:
            sleep(wait)  # rate limit between replays
    return done


def _admit_chunk(
    client: redis.Redis, keys: StreamKeys, chunk: Sequence[DeadLetter], admitter: Admitter
) -> list[str]:
    """Admit ``chunk`` (waiting as the admitter does), then delete its dead letters; returns
    the new entry IDs.

    Raises:
        BackpressureTimeout: refused for longer than the admitter's ``max_block_s``.
    """
    result = admitter.admit([replay_fields(entry_id, f) for entry_id, f in chunk])
    pipe = client.pipeline(transaction=False)
    pipe.xdel(keys.dead_letter_stream, *[entry_id for entry_id, _ in chunk])
    # The function appended the batch atomically: nothing else lies between its first and
    # last entry IDs.
    pipe.xrange(keys.stream, str(result.first_id), str(result.last_id), count=len(chunk))
    added = parse_entries(pipe.execute()[1])
    return [e.entry_id for e in added]


def _replay(
    args: argparse.Namespace, client: redis.Redis, keys: StreamKeys, values: Mapping[str, Any]
) -> int:
    cap = replay_cap(client, keys, values)
    try:
        entries, skipped = replay_selection(args, client, keys)
    except KeyError as exc:
        print(f"error: no dead-letter entry {exc.args[0]}", file=sys.stderr)
        return 1
    left = 0
    try:
        done = replay_entries(
            client,
            keys,
            entries,
            args.rate,
            cap=cap,
            max_block_s=values["max_block_s"],
            redis_settings=RedisSettings.from_values(values),
        )
    except ReplayBlocked as exc:
        done, left = exc.done, exc.left
        print(f"error: {exc}", file=sys.stderr)
    summary = {"replayed": len(done), "not_replayed": left, "skipped": len(skipped)}
    report = {**summary, "cap": cap.maxlen, "cap_source": cap.source}
    print(json_text({**report, "entries": [{"from": a, "to": b} for a, b in done]}))
    return 4 if left else 0


def _run(
    args: argparse.Namespace, client: redis.Redis, keys: StreamKeys, values: Mapping[str, Any]
) -> int:
    if args.command == "replay":
        return _replay(args, client, keys, values)
    return run_command(args, client, keys)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one dead-letter command; returns the exit code."""
    env = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(
            keep_negative_values(sys.argv[1:] if argv is None else argv)
        )
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        options = (*REDIS_OPTIONS, *STREAM_OPTIONS)
        if args.command == "replay":
            options += REPLAY_OPTIONS
        values = resolve(options, args, env)
        settings = RedisSettings.from_values(values)
        keys = StreamKeys(values["stream"])
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = check_selection(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    client = sync_client(settings)
    try:
        wait_until_reachable(client, settings)
        return _run(args, client, keys, values)
    # refused credentials, a database the server lacks, marks out of order, no admission
    except (ConfigError, AdmissionUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
