"""Input readers: CSV, JSON lines and plain lines (``.gz`` transparently, ``-`` for stdin), and a
synthetic sensor generator.

Readers yield ``(line, record)`` pairs: :class:`~ingest.codec.Event` for good records and
:class:`Reject` for malformed ones (bad JSON, JSON nested too deeply, wrong CSV column count,
undecodable bytes, a line longer than the limit, a missing id field, a read error such as a
truncated gzip member): a reject is reported as ``file:line: reason`` and counted, never
dropped silently, and never stops the records after it: whatever a record raises while it is
read rejects that record. Blank lines are not records and are skipped. A leading UTF-8 byte
order mark is not part of line 1. Lines are read with bounded memory (:mod:`ingest.lines`). An
input that cannot be read as a whole (a CSV header naming a column twice, a multi-line JSON
document given as JSON Lines) raises :class:`InputError` before any record is yielded.

Event ids are ``<prefix>:<line>:<digest>``: the 1-based physical line (for CSV the line a
record starts on, the header being line 1) and the first 8 hex digits of the BLAKE2b digest of
the record's bytes (a CSV record's with the header's). So producing the same content again
gives the same ids (re-runs and resumes stay idempotent: the sink drops repeats) while new
content at an old path gets new ids; the line number stays because real sensor files repeat
identical rows. The prefix is the source: by default a file's absolute, normalised path
(``os.path.realpath``), so two files with the same base name never share ids. Stdin without an
explicit source gets ``stdin:<run id>`` (unique per run, like synthetic readings); pass a
source to make stdin ids deterministic. With ``id_field``, the id is ``<source>:<value>``
(namespaced, so two sources with overlapping ids do not collide), or the bare value with
``raw_ids``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import sys
import uuid
from collections.abc import Iterable, Iterator
from typing import IO

from ingest.codec import DEFAULT_MAX_EVENT_BYTES, Event, loads
from ingest.lines import LINE_SLACK, LineReader, Overlong, decoded, wrap_binary
from ingest.records import InputError, Naming, Numbered, Record, Reject, failure_reason

__all__ = [
    "InputError",
    "Naming",
    "Numbered",
    "Record",
    "Reject",
    "detect_format",
    "read_file",
    "synthetic",
]

JSON_HINT = "; JSON Lines: one JSON value per line"


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


Lines = Iterable[bytes | Overlong]
"""What readers read: physical lines as :class:`~ingest.lines.LineReader` yields them."""


def read_lines(
    lines: Lines, file: str, naming: Naming, encoding: str = "utf-8"
) -> Iterator[Numbered]:
    """One event per non-blank line; the payload is the line's text."""
    for number, text, raw, reason in decoded(lines, encoding):
        if text is None:
            yield number, Reject(file, number, reason)
        elif text.strip():
            yield number, naming.make(text, number, file, raw)


def read_jsonl(
    lines: Lines, file: str, naming: Naming, encoding: str = "utf-8"
) -> Iterator[Numbered]:
    """One event per non-blank line holding one JSON value (the payload).

    Raises:
        InputError: the first non-blank line is a lone ``[`` or ``{``: the input is one
            multi-line JSON document, whose lines are not JSON values of their own (some,
            like ``2,`` inside an array, would even pass as fragments).
    """
    hint, first = JSON_HINT, True
    for number, text, raw, reason in decoded(lines, encoding):
        if text is None:
            yield number, Reject(file, number, reason)
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
        except Exception as exc:  # RecursionError, MemoryError: this record only
            yield number, Reject(file, number, f"bad JSON: {failure_reason(exc)}")
            continue
        yield number, naming.make(payload, number, file, raw)


class _Lines:
    """Feeds decoded lines to ``csv.reader`` while remembering line numbers, the bytes of the
    record being read, and rejects."""

    def __init__(self, lines: Lines, file: str, encoding: str) -> None:
        self._it = decoded(lines, encoding)
        self.file = file
        self.line = 0
        self.start: int | None = None  # first line of the record being read
        self.raw: list[bytes] = []  # its lines' bytes
        self.rejects: list[Reject] = []

    def __iter__(self) -> Iterator[str]:
        for number, text, raw, reason in self._it:
            self.line = number
            if text is None:
                self.rejects.append(Reject(self.file, number, reason))
                continue
            if self.start is None:
                self.start = number
            self.raw.append(raw)
            yield text + "\n"

    def next_record(self) -> None:
        """Forget the record just read."""
        self.start, self.raw = None, []


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


def read_csv(
    lines: Lines, file: str, naming: Naming, encoding: str = "utf-8"
) -> Iterator[Numbered]:
    """One event per CSV record after the header: a ``dict`` keyed by the header's names
    (see :func:`column_names`).

    A record with another column count than the header is rejected. A quoted field may span
    lines; the event id uses the line the record starts on, and the digest covers the
    header's bytes and the record's. A rejected record that spans lines is reported with its
    range and a hint (``file:6-7: 1 column, the header has 2 (a quoted field runs over 2
    lines: unterminated quote?)``). A field is at most 128 KiB (``csv.field_size_limit``).

    Raises:
        InputError: the header names a column twice (nothing of the file is produced).
    """
    feed = _Lines(lines, file, encoding)
    reader = csv.reader(feed)
    header: list[str] | None = None
    header_raw = b""
    while True:
        feed.next_record()
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
            header, header_raw = column_names(row, file, start), b"\n".join(feed.raw)
            continue
        if len(row) != len(header):
            yield start, _wrong_width(file, start, feed.line, len(row), len(header))
            continue
        raw = b"\n".join([header_raw, *feed.raw])
        yield start, naming.make(dict(zip(header, row, strict=True)), start, file, raw)
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
    raw_ids: bool = False,
    encoding: str = "utf-8",
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    stdin: IO[bytes] | None = None,
    run_id: str | None = None,
) -> Iterator[Numbered]:
    """Read ``path`` (``-`` for stdin) in ``fmt`` (default from the extension).

    Args:
        source: the events' ``source`` and id prefix; default :func:`default_source`.
        id_field, raw_ids: ids from a payload field, namespaced by the source unless
            ``raw_ids`` (see :class:`Naming`).
        encoding: the input's text encoding (strict; ASCII-compatible, see
            :func:`ingest.settings.text_encoding`).
        max_event_bytes: a line longer than this plus :data:`~ingest.lines.LINE_SLACK` bytes
            is rejected without being read whole.
        run_id: for stdin without ``source``, the id prefix is ``stdin:<run_id>``; default a
            fresh random id, so two runs never share ids.

    A read error mid-file (truncated gzip, I/O error) ends the input after everything read
    before it, as a final :class:`Reject` at the first line not read.

    Raises:
        OSError: the file cannot be opened.
        InputError: the input cannot be read as a whole (see the readers).
    """
    reader = READERS[fmt or detect_format(path)]
    naming = Naming(source or default_source(path), type, id_field, raw_ids=raw_ids)
    if path == "-" and source is None:
        prefix = f"stdin:{run_id or uuid.uuid4().hex[:12]}"
        naming = Naming("stdin", type, id_field, prefix, raw_ids)
    with contextlib.ExitStack() as stack:
        if path == "-":
            handle = wrap_binary(stdin or sys.stdin.buffer)
        else:
            raw = stack.enter_context(open(path, "rb"))
            handle = stack.enter_context(contextlib.closing(wrap_binary(raw)))
        lines = LineReader(handle, max_event_bytes + LINE_SLACK)
        yield from reader(lines, path, naming, encoding)
        failure = lines.failure()
        if failure is not None:
            yield failure[0], Reject(path, *failure)


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
