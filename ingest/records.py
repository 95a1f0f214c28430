"""Records read from an input: events and rejects, and how a record becomes an event (ids).

See :mod:`ingest.sources` for the readers and the id scheme. Both kinds of record keep the
bytes they were read from (:attr:`InputEvent.raw`, :attr:`Reject.raw`), so a rejected record
can be written out as it was (:mod:`ingest.rejects`) and fed again once fixed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ingest.codec import Event
from ingest.errors import ConfigError, IngestError
from ingest.fieldpath import MISSING, parse_path, resolve

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
        raw: the record's bytes as read (its lines joined by ``\\n``, no final line ending),
            or ``None`` when there are none to keep: a line too long to read whole, a read
            error.
        header: for a CSV record, the header's bytes (to write before it), else ``None``.
    """

    file: str
    line: int
    reason: str
    end_line: int | None = None
    raw: bytes | None = field(default=None, repr=False, compare=False)
    header: bytes | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        end = f"-{self.end_line}" if self.end_line is not None and self.end_line > self.line else ""
        return f"{self.file}:{self.line}{end}: {self.reason}"


@dataclass(frozen=True, slots=True)
class InputEvent(Event):
    """An :class:`~ingest.codec.Event` read from an input, with the bytes it was read from
    (so that if encoding it fails, the reject can carry them).

    Attributes:
        raw: the record's bytes (lines joined by ``\\n``, no final line ending).
        header: a CSV record's header bytes, else ``None``.
    """

    raw: bytes = field(default=b"", repr=False, compare=False)
    header: bytes | None = field(default=None, repr=False, compare=False)


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
        id_field: take the event id from the payload value at this path
            (:mod:`ingest.fieldpath`: ``customer.id``; ``order\\.id`` for a key with a dot);
            ``None``: line and digest.
        id_prefix: prefix of line-numbered ids; default ``source``.
        raw_ids: ``id_field`` values as they are, not namespaced by ``source``.

    Raises:
        ConfigError: ``id_field`` is not a valid path.
    """

    source: str
    type: str = "reading"
    id_field: str | None = None
    id_prefix: str | None = None
    raw_ids: bool = False
    id_path: tuple[str, ...] = field(init=False, default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.id_field is not None:
            try:
                path = parse_path(self.id_field)
            except ValueError as exc:
                raise ConfigError(f"--id-field {self.id_field!r}: {exc}") from None
            object.__setattr__(self, "id_path", path)

    def make(
        self, payload: Any, line: int, file: str, raw: bytes, header: bytes | None = None
    ) -> Record:
        """The event for ``payload`` read at ``line`` of ``file`` from the bytes ``raw`` (a
        CSV record's: with its ``header``), or a reject (no usable id value)."""
        if self.id_field is None:
            whole = raw if header is None else header + b"\n" + raw
            event_id = f"{self.id_prefix or self.source}:{line}:{digest(whole)}"
        else:
            value = resolve(payload, self.id_path)
            kind = type(value)
            if not ((kind is str and value) or kind is int or kind is float):
                problem = self._id_problem(payload, value)
                return Reject(file, line, problem, raw=raw, header=header)
            event_id = str(value) if self.raw_ids else f"{self.source}:{value}"
        return InputEvent(
            event_id=event_id,
            payload=payload,
            source=self.source,
            type=self.type,
            raw=raw,
            header=header,
        )

    def _id_problem(self, payload: Any, value: Any) -> str:
        """Why ``value`` cannot be an id: missing, empty, or not a string or number (an
        object, array or boolean would make an unreadable or colliding id)."""
        name = self.id_field
        if value is MISSING or value is None or value == "":
            hint = ""
            if len(self.id_path) > 1 and isinstance(payload, dict) and name in payload:
                hint = rf" (the record has a key {name!r}: write a dot in a key as \.)"
            return f"no value for the id field {name!r}{hint}"
        kind = f"a {type(value).__name__}"
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "an array"
        return f"the id field {name!r} is {kind}, not a string or a number"
