"""Telling JSON Lines from plain lines when no format was given (stdin, unknown extensions).

The rule (:func:`sniff`): look at the first :data:`SNIFF_RECORDS` non-blank lines that decode
and fit the line limit (lines that do not are rejects whatever the format, so they do not
vote). If every one of them is a JSON object or array (``{...}`` or ``[...]`` that parses),
the input is read as JSON Lines, with a one-line notice. A first line that is a lone ``[`` or
``{`` (a multi-line JSON document) also reads as JSON, which the JSON Lines reader refuses
as a whole with its advice. Otherwise it stays plain lines; when some of those lines were JSON
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


def _vote(raw: bytes, number: int, encoding: str) -> bool | str | None:
    """``True`` for a JSON object or array, ``"document"`` for a lone ``[``/``{``, ``False``
    for other text, ``None`` for a line that does not vote (blank, not decodable)."""
    if number == 1 and raw.startswith(codecs.BOM_UTF8) and encoding == "utf-8":
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode(encoding).strip()
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    if text in ("[", "{"):
        return "document"
    if text[0] + text[-1] not in ("{}", "[]"):
        return False
    try:
        value = loads(text)
    except Exception:  # bad JSON, nested too deeply, too large: not a JSON value here
        return False
    return isinstance(value, dict | list)


def sniff(
    lines: Iterable[bytes | Overlong], file: str, encoding: str = "utf-8"
) -> tuple[Iterator[bytes | Overlong], Sniffed]:
    """Decide between ``jsonl`` and ``lines`` from the first lines of ``lines`` (see the
    module docstring); returns the same lines (those looked at, then the rest) and the
    verdict. ``encoding`` is a canonical codec name (:func:`ingest.settings.text_encoding`).
    Never raises on content."""
    source = iter(lines)
    held: list[bytes | Overlong] = []
    votes: list[tuple[int, bool]] = []
    size, whole = 0, True  # whole: the input ended before a limit did
    for number, line in enumerate(source, start=1):
        held.append(line)
        if isinstance(line, Overlong):
            vote: bool | str | None = None
        else:
            size += len(line)
            vote = _vote(line.rstrip(b"\r\n"), number, encoding)
        if vote == "document" and not votes:
            return _replay(held, source), Sniffed("jsonl", _notice(file, "document", number))
        if isinstance(vote, bool):
            votes.append((number, vote))
        if len(votes) >= SNIFF_RECORDS or number >= SNIFF_LINES or size >= SNIFF_BYTES:
            whole = False
            break
    return _replay(held, source), _verdict(votes, file, whole)


def _replay(
    held: list[bytes | Overlong], rest: Iterator[bytes | Overlong]
) -> Iterator[bytes | Overlong]:
    return itertools.chain(held, rest)


def _verdict(votes: list[tuple[int, bool]], file: str, whole: bool) -> Sniffed:
    json_lines = [number for number, is_json in votes if is_json]
    if votes and len(json_lines) == len(votes):
        return Sniffed("jsonl", _notice(file, "all" if whole else "first", len(votes)))
    if not json_lines:
        return Sniffed("lines")
    other = next(number for number, is_json in votes if not is_json)
    shown = ", ".join(str(n) for n in json_lines)
    return Sniffed(
        "lines",
        f"{file}: read as plain lines, each sent as a JSON string, though line(s) {shown} "
        f"hold JSON objects or arrays (line {other} does not); give --format jsonl to decode "
        "JSON Lines (lines that are not JSON are then rejected)",
        warn=True,
    )


def _notice(file: str, kind: str, count: int) -> str:
    if kind == "document":
        what = f"line {count} opens a multi-line JSON document"
    elif kind == "all":
        what = f"every non-blank line ({count}) is a JSON object or array"
    else:
        what = f"the first {count} non-blank lines are JSON objects or arrays"
    return (
        f"{file}: {what}: read as JSON Lines, as with --format jsonl "
        "(give --format lines to send each line as a JSON string)"
    )
