"""Telling JSON Lines from plain lines when no format was given (stdin, unknown extensions).

The rule (:func:`sniff`): look at the first :data:`SNIFF_RECORDS` non-blank lines that decode
and fit the line limit (lines that do not are rejects whatever the format, so they do not
vote). The input is read as JSON Lines, with a one-line notice, when every one of them starts
with ``{`` or ``[`` and more than half of them parse as a JSON object or array: the others are
then most likely broken records, which the JSON Lines reader rejects (``bad JSON``, with the
line) rather than sending them as strings. A first line that is a lone ``[`` or ``{`` (a
multi-line JSON document) also reads as JSON, which the JSON Lines reader refuses as a whole
with its advice. Otherwise the input stays plain lines; when some of those lines were JSON
objects or arrays, a warning says so once. Scalars (``42``, ``"x"``, ``true``) do not count as
JSON here: a plain-text file of numbers is plain lines. ``--format`` always wins.

Bounded: at most :data:`SNIFF_LINES` physical lines and about :data:`SNIFF_BYTES` bytes (plus
one line) are held while deciding, then replayed to the reader, so nothing is read twice and
stdin works.
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ingest.codec import loads
from ingest.lines import Overlong

__all__ = ["SNIFF_BYTES", "SNIFF_LINES", "SNIFF_RECORDS", "Sniffed", "sniff"]

SNIFF_RECORDS = 5
"""Non-blank lines that decide."""
SNIFF_LINES = 1000
"""Physical lines looked at, at most (blank and rejected ones included)."""
SNIFF_BYTES = 1024 * 1024
"""Bytes held while deciding, at most (the line that passes it is still looked at)."""


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The verdict of :func:`sniff`.

    Attributes:
        format: ``jsonl`` or ``lines``.
        notice: one line for the user ("" when there is nothing to say): the switch to JSON
            Lines, or the warning that JSON-looking lines are read as strings.
        warn: ``notice`` is a warning (JSON-looking lines kept as strings), not information.
    """

    format: str
    notice: str = ""
    warn: bool = False


JSON, BROKEN, TEXT, DOCUMENT = "json", "broken", "text", "document"
"""Votes: a JSON object or array; a line that starts like one but does not parse; other
text; a lone ``[`` or ``{``."""


def _vote(raw: bytes, number: int, encoding: str) -> str | None:
    """What line ``number`` (its bytes ``raw``) says about the format; ``None`` for a line
    that does not vote (blank, not decodable)."""
    if number == 1 and raw.startswith(codecs.BOM_UTF8) and encoding == "utf-8":
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode(encoding).strip()
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    if text in ("[", "{"):
        return DOCUMENT
    if text[0] not in "[{":
        return TEXT
    try:
        value = loads(text)
    except Exception:  # bad JSON, nested too deeply, too large: not a JSON value here
        return BROKEN
    return JSON if isinstance(value, dict | list) else BROKEN


def sniff(
    lines: Iterable[bytes | Overlong], file: str, encoding: str = "utf-8"
) -> tuple[Iterator[bytes | Overlong], Sniffed]:
    """Decide between ``jsonl`` and ``lines`` from the first lines of ``lines`` (see the
    module docstring); returns the same lines (those looked at, then the rest) and the
    verdict. ``encoding`` is a canonical codec name (:func:`ingest.settings.text_encoding`).
    Never raises on content."""
    source = iter(lines)
    held: list[bytes | Overlong] = []
    votes: list[tuple[int, str]] = []
    size = 0
    for number, line in enumerate(source, start=1):
        held.append(line)
        vote = None
        if not isinstance(line, Overlong):
            size += len(line)
            vote = _vote(line.rstrip(b"\r\n"), number, encoding)
        if vote == DOCUMENT and not votes:
            return _replay(held, source), Sniffed("jsonl", _document_notice(file, number))
        if vote is not None:
            votes.append((number, vote))
        if len(votes) >= SNIFF_RECORDS or number >= SNIFF_LINES or size >= SNIFF_BYTES:
            break
    return _replay(held, source), _verdict(votes, file)


def _replay(
    held: list[bytes | Overlong], rest: Iterator[bytes | Overlong]
) -> Iterator[bytes | Overlong]:
    return itertools.chain(held, rest)


def _verdict(votes: list[tuple[int, str]], file: str) -> Sniffed:
    parsed = [number for number, vote in votes if vote == JSON]
    unlike = [number for number, vote in votes if vote not in (JSON, BROKEN)]
    if parsed and not unlike and 2 * len(parsed) > len(votes):
        broken = [number for number, vote in votes if vote != JSON]
        return Sniffed("jsonl", _notice(file, broken, len(votes)))
    if not parsed:
        return Sniffed("lines")
    other = next(number for number, vote in votes if vote != JSON)
    return Sniffed(
        "lines",
        f"{file}: read as plain lines, each sent as a JSON string, though line(s) "
        f"{_numbers(parsed)} hold JSON objects or arrays (line {other} does not); give "
        "--format jsonl to decode JSON Lines (lines that are not JSON are then rejected)",
        warn=True,
    )


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _notice(file: str, broken: list[int], count: int) -> str:
    """The notice of a switch to JSON Lines after ``count`` voting lines, ``broken`` those
    that looked like JSON but did not parse."""
    what = f"the first {count} non-blank line(s) are JSON objects or arrays"
    if broken:
        what = (
            f"the first {count} non-blank lines look like JSON Lines (line(s) "
            f"{_numbers(broken)} do not parse: they will be rejected)"
        )
    return f"{file}: {what}: {_SWITCHED}"


def _document_notice(file: str, line: int) -> str:
    return f"{file}: line {line} opens a multi-line JSON document: {_SWITCHED}"


_SWITCHED = (
    "read as JSON Lines, as with --format jsonl (give --format lines to send each line as a "
    "JSON string)"
)
