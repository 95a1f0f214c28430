"""The read and delete commands of ``python -m workers.dlq``: ``list``, ``show``, ``purge``.

``replay`` lives in :mod:`workers.dlq`, next to the admission it goes through.
"""

from __future__ import annotations

import argparse
import sys

import redis

from ingest.display import json_text, visible
from ingest.keys import StreamKeys
from workers.dlq_args import selection
from workers.dlq_inspect import REFUSED_REASONS, DeadLetter, purge, scan, select, split_replayable
from workers.dlq_view import print_list, print_show

__all__ = ["replay_selection", "run_command"]


def _show(args: argparse.Namespace, client: redis.Redis, keys: StreamKeys) -> int:
    if args.ids:
        try:
            entries = select(client, keys, args.ids)
        except KeyError as exc:
            print(f"error: no dead-letter entry {exc.args[0]}", file=sys.stderr)
            return 1
    else:
        where = selection(args)
        entries = list(scan(client, keys, where, newest_first=True, limit=args.count))
        if not entries:
            shown = visible(where.describe())
            print(f"error: no dead-letter entry matches {shown}", file=sys.stderr)
            return 1
    print_show(entries, args.json)
    return 0


def run_command(args: argparse.Namespace, client: redis.Redis, keys: StreamKeys) -> int:
    """Run ``list``, ``show`` or ``purge`` (parsed ``args``); returns the exit code (0, or 1
    when ``show`` finds nothing)."""
    if args.command == "list":
        where = selection(args)
        entries = list(scan(client, keys, where, newest_first=True, limit=args.count))
        empty = f"no dead letters in {visible(keys.dead_letter_stream)}"
        if not where.empty:
            empty += f" match {visible(where.describe())}"
        print_list(entries, args.json, empty)
    elif args.command == "show":
        return _show(args, client, keys)
    else:
        where = selection(args)
        purged = purge(client, keys, None if args.all else where)
        print(json_text({"purged": purged}))
    return 0


def replay_selection(
    args: argparse.Namespace, client: redis.Redis, keys: StreamKeys
) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """``(to replay, skipped)`` for a ``replay`` command line: its IDs, every dead letter
    (``--all``) or those its filters match, oldest first. Those the worker refused before any
    handler ran (:data:`~workers.dlq_inspect.REFUSED_REASONS`) are skipped, with a note on
    stderr, unless ``--include-decode-failures`` or a ``--reason`` naming them.

    Raises:
        KeyError: an ID that is not in the dead-letter stream.
    """
    where = selection(args)
    chosen = select(client, keys, None if args.all or not args.ids else args.ids, where)
    asked = args.include_decode_failures or bool(set(where.reasons) & REFUSED_REASONS)
    entries, skipped = split_replayable(chosen, asked)
    if skipped:
        print(
            f"note: skipped {len(skipped)} dead letters the worker refused before any handler "
            f"ran (reason {' or '.join(sorted(REFUSED_REASONS))}): they would come straight "
            "back; fix the producer, or pass --include-decode-failures",
            file=sys.stderr,
        )
    return entries, skipped
