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
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import redis

from ingest.codec import now_ms
from ingest.connection import sync_client, wait_until_reachable
from ingest.errors import ConfigError, RedisUnavailable
from ingest.keys import StreamKeys
from ingest.settings import REDIS_OPTIONS, STREAM_OPTIONS, RedisSettings, add_options, resolve
from ingest.streams import parse_entries

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FULL_ID = re.compile(r"(\d+)-(\d+)")
_VALUE_FLAGS = frozenset({"--older-than", "--rate", "--count"})


def parse_duration_s(text: str) -> float:
    """``30s``, ``15m``, ``2h``, ``7d`` or plain seconds -> seconds (> 0).

    Raises:
        ValueError: anything else, zero or negative included.
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration (use 30s, 15m, 2h or 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def entry_id_arg(text: str) -> str:
    """An entry ID argument, ``<ms>-<seq>`` as the dead-letter stream shows it.

    Raises:
        argparse.ArgumentTypeError: anything else (so Redis never sees it).
    """
    match = _FULL_ID.fullmatch(text)
    if match is None or any(int(part) >= 2**64 for part in match.groups()):
        raise argparse.ArgumentTypeError(
            f"not an entry ID: {text!r} (expected <ms>-<seq>, e.g. 1718000000000-0, "
            "as `list` shows them)"
        )
    return text


def _duration_arg(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0 (replays per second)")
    return value


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number, at least 1")
    return value


def _keep_negative_values(argv: Sequence[str]) -> list[str]:
    """Join ``--older-than -5s`` into ``--older-than=-5s``.

    argparse takes ``-5s`` for an unknown option and answers "expected one argument";
    joined, the value reaches its check and the error says what is wrong with it.
    """
    out: list[str] = []
    for token in argv:
        if out and out[-1] in _VALUE_FLAGS and re.match(r"-\.?\d", token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


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


class UsageError(Exception):
    """A command line argparse refused: the text to print (usage and the error line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would sys.exit(2) itself
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    """Arguments: the Redis and stream options, ``--json``, and one sub-command.

    Its ``parse_args`` raises :class:`UsageError` instead of exiting (``--help`` exits 0).
    """
    parser = _Parser(
        prog="python -m workers.dlq",
        description=__doc__.split("\n")[0].replace("``", ""),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, (*REDIS_OPTIONS, *STREAM_OPTIONS))
    parser.add_argument(
        "--json",
        action="store_true",
        help="print JSON even on a terminal (output is already JSON when stdout is not a "
        "terminal: a pipe or a file)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    list_cmd = sub.add_parser("list", help="list dead-letter entries, newest first")
    list_cmd.add_argument(
        "--count", type=_count_arg, default=50, help="how many entries to list (default 50)"
    )
    show = sub.add_parser("show", help="every field of one entry")
    show.add_argument("id", type=entry_id_arg, help="the dead-letter entry ID (<ms>-<seq>)")
    rep = sub.add_parser("replay", help="put events back on the main stream")
    rep.add_argument(
        "ids", nargs="*", type=entry_id_arg, metavar="id", help="dead-letter entry IDs to replay"
    )
    rep.add_argument("--all", action="store_true", help="replay every dead-letter entry")
    rep.add_argument(
        "--rate", type=_rate_arg, default=None, help="replays per second, above 0 (default: no cap)"
    )
    pur = sub.add_parser("purge", help="delete dead-letter entries (--all or --older-than D)")
    which = pur.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="delete every dead-letter entry")
    which.add_argument(
        "--older-than",
        type=_duration_arg,
        default=None,
        metavar="D",
        help="delete only entries dead-lettered more than D ago (30s, 15m, 2h, 7d)",
    )
    return parser


_EPILOG = """output:
  A table when stdout is a terminal; JSON when it is not (piped or redirected) or with --json.

exit codes:
  0  ok
  1  an entry ID was not found
  2  usage error (bad ID, rate or duration; replay or purge without --all or a selection)
  3  Redis unreachable for --connect-timeout"""


def _check_replay(args: argparse.Namespace) -> str | None:
    """The usage error of a replay command line, if any."""
    if args.command != "replay":
        return None
    if not args.all and not args.ids:
        return "replay: give --all or one or more entry IDs"
    if args.all and args.ids:
        return "replay: give --all or entry IDs, not both"
    return None


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
            _keep_negative_values(sys.argv[1:] if argv is None else argv)
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
    problem = _check_replay(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    client = sync_client(settings)
    try:
        wait_until_reachable(client, settings)
        return _run(args, client, keys)
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
