"""Reading, showing and deleting dead-letter entries for ``python -m workers.dlq``.

``list``, ``show`` and ``purge``, and the selection ``replay`` starts from; nothing here adds
to the main stream (that is :func:`workers.dlq.replay`, through the admission function).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from ingest.codec import now_ms
from ingest.keys import StreamKeys
from ingest.stats_view import Column, fit_table
from ingest.streams import parse_entries

__all__ = ["print_rows", "purge", "row", "select"]


def select(
    client: redis.Redis, keys: StreamKeys, ids: Sequence[str] | None
) -> list[tuple[str, dict[str, str]]]:
    """``(ID, fields)`` of dead-letter entries ``ids`` (all when ``None``), oldest first.

    Raises:
        KeyError: an ID that is not in the dead-letter stream.
    """
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


LIST_COLUMNS = (
    Column("id", "id"),
    Column("event_id", "name"),
    Column("reason", "id"),
    Column("error", "name", optional=True),
    Column("deliveries"),
    Column("age_s"),
)
"""The ``list`` table: entry IDs, reasons and numbers are never cut; event IDs and errors
fold; on a narrow terminal the error column goes first (``show ID`` has it whole)."""


def _count(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def row(entry_id: str, f: Mapping[str, str]) -> dict[str, Any]:
    """One ``list`` row: ``id``, ``event_id``, ``reason``, ``error`` (80 characters),
    ``deliveries`` (an int: the delivery count when dead-lettered; ``None`` if not recorded)
    and ``age_s`` (seconds since it was dead-lettered, 0.1 s steps)."""
    age_s = (now_ms() - int(f.get("dead_at_ms", "0") or 0)) / 1000
    return {
        "id": entry_id,
        "event_id": f.get("event_id", ""),
        "reason": f.get("dead_reason", ""),
        "error": f.get("dead_error", "")[:80],
        "deliveries": _count(f.get("dead_delivery_count")),
        "age_s": round(age_s, 1),
    }


def print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    """Print ``rows`` as JSON (``as_json`` or stdout not a terminal) or as a table titled
    ``title`` (none: a line saying the dead-letter stream ``title`` is empty).

    The table fits the terminal's width without cutting an entry ID (see
    :func:`ingest.stats_view.fit_table`): two IDs that differ in their last digits stay
    distinguishable and can be pasted into ``show`` or ``replay``.
    """
    if as_json or not sys.stdout.isatty():
        print(json.dumps(rows))
        return
    if not rows:
        print(f"no dead letters in {title}")
        return
    from rich.console import Console

    console = Console()
    cells = [
        ["" if v is None else str(v) for v in (r[c.header] for c in LIST_COLUMNS)] for r in rows
    ]
    console.print(fit_table(LIST_COLUMNS, cells, console.width, title=title))
