"""Physical lines of an input, read with bounded memory and decoded (gzip, encodings, BOM).

:class:`LineReader` yields each line's bytes, but never holds more than ``limit`` bytes of one
line: a longer line is skipped as it streams past (read in 64 KiB pieces) and reported as an
:class:`Overlong` with its size, so one 200 MB line costs no more memory than a normal one. A
read error mid-file (truncated gzip, I/O error) ends the lines cleanly and is remembered with
the first line not read. :func:`decoded` numbers the lines and decodes them; a line that does
not decode becomes a reject with the byte and column, and a hint about ``--encoding``.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"
READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
"""What reading an open input can raise mid-file (I/O error, truncated or corrupt gzip)."""
SKIP_CHUNK = 64 * 1024
"""Bytes read at a time while skipping an overlong line."""
LINE_SLACK = 64 * 1024
"""Bytes a line may have beyond ``--max-event-bytes`` and still be read whole (whitespace the
JSON encoding drops, CSV separators): the payload limit itself is checked when encoding."""


@dataclass(frozen=True, slots=True)
class Overlong:
    """A line longer than the reader's limit, skipped without being held in memory.

    Attributes:
        size: its length in bytes, line ending excluded.
        limit: the reader's limit, bytes.
    """

    size: int
    limit: int

    @property
    def reason(self) -> str:
        """The reject reason: size, the limit, and that it was skipped unread."""
        return (
            f"line is {self.size:,} bytes, above the limit of {self.limit:,} "
            "(--max-event-bytes plus slack): skipped without reading it whole"
        )


def wrap_binary(raw: IO[bytes]) -> IO[bytes]:
    """Wrap a byte stream so it can be peeked, un-gzipping it when the data starts with the
    gzip magic bytes (whatever the extension). Closing a gzip wrapper leaves ``raw`` open."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


class LineReader:
    """Iterates the physical lines of ``handle`` (bytes, line ending kept), each at most
    ``limit`` bytes long without its ending; longer ones come as :class:`Overlong`.

    A read error mid-file ends the iteration and is kept in ``error``, with ``line`` the count
    of lines read before it (so what came before is kept).
    """

    def __init__(self, handle: IO[bytes], limit: int) -> None:
        self._handle = handle
        self.limit = limit
        self.line = 0
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[bytes | Overlong]:
        read = self._handle.readline
        limit = self.limit
        try:
            while raw := read(limit + 2):  # room for the line and a \r\n ending
                self.line += 1
                if len(raw) <= limit or (raw.endswith(b"\n") and len(raw.rstrip(b"\r\n")) <= limit):
                    yield raw
                else:
                    yield self._skip(raw)
        except READ_ERRORS as exc:
            self.error = exc

    def _skip(self, head: bytes) -> Overlong:
        size = len(head)
        last = head
        while not last.endswith(b"\n"):
            last = self._handle.readline(SKIP_CHUNK)
            if not last:
                break
            size += len(last)
        ending = len(last) - len(last.rstrip(b"\r\n")) if last.endswith(b"\n") else 0
        return Overlong(size - ending, self.limit)

    def failure(self) -> tuple[int, str] | None:
        """``(first line not read, reason)`` after a read error, else ``None``."""
        if self.error is None:
            return None
        line = self.line + 1
        detail = str(self.error) or type(self.error).__name__
        return line, f"read error: {detail}; lines from {line} on were not read"


def _hint(encoding: str) -> str:
    if encoding in ("utf-8", "utf_8"):
        return "; if the file is in another encoding, give it with --encoding (e.g. latin-1)"
    return ""


def decoded(
    lines: Iterable[bytes | Overlong], encoding: str = "utf-8"
) -> Iterator[tuple[int, str | None, bytes, str]]:
    """Number the lines from 1 and decode each (line 1 without a UTF-8 byte order mark when
    the encoding is UTF-8); yields ``(number, text, raw, reason)``: ``text`` without its line
    ending and ``reason`` "" for a good line; ``text`` ``None`` and the reject reason for an
    overlong or undecodable one. ``raw`` is the line's bytes without the ending (b"" for an
    overlong line)."""
    utf8 = codecs.lookup(encoding).name == "utf-8"
    first = "utf-8-sig" if utf8 else encoding
    hint = _hint("utf-8" if utf8 else encoding)
    name = "UTF-8" if utf8 else encoding
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, Overlong):
            yield number, None, b"", raw.reason
            continue
        body = raw.rstrip(b"\r\n")
        try:
            yield number, body.decode(first if number == 1 else encoding), body, ""
        except UnicodeDecodeError as exc:
            bad = body[exc.start : exc.start + 1].hex()
            yield number, None, body, f"not {name} (byte 0x{bad} at column {exc.start + 1}){hint}"
            hint = ""
