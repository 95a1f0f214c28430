"""Writing hostile entries byte for byte and checking where each one ended up.

Entries are written with a bytes client (no decoding), as any other program could; the
dead-letter stream is read the same way, so a copy is compared byte for byte.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from ingest.codec import Event, encode

STREAM = b"ingest:events"
DEAD = b"{ingest:events}:dead"
Fields = list[tuple[bytes, bytes]]


def raw_client(url: str) -> redis.Redis:
    """A client that neither decodes nor encodes text: bytes in, bytes out."""
    return redis.Redis.from_url(url, decode_responses=False)


def good_fields(event_id: str, payload: Any = None) -> Fields:
    """A valid envelope as the producer writes it, as bytes."""
    fields = encode(Event(event_id, payload if payload is not None else {"n": 1}, source="t"))
    return [(k.encode(), v.encode()) for k, v in fields.items()]


def xadd(client: redis.Redis, fields: Fields, stream: bytes = STREAM) -> str:
    """``XADD stream * f v ...`` with the exact bytes (duplicates and order kept)."""
    args: list[bytes] = []
    for name, value in fields:
        args += [name, value]
    return bytes(client.execute_command("XADD", stream, "*", *args)).decode()  # type: ignore[no-untyped-call]


def netstrings(packed: bytes) -> list[bytes]:
    """Parse ``<len>:<bytes>,`` items (the packed ``dead_original`` field)."""
    items: list[bytes] = []
    at = 0
    while at < len(packed):
        colon = packed.index(b":", at)
        size = int(packed[at:colon])
        items.append(packed[colon + 1 : colon + 1 + size])
        assert packed[colon + 1 + size : colon + 2 + size] == b","
        at = colon + 2 + size
    return items


def dead_letters(client: redis.Redis) -> dict[str, tuple[Fields, dict[bytes, bytes]]]:
    """Original entry ID -> (its original fields as copied, the ``dead_*`` fields)."""
    out: dict[str, tuple[Fields, dict[bytes, bytes]]] = {}
    entries: Any = client.xrange(DEAD)
    for _, as_dict in entries:  # fields in order (no duplicate names written)
        pairs = list(as_dict.items())
        dead = {k: v for k, v in pairs if k.startswith(b"dead_") and k != b"dead_original"}
        original = [(k, v) for k, v in pairs if not k.startswith(b"dead_")]
        packed = dict(pairs).get(b"dead_original")
        if packed is not None:
            items = netstrings(packed)
            original = list(zip(items[::2], items[1::2], strict=True))
        entry_id = dead[b"dead_entry_id"].decode()
        assert entry_id not in out, f"{entry_id} dead-lettered twice"
        out[entry_id] = (original, dead)
    return out


def sink_ids(db: Path) -> list[str]:
    """Event IDs stored by the SQLite sink (a list: duplicates would show)."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [row[0] for row in conn.execute("SELECT event_id FROM events")]
        except sqlite3.OperationalError:
            return []


def same_fields(a: Sequence[tuple[bytes, bytes]], b: Sequence[tuple[bytes, bytes]]) -> bool:
    """Equal as Redis keeps them (order and bytes)."""
    return list(a) == list(b)
