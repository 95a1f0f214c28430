"""The CSV reader: one event per record after the header, values typed by ``--csv-types``.

See :mod:`ingest.sources` for what all readers share (ids, rejects, bounded lines) and
:mod:`ingest.csvtypes` for the types.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from ingest.csvtypes import CellError, ColumnTypes, Converter
from ingest.fieldpath import describe
from ingest.lines import Overlong, decoded
from ingest.records import InputError, Naming, Numbered, Record, Reject

Lines = Iterable[bytes | Overlong]


class _Lines:
    """Feeds decoded lines to ``csv.reader`` while remembering line numbers, the bytes of the
    record being read, and rejects."""

    def __init__(self, lines: Lines, file: str, encoding: str) -> None:
        self._it = decoded(lines, encoding)
        self.file = file
        self.line = 0
        self.start: int | None = None  # first line of the record being read
        self.raw: list[bytes] = []  # its lines' bytes
        self.header: bytes | None = None  # the header's bytes, once read
        self.rejects: list[Reject] = []

    def __iter__(self) -> Iterator[str]:
        for number, text, raw, reason in self._it:
            self.line = number
            if text is None:
                kept = raw or None  # b"" for a line too long to be read: nothing to keep
                self.rejects.append(Reject(self.file, number, reason, raw=kept, header=self.header))
                continue
            if self.start is None:
                self.start = number
            self.raw.append(raw)
            yield text + "\n"

    def next_record(self) -> None:
        """Forget the record just read."""
        self.start, self.raw = None, []

    @property
    def record(self) -> bytes:
        """The bytes of the record just read, its lines joined by ``\\n``."""
        return b"\n".join(self.raw)


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


def _bind(
    names: list[str], naming: Naming, types: ColumnTypes | None, file: str, line: int
) -> Converter | None:
    """Check the header against ``--id-field`` and ``--csv-types``; the value converter.

    Raises:
        InputError: the id field or a typed column is not a column of the header.
    """
    path = naming.id_path
    if naming.id_field is not None and not (len(path) == 1 and path[0] in names):
        hint = ""
        if naming.id_field in names:
            hint = rf" (write the column {naming.id_field!r} as {describe((naming.id_field,))})"
        elif len(path) > 1:
            hint = " (CSV values are flat: a path into nested values names no column)"
        raise InputError(file, line, f"--id-field {naming.id_field!r} names no column{hint}")
    if types is None:
        return None
    try:
        return types.bind(names)
    except ValueError as exc:
        raise InputError(file, line, str(exc)) from None


def read_csv(
    lines: Lines,
    file: str,
    naming: Naming,
    encoding: str = "utf-8",
    types: ColumnTypes | None = None,
) -> Iterator[Numbered]:
    """One event per CSV record after the header: a ``dict`` keyed by the header's names
    (see :func:`column_names`), values strings unless ``types`` says otherwise.

    A record with another column count than the header is rejected, and so is one with a
    value that does not convert to its column's type. A quoted field may span lines; the
    event id uses the line the record starts on, and the digest covers the header's bytes
    and the record's. A rejected record that spans lines is reported with its range and a
    hint (``file:6-7: 1 column, the header has 2 (a quoted field runs over 2 lines:
    unterminated quote?)``). A field is at most 128 KiB (``csv.field_size_limit``).

    Raises:
        InputError: the header names a column twice, or lacks the ``--id-field`` column or a
            column ``types`` names (nothing of the file is produced).
    """
    feed = _Lines(lines, file, encoding)
    reader = csv.reader(feed)
    header: list[str] | None = None
    convert: Converter | None = None
    while True:
        feed.next_record()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            start = feed.start or feed.line
            yield start, Reject(file, start, f"bad CSV: {exc}", raw=feed.record, header=feed.header)
            continue
        start = feed.start or feed.line
        yield from _drain(feed)
        if not row or not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = column_names(row, file, start)
            convert = _bind(header, naming, types, file, start)
            feed.header = feed.record
            continue
        yield start, _record(row, header, convert, naming, feed, start)
    yield from _drain(feed)


def _record(
    row: list[str],
    header: list[str],
    convert: Converter | None,
    naming: Naming,
    feed: _Lines,
    start: int,
) -> Record:
    """The event (or reject) of one record ``row`` that starts at line ``start``."""
    raw, head = feed.record, feed.header
    if len(row) != len(header):
        return _wrong_width(feed.file, start, feed.line, len(row), len(header), raw, head)
    values = dict(zip(header, row, strict=True))
    if convert is not None:
        try:
            values = convert.convert(values)
        except CellError as exc:
            return Reject(
                feed.file, start, f"{exc} (--csv-types {convert.spec})", feed.line, raw, head
            )
    return naming.make(values, start, feed.file, raw, head)


def _wrong_width(
    file: str, start: int, end: int, width: int, expected: int, raw: bytes, header: bytes | None
) -> Reject:
    """The reject of a CSV record of ``width`` columns read from lines ``start`` to ``end``
    under a header of ``expected``. A record over several lines means a quoted field ran
    over a line break, most often a quote that is never closed, which swallows the lines
    after it into one field: say so, or the error points at one line and the next lines
    seem to vanish."""
    reason = f"{_count(width, 'column')}, the header has {expected}"
    if end > start:
        reason += f" (a quoted field runs over {end - start + 1} lines: unterminated quote?)"
    return Reject(file, start, reason, end_line=end, raw=raw, header=header)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _drain(feed: _Lines) -> Iterator[Numbered]:
    for reject in feed.rejects:
        yield reject.line, reject
    feed.rejects.clear()
