"""``python -m workers.dlq``: look at, replay and purge the dead-letter stream.

Commands::

    list [--count N]                      newest first: ID, event ID, reason, error, deliveries, age
    show ID                               every field of one dead-letter entry
    replay (--all | ID...) [--rate N]     put the original events back on the main stream
    purge (--all | --older-than D)        delete dead-letter entries (all, or older than D:
                                          30s, 15m, 2h, 7d)

Output: a table when stdout is a terminal, JSON when it is not (a pipe or a file); ``--json``
forces JSON on a terminal too. Replay re-adds the original fields (same event ID, so the sink
still deduplicates) plus ``replayed_from`` (the dead-letter entry ID), ``replay_count`` and
``replayed_reason``, and deletes the dead-letter entry only after the re-add succeeded.
Exit codes: 0 ok, 1 an ID was not found, 2 usage, 3 Redis unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from ingest.codec import now_ms
from ingest.connection import sync_client, wait_until_reachable
from ingest.errors import ConfigError, RedisUnavailable
from ingest.keys import StreamKeys
from ingest.settings import REDIS_OPTIONS, STREAM_OPTIONS, RedisSettings, resolve
from ingest.streams import parse_entries
from workers.dlq_args import (
    UsageError,
    build_parser,
    check_replay,
    keep_negative_values,
    parse_duration_s,
)

__all__ = ["build_parser", "main", "parse_duration_s", "purge", "replay", "replay_fields"]


def replay_fields(entry_id: str, fields: Mapping[str, str]) -> dict[str, str]:
    """The entry to re-add for dead-letter entry ``entry_id``: original fields, no ``dead_*``,
    with the dead-letter history noted."""
    out = {k: v for k, v in fields.items() if not k.startswith("dead_")}
    out["replayed_from"] = entry_id
    out["replay_count"] = str(int(fields.get("replay_count", "0")) + 1)
    out["replayed_reason"] = fields.get("dead_reason", "")
    return out


def replay(
    client: redis.Redis, keys: StreamKeys, ids: Sequence[str] | None, rate: float | None = None
) -> list[tuple[str, str]]:
    """Replay dead-letter entries (``ids``, or all when ``None``), oldest first.

    Each is ``XADD``ed to the main stream, then ``XDEL``ed from the dead-letter stream (after
    the XADD succeeded: a crash between them leaves a duplicate the sink deduplicates, never a
    loss). ``rate`` caps replays per second.

    Returns:
        ``(dead-letter ID, new entry ID)`` pairs.

    Raises:
        KeyError: an ID that is not in the dead-letter stream.
    """
    entries = _select(client, keys, ids)
    done: list[tuple[str, str]] = []
    interval = 1.0 / rate if rate else 0.0
    for entry_id, fields in entries:
        started = time.monotonic()
        new_id = client.xadd(keys.stream, replay_fields(entry_id, fields))  # type: ignore[arg-type]
        client.xdel(keys.dead_letter_stream, entry_id)
        done.append((entry_id, str(new_id)))
        wait = interval - (time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)  # rate limit between replays
    return done


def _select(
    client: redis.Redis, keys: StreamKeys, ids: Sequence[str] | None
) -> list[tuple[str, dict[str, str]]]:
    if ids is None:
        return [
            (e.entry_id, e.fields or {})
            for e in parse_entries(client.xrange(keys.dead_letter_stream))
        ]
    out: list[tuple[str, dict[str, str]]] = []
    for entry_id in ids:
        found = parse_entries(client.xrange(keys.dead_letter_stream, entry_id, entry_id))
        if not found:
            raise KeyError(entry_id)
        out.append((found[0].entry_id, found[0].fields or {}))
    return out


def purge(client: redis.Redis, keys: StreamKeys, older_than_s: float | None) -> int:
    """Delete dead-letter entries: all when ``older_than_s`` is ``None``, else those
    dead-lettered more than ``older_than_s`` seconds ago (by their entry ID's time).

    Returns how many were deleted. The CLI only passes ``None`` for an explicit ``--all``.
    """
    if older_than_s is None:
        count = int(client.xlen(keys.dead_letter_stream))
        client.delete(keys.dead_letter_stream)
        return count
    cutoff = now_ms() - int(older_than_s * 1000)
    deleted = 0
    while True:
        old = parse_entries(client.xrange(keys.dead_letter_stream, "-", f"({cutoff}-0", count=1000))
        if not old:
            return deleted
        deleted += int(client.xdel(keys.dead_letter_stream, *[e.entry_id for e in old]))


def _row(entry_id: str, f: Mapping[str, str]) -> dict[str, Any]:
    age_s = (now_ms() - int(f.get("dead_at_ms", "0") or 0)) / 1000
    return {
        "id": entry_id,
        "event_id": f.get("event_id", ""),
        "reason": f.get("dead_reason", ""),
        "error": f.get("dead_error", "")[:80],
        "deliveries": f.get("dead_delivery_count", ""),
        "age_s": round(age_s, 1),
    }


def _print(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json or not sys.stdout.isatty():
        print(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in rows[0] if rows else ["id"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v) for v in row.values()])
    Console().print(table)


def _run(args: argparse.Namespace, client: redis.Redis, keys: StreamKeys) -> int:
    if args.command == "list":
        raw = client.xrevrange(keys.dead_letter_stream, count=args.count)
        _print(
            [_row(e.entry_id, e.fields or {}) for e in parse_entries(raw)],
            args.json,
            keys.dead_letter_stream,
        )
    elif args.command == "show":
        found = parse_entries(client.xrange(keys.dead_letter_stream, args.id, args.id))
        if not found:
            print(f"error: no dead-letter entry {args.id}", file=sys.stderr)
            return 1
        print(
            json.dumps(
                {"id": found[0].entry_id, **(found[0].fields or {})},
                indent=None if args.json else 2,
            )
        )
    elif args.command == "replay":
        try:
            done = replay(client, keys, None if args.all else args.ids, args.rate)
        except KeyError as exc:
            print(f"error: no dead-letter entry {exc.args[0]}", file=sys.stderr)
            return 1
        print(
            json.dumps({"replayed": len(done), "entries": [{"from": a, "to": b} for a, b in done]})
        )
    else:
        print(json.dumps({"purged": purge(client, keys, None if args.all else args.older_than)}))
    return 0


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
        values = resolve((*REDIS_OPTIONS, *STREAM_OPTIONS), args, env)
        settings = RedisSettings.from_values(values)
        keys = StreamKeys(values["stream"])
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = check_replay(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    client = sync_client(settings)
    try:
        wait_until_reachable(client, settings)
        return _run(args, client, keys)
    except ConfigError as exc:  # refused credentials, a database the server lacks
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
