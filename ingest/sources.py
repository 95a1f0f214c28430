"""Input readers: CSV, JSON lines and plain lines (``.gz`` transparently, ``-`` for stdin), and a
synthetic sensor generator.

Readers yield ``(line, record)`` pairs: :class:`~ingest.codec.Event` for good records and
:class:`Reject` for malformed ones (bad JSON, wrong CSV column count, undecodable bytes, a
missing id field): a reject is reported as ``file:line: reason`` and counted, never dropped
silently. Blank lines are not
records and are skipped.

Event ids are deterministic: ``<source>:<line number>`` (1-based physical line; for CSV the
line a record starts on, the header being line 1), or the value of ``id_field``. Re-reading the
same file gives the same ids, so the sink's deduplication makes a second run a no-op. A content
hash is not used: real sensor files repeat identical rows.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import random
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ingest.codec import Event, loads

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Reject:
    """A malformed input record.

    Attributes:
        file: the input's name as given (``-`` for stdin).
        line: 1-based line number.
        reason: why it was rejected.
    """

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


Record = Event | Reject
Numbered = tuple[int, Record]
"""``(line, record)``: the 1-based line a record starts on (``n`` for synthetic events)."""


def detect_format(path: str) -> str:
    """``csv`` for ``.csv``, ``jsonl`` for ``.jsonl``/``.ndjson``, else ``lines`` (after any
    ``.gz``)."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "lines"


def default_source(path: str) -> str:
    """The file's base name (``stdin`` for ``-``)."""
    return "stdin" if path == "-" else os.path.basename(path)


def wrap_binary(raw: IO[bytes]) -> IO[bytes]:
    """Wrap a byte stream so it can be peeked, un-gzipping it when the data starts with the
    gzip magic bytes (whatever the extension). Closing a gzip wrapper leaves ``raw`` open."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


def _decoded(lines: Iterable[bytes], file: str) -> Iterator[tuple[int, str | Reject]]:
    """Number the lines from 1 and decode each as UTF-8; undecodable lines become rejects."""
    for number, raw in enumerate(lines, start=1):
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            reason = f"not UTF-8 (byte 0x{bad} at column {exc.start + 1})"
            yield number, Reject(file, number, reason)


def _event_id(payload: Any, id_field: str | None, source: str, line: int) -> str | None:
    if id_field is None:
        return f"{source}:{line}"
    if not isinstance(payload, dict):
        return None
    value = payload.get(id_field)
    if value is None or value == "":
        return None
    return str(value)


def _make(
    payload: Any, line: int, file: str, *, source: str, type: str, id_field: str | None
) -> Record:
    event_id = _event_id(payload, id_field, source, line)
    if event_id is None:
        return Reject(file, line, f"no value for the id field {id_field!r}")
    return Event(event_id=event_id, payload=payload, source=source, type=type)


def read_lines(
    lines: Iterable[bytes],
    file: str,
    *,
    source: str,
    type: str = "reading",
    id_field: str | None = None,
) -> Iterator[Numbered]:
    """One event per non-blank line; the payload is the line's text."""
    for number, text in _decoded(lines, file):
        if isinstance(text, Reject):
            yield number, text
        elif text.strip():
            yield number, _make(text, number, file, source=source, type=type, id_field=id_field)


def read_jsonl(
    lines: Iterable[bytes],
    file: str,
    *,
    source: str,
    type: str = "reading",
    id_field: str | None = None,
) -> Iterator[Numbered]:
    """One event per non-blank line holding one JSON value (the payload)."""
    for number, text in _decoded(lines, file):
        if isinstance(text, Reject):
            yield number, text
            continue
        if not text.strip():
            continue
        try:
            payload = loads(text)
        except ValueError as exc:
            yield number, Reject(file, number, f"bad JSON: {exc}")
            continue
        yield number, _make(payload, number, file, source=source, type=type, id_field=id_field)


class _Lines:
    """Feeds decoded lines to ``csv.reader`` while remembering line numbers and rejects."""

    def __init__(self, lines: Iterable[bytes], file: str) -> None:
        self._it = _decoded(lines, file)
        self.line = 0
        self.start: int | None = None  # first line of the record being read
        self.rejects: list[Reject] = []

    def __iter__(self) -> Iterator[str]:
        for number, text in self._it:
            self.line = number
            if isinstance(text, Reject):
                self.rejects.append(text)
                continue
            if self.start is None:
                self.start = number
            yield text + "\n"


def read_csv(
    lines: Iterable[bytes],
    file: str,
    *,
    source: str,
    type: str = "reading",
    id_field: str | None = None,
) -> Iterator[Numbered]:
    """One event per CSV record after the header: a ``dict`` keyed by the header's names.

    A record with another column count than the header is rejected. A quoted field may span
    lines; the event id uses the line the record starts on.
    """
    feed = _Lines(lines, file)
    reader = csv.reader(feed)
    header: list[str] | None = None
    while True:
        feed.start = None
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            start = feed.start or feed.line
            yield start, Reject(file, start, f"bad CSV: {exc}")
            continue
        start = feed.start or feed.line
        yield from _drain(feed)
        if not row or not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            continue
        if len(row) != len(header):
            yield start, Reject(file, start, f"{len(row)} columns, the header has {len(header)}")
            continue
        yield (
            start,
            _make(
                dict(zip(header, row, strict=True)),
                start,
                file,
                source=source,
                type=type,
                id_field=id_field,
            ),
        )
    yield from _drain(feed)


def _drain(feed: _Lines) -> Iterator[Numbered]:
    for reject in feed.rejects:
        yield reject.line, reject
    feed.rejects.clear()


def read_file(
    path: str,
    fmt: str | None = None,
    *,
    source: str | None = None,
    type: str = "reading",
    id_field: str | None = None,
    stdin: IO[bytes] | None = None,
) -> Iterator[Numbered]:
    """Read ``path`` (``-`` for stdin) in ``fmt`` (default from the extension).

    Raises:
        OSError: the file cannot be opened.
    """
    fmt = fmt or detect_format(path)
    reader = {"csv": read_csv, "jsonl": read_jsonl, "lines": read_lines}[fmt]
    name = source or default_source(path)
    if path == "-":
        yield from reader(
            wrap_binary(stdin or sys.stdin.buffer), path, source=name, type=type, id_field=id_field
        )
        return
    with open(path, "rb") as raw, contextlib.closing(wrap_binary(raw)) as handle:
        yield from reader(handle, path, source=name, type=type, id_field=id_field)


def synthetic(
    count: int,
    *,
    source: str = "synthetic",
    type: str = "reading",
    run_id: str | None = None,
    seed: int | None = None,
) -> Iterator[Numbered]:
    """``count`` sensor readings like a tutorial producer's, ids ``<source>:<run id>:<n>``.

    ``run_id`` defaults to a fresh random UUID fragment, so ids are unique across runs.
    Payload: ``{"sensor_id", "temperature", "humidity", "seq"}``.
    """
    run = run_id or uuid.uuid4().hex[:12]
    rng = random.Random(seed)
    for n in range(1, count + 1):
        payload = {
            "sensor_id": f"sensor-{rng.randint(1, 10)}",
            "temperature": round(rng.uniform(15.0, 30.0), 2),
            "humidity": round(rng.uniform(30.0, 70.0), 2),
            "seq": n,
        }
        yield n, Event(event_id=f"{source}:{run}:{n}", payload=payload, source=source, type=type)
