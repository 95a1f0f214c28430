"""Input readers: CSV, JSON lines and plain lines (``.gz`` transparently, ``-`` for stdin), and a
synthetic sensor generator.

Readers yield ``(line, record)`` pairs: :class:`~ingest.codec.Event` for good records and
:class:`Reject` for malformed ones (bad JSON, JSON nested too deeply, wrong CSV column count,
undecodable bytes, a line longer than the limit, a missing id field, a read error such as a
truncated gzip member): a reject is reported as ``file:line: reason`` and counted, never
dropped silently, and never stops the records after it: whatever a record raises while it is
read rejects that record. Blank lines are not records and are skipped. A leading UTF-8 byte
order mark is not part of line 1. Lines are read with bounded memory (:mod:`ingest.lines`). An
input that cannot be read as a whole (a CSV header naming a column twice or lacking the id
field's column, a multi-line JSON document given as JSON Lines) raises :class:`InputError`
before any record is yielded. Every record keeps the bytes it was read from (``raw``), so a
reject can be written out as it was (:mod:`ingest.rejects`).

Formats: ``csv`` (:mod:`ingest.csvinput`; values are strings unless typed with
``csv_types``, :mod:`ingest.csvtypes`), ``jsonl`` (one JSON value per line) and ``lines`` (each
line a JSON string). Without a format, the extension decides (:func:`detect_format`); stdin and
files whose extension names no format are sniffed (:mod:`ingest.sniff`): JSON Lines when the
first non-blank lines are all JSON objects or arrays, else plain lines.

Event ids are ``<prefix>:<line>:<digest>``: the 1-based physical line (for CSV the line a
record starts on, the header being line 1) and the first 8 hex digits of the BLAKE2b digest of
the record's bytes (a CSV record's with the header's). So producing the same content again
gives the same ids (re-runs and resumes stay idempotent: the sink drops repeats) while new
content at an old path gets new ids; the line number stays because real sensor files repeat
identical rows. The prefix is the source: by default a file's absolute, normalised path
(``os.path.realpath``), so two files with the same base name never share ids. Stdin without an
explicit source gets ``stdin:<run id>`` (unique per run, like synthetic readings); pass a
source to make stdin ids deterministic. With ``id_field`` (a path into the payload,
``customer.id``: :mod:`ingest.fieldpath`), the id is ``<source>:<value>`` (namespaced, so two
sources with overlapping ids do not collide), or the bare value with ``raw_ids``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from ingest.codec import DEFAULT_MAX_EVENT_BYTES, Event, loads
from ingest.csvinput import read_csv
from ingest.csvtypes import ColumnTypes, parse_csv_types
from ingest.errors import ConfigError
from ingest.lines import LINE_SLACK, LineReader, Overlong, decoded, wrap_binary
from ingest.records import InputError, Naming, Numbered, Record, Reject, failure_reason
from ingest.sniff import sniff

log = logging.getLogger(__name__)

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
    return format_of(path) or "lines"


def format_of(path: str) -> str | None:
    """The format ``path``'s extension names (after any ``.gz``), or ``None`` (stdin, other
    extensions): then the content decides (:mod:`ingest.sniff`)."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return None


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
            yield number, Reject(file, number, reason, raw=raw or None)
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
            yield number, Reject(file, number, reason, raw=raw or None)
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
            yield number, Reject(file, number, f"bad JSON: {exc}{hint}", raw=raw)
            hint = ""
            continue
        except Exception as exc:  # RecursionError, MemoryError: this record only
            yield number, Reject(file, number, f"bad JSON: {failure_reason(exc)}", raw=raw)
            continue
        yield number, naming.make(payload, number, file, raw)


READERS = {"jsonl": read_jsonl, "lines": read_lines}


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
    csv_types: str | None = None,
    on_format: Callable[[str], None] | None = None,
) -> Iterator[Numbered]:
    """Read ``path`` (``-`` for stdin) in ``fmt`` (default from the extension; stdin and
    other extensions sniffed, see :mod:`ingest.sniff`: the notice is logged once).

    Args:
        source: the events' ``source`` and id prefix; default :func:`default_source`.
        id_field, raw_ids: ids from a payload value (a path, ``customer.id``), namespaced by
            the source unless ``raw_ids`` (see :class:`Naming`).
        encoding: the input's text encoding (strict; ASCII-compatible, see
            :func:`ingest.settings.text_encoding`).
        max_event_bytes: a line longer than this plus :data:`~ingest.lines.LINE_SLACK` bytes
            is rejected without being read whole.
        run_id: for stdin without ``source``, the id prefix is ``stdin:<run_id>``; default a
            fresh random id, so two runs never share ids.
        csv_types: a ``--csv-types`` spec (:mod:`ingest.csvtypes`); CSV input only.
        on_format: called once, before the first record, with the format the input is read
            in (``csv``, ``jsonl`` or ``lines``; after sniffing).

    A read error mid-file (truncated gzip, I/O error) ends the input after everything read
    before it, as a final :class:`Reject` at the first line not read.

    Raises:
        OSError: the file cannot be opened.
        InputError: the input cannot be read as a whole (see the readers).
        ConfigError: a bad ``id_field`` or ``csv_types``, or ``csv_types`` for input that
            is not CSV.
    """
    chosen = fmt or format_of(path)
    types = _column_types(csv_types, chosen, path)
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
        if chosen == "csv":
            if on_format is not None:
                on_format("csv")
            yield from read_csv(lines, path, naming, encoding, types)
        else:
            yield from _read_text(lines, chosen, path, naming, encoding, on_format)
        failure = lines.failure()
        if failure is not None:
            yield failure[0], Reject(path, *failure)


def _column_types(spec: str | None, fmt: str | None, path: str) -> ColumnTypes | None:
    if spec is None:
        return None
    if fmt != "csv":
        name = "stdin" if path == "-" else path
        read_as = f"is read as {fmt}" if fmt else "has no format of its own"
        raise ConfigError(f"--csv-types is for CSV input; {name} {read_as} (give --format csv)")
    try:
        return parse_csv_types(spec)
    except ValueError as exc:
        raise ConfigError(f"--csv-types {spec!r}: {exc}") from None


def _read_text(
    lines: Lines,
    fmt: str | None,
    file: str,
    naming: Naming,
    encoding: str,
    on_format: Callable[[str], None] | None,
) -> Iterator[Numbered]:
    """JSON Lines or plain lines; with no ``fmt``, the first lines decide (logged once).
    Not a generator itself: it returns the reader's, one layer fewer per record."""
    if fmt is None:
        lines, verdict = sniff(lines, file, encoding)
        fmt = verdict.format
        if verdict.notice:
            log.log(logging.WARNING if verdict.warn else logging.INFO, "%s", verdict.notice)
    if on_format is not None:
        on_format(fmt)
    return READERS[fmt](lines, file, naming, encoding)


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
