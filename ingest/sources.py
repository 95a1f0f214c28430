"""Input readers: CSV, JSON lines and plain lines (``.gz`` transparently, ``-`` for stdin), and a
synthetic sensor generator.

Readers yield ``(line, record)`` pairs: :class:`~ingest.codec.Event` for good records and
:class:`Reject` for malformed ones (bad JSON, wrong CSV column count, undecodable bytes, a
missing id field, a read error such as a truncated gzip member): a reject is reported as
``file:line: reason`` and counted, never dropped silently. Blank lines are not records and are
skipped. A leading UTF-8 byte order mark is not part of line 1. An input that cannot be read as
a whole (a CSV header naming a column twice, a multi-line JSON document given as JSON Lines)
raises :class:`InputError` before any record is yielded.

Event ids are ``<prefix>:<line number>`` (1-based physical line; for CSV the line a record
starts on, the header being line 1), or the value of ``id_field``. The prefix is the source:
by default a file's absolute, normalised path (``os.path.realpath``), so two files with the
same base name (``day1/events.jsonl``, ``day2/events.jsonl``) never share ids while re-reading
the same file gives the same ids (the sink's deduplication makes a second run a no-op). Stdin
without an explicit source gets ``stdin:<run id>`` (unique per run, like synthetic readings);
pass a source to make stdin ids deterministic. A content hash is not used: real sensor files
repeat identical rows.
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
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ingest.codec import Event, loads
from ingest.errors import IngestError

GZIP_MAGIC = b"\x1f\x8b"
READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
"""What reading an open input can raise mid-file (I/O error, truncated or corrupt gzip)."""
JSON_HINT = "; JSON Lines: one JSON value per line"


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


@dataclass(frozen=True, slots=True)
class Naming:
    """How records become events.

    Attributes:
        source: the ``source`` field of each event.
        type: the ``type`` field of each event.
        id_field: take the event id from this payload field (``None``: ``<prefix>:<line>``).
        id_prefix: prefix of line-numbered ids; default ``source``.
    """

    source: str
    type: str = "reading"
    id_field: str | None = None
    id_prefix: str | None = None

    def make(self, payload: Any, line: int, file: str) -> Record:
        """The event for ``payload`` read at ``line`` of ``file``, or a reject (no id value)."""
        if self.id_field is None:
            event_id = f"{self.id_prefix or self.source}:{line}"
        else:
            value = payload.get(self.id_field) if isinstance(payload, dict) else None
            if value is None or value == "":
                return Reject(file, line, f"no value for the id field {self.id_field!r}")
            event_id = str(value)
        return Event(event_id=event_id, payload=payload, source=self.source, type=self.type)


def detect_format(path: str) -> str:
    """``csv`` for ``.csv``, ``jsonl`` for ``.jsonl``/``.ndjson``/``.json``, else ``lines``
    (after any ``.gz``)."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "lines"


def default_source(path: str) -> str:
    """The file's absolute, normalised path (``os.path.realpath``); ``stdin`` for ``-``."""
    return "stdin" if path == "-" else os.path.realpath(path)


def wrap_binary(raw: IO[bytes]) -> IO[bytes]:
    """Wrap a byte stream so it can be peeked, un-gzipping it when the data starts with the
    gzip magic bytes (whatever the extension). Closing a gzip wrapper leaves ``raw`` open."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


class Guarded:
    """Iterates ``lines`` and turns a read error mid-file into a clean end, remembered in
    ``error`` with the ``line`` that could not be read (so what came before is kept)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.line = 0  # lines read so far
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for raw in self._lines:
                self.line += 1
                yield raw
        except READ_ERRORS as exc:
            self.error = exc

    def reject(self, file: str) -> Reject | None:
        """The read error as a reject at the first line not read, or ``None``."""
        if self.error is None:
            return None
        line = self.line + 1
        detail = str(self.error) or type(self.error).__name__
        reason = f"read error: {detail}; lines from {line} on were not read"
        return Reject(file, line, reason)


def _decoded(lines: Iterable[bytes], file: str) -> Iterator[tuple[int, str | Reject]]:
    """Number the lines from 1 and decode each as UTF-8 (line 1 without a byte order mark);
    undecodable lines become rejects."""
    encoding = "utf-8-sig"
    for number, raw in enumerate(lines, start=1):
        try:
            yield number, raw.decode(encoding).rstrip("\r\n")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            reason = f"not UTF-8 (byte 0x{bad} at column {exc.start + 1})"
            yield number, Reject(file, number, reason)
        encoding = "utf-8"


def read_lines(lines: Iterable[bytes], file: str, naming: Naming) -> Iterator[Numbered]:
    """One event per non-blank line; the payload is the line's text."""
    for number, text in _decoded(lines, file):
        if isinstance(text, Reject):
            yield number, text
        elif text.strip():
            yield number, naming.make(text, number, file)


def read_jsonl(lines: Iterable[bytes], file: str, naming: Naming) -> Iterator[Numbered]:
    """One event per non-blank line holding one JSON value (the payload).

    Raises:
        InputError: the first non-blank line is a lone ``[`` or ``{``: the input is one
            multi-line JSON document, whose lines are not JSON values of their own (some,
            like ``2,`` inside an array, would even pass as fragments).
    """
    hint, first = JSON_HINT, True
    for number, text in _decoded(lines, file):
        if isinstance(text, Reject):
            yield number, text
            continue
        if not text.strip():
            continue
        if first and text.strip() in ("[", "{"):
            raise InputError(
                file,
                number,
                "one multi-line JSON document, not JSON Lines (one JSON value per line); "
                "convert it first, e.g. jq -c '.[]' for an array",
            )
        first = False
        try:
            payload = loads(text)
        except ValueError as exc:
            yield number, Reject(file, number, f"bad JSON: {exc}{hint}")
            hint = ""
            continue
        yield number, naming.make(payload, number, file)


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


def column_names(header: list[str], file: str, line: int) -> list[str]:
    """The payload keys of a CSV header: an empty name becomes ``column_<n>`` (1-based
    position; e.g. an unnamed index column first is ``column_1``).

    Raises:
        InputError: two columns with the same name (a dict would silently keep one).
    """
    names = [name or f"column_{n}" for n, name in enumerate(header, start=1)]
    seen: set[str] = set()
    for n, name in enumerate(names, start=1):
        if name in seen:
            unnamed = "" if header[n - 1] else f" (column {n} has no name)"
            raise InputError(file, line, f"duplicate column name {name!r}{unnamed}")
        seen.add(name)
    return names


def read_csv(lines: Iterable[bytes], file: str, naming: Naming) -> Iterator[Numbered]:
    """One event per CSV record after the header: a ``dict`` keyed by the header's names
    (see :func:`column_names`).

    A record with another column count than the header is rejected. A quoted field may span
    lines; the event id uses the line the record starts on. A rejected record that spans
    lines is reported with its range and a hint (``file:6-7: 1 column, the header has 2 (a
    quoted field runs over 2 lines: unterminated quote?)``).

    Raises:
        InputError: the header names a column twice (nothing of the file is produced).
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
            header = column_names(row, file, start)
            continue
        if len(row) != len(header):
            yield start, _wrong_width(file, start, feed.line, len(row), len(header))
            continue
        yield start, naming.make(dict(zip(header, row, strict=True)), start, file)
    yield from _drain(feed)


def _wrong_width(file: str, start: int, end: int, width: int, expected: int) -> Reject:
    """The reject of a CSV record of ``width`` columns read from lines ``start`` to ``end``
    under a header of ``expected``. A record over several lines means a quoted field ran
    over a line break, most often a quote that is never closed, which swallows the lines
    after it into one field: say so, or the error points at one line and the next lines
    seem to vanish."""
    reason = f"{_count(width, 'column')}, the header has {expected}"
    if end > start:
        reason += f" (a quoted field runs over {end - start + 1} lines: unterminated quote?)"
    return Reject(file, start, reason, end_line=end)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _drain(feed: _Lines) -> Iterator[Numbered]:
    for reject in feed.rejects:
        yield reject.line, reject
    feed.rejects.clear()


READERS = {"csv": read_csv, "jsonl": read_jsonl, "lines": read_lines}


def read_file(
    path: str,
    fmt: str | None = None,
    *,
    source: str | None = None,
    type: str = "reading",
    id_field: str | None = None,
    stdin: IO[bytes] | None = None,
    run_id: str | None = None,
) -> Iterator[Numbered]:
    """Read ``path`` (``-`` for stdin) in ``fmt`` (default from the extension).

    Args:
        source: the events' ``source`` and id prefix; default :func:`default_source`.
        run_id: for stdin without ``source``, the id prefix is ``stdin:<run_id>``; default a
            fresh random id, so two runs never share ids.

    A read error mid-file (truncated gzip, I/O error) ends the input after everything read
    before it, as a final :class:`Reject` at the first line not read.

    Raises:
        OSError: the file cannot be opened.
        InputError: the input cannot be read as a whole (see the readers).
    """
    reader = READERS[fmt or detect_format(path)]
    naming = Naming(source or default_source(path), type, id_field)
    if path == "-" and source is None:
        naming = Naming("stdin", type, id_field, f"stdin:{run_id or uuid.uuid4().hex[:12]}")
    with contextlib.ExitStack() as stack:
        if path == "-":
            handle = wrap_binary(stdin or sys.stdin.buffer)
        else:
            raw = stack.enter_context(open(path, "rb"))
            handle = stack.enter_context(contextlib.closing(wrap_binary(raw)))
        guarded = Guarded(handle)
        yield from reader(guarded, path, naming)
        reject = guarded.reject(path)
        if reject is not None:
            yield reject.line, reject


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
