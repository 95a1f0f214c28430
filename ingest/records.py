"""Records read from an input: events and rejects, and how a record becomes an event (ids).

See :mod:`ingest.sources` for the readers and the id scheme.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ingest.codec import Event
from ingest.errors import IngestError

DIGEST_BYTES = 4
"""Bytes of the record digest in default event ids (8 hex digits)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A malformed input record.

    Attributes:
        file: the input's name as given (``-`` for stdin).
        line: 1-based line number (where the record starts).
        reason: why it was rejected.
        end_line: the record's last line when it spans several (a CSV record with a quoted
            field running over lines), else ``None``; shown as ``file:6-7: reason``.
    """

    file: str
    line: int
    reason: str
    end_line: int | None = None

    def __str__(self) -> str:
        end = f"-{self.end_line}" if self.end_line is not None and self.end_line > self.line else ""
        return f"{self.file}:{self.line}{end}: {self.reason}"


class InputError(IngestError):
    """An input that cannot be read as a whole; nothing of it is produced (CLI exit 2).

    Attributes:
        file: the input's name as given.
        line: 1-based line where the problem is.
        reason: what is wrong.
    """

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file, self.line, self.reason = file, line, reason


Record = Event | Reject
Numbered = tuple[int, Record]
"""``(line, record)``: the 1-based line a record starts on (``n`` for synthetic events)."""


def digest(raw: bytes) -> str:
    """The first :data:`DIGEST_BYTES` bytes of the BLAKE2b digest of ``raw``, as hex."""
    return hashlib.blake2b(raw, digest_size=DIGEST_BYTES).hexdigest()


def failure_reason(exc: BaseException) -> str:
    """A reject reason for whatever decoding one record raised."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to decode"
    if isinstance(exc, MemoryError):
        return "too large to decode (out of memory)"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class Naming:
    """How records become events.

    Attributes:
        source: the ``source`` field of each event, and the namespace of ``id_field`` ids.
        type: the ``type`` field of each event.
        id_field: take the event id from this payload field (``None``: line and digest).
        id_prefix: prefix of line-numbered ids; default ``source``.
        raw_ids: ``id_field`` values as they are, not namespaced by ``source``.
    """

    source: str
    type: str = "reading"
    id_field: str | None = None
    id_prefix: str | None = None
    raw_ids: bool = False

    def make(self, payload: Any, line: int, file: str, raw: bytes) -> Record:
        """The event for ``payload`` read at ``line`` of ``file`` from the bytes ``raw``, or a
        reject (no id value)."""
        if self.id_field is None:
            event_id = f"{self.id_prefix or self.source}:{line}:{digest(raw)}"
        else:
            value = payload.get(self.id_field) if isinstance(payload, dict) else None
            if value is None or value == "":
                return Reject(file, line, f"no value for the id field {self.id_field!r}")
            event_id = str(value) if self.raw_ids else f"{self.source}:{value}"
        return Event(event_id=event_id, payload=payload, source=self.source, type=self.type)
