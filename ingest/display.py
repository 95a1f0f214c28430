"""Text from a stream shown to an operator: escaped, never interpreted (pure, stdlib only).

Anything in a stream may have been written by another program, so a CLI table, a JSON report
or a text log line never passes it through as it is:

* :func:`visible` escapes every character that is not printable in the sense of Python's
  ``str.isprintable`` (the rule ``repr()`` uses): C0 and C1 controls (newline, carriage
  return, tab, ESC and so ANSI sequences), DEL, format characters (bidi overrides and
  isolates, zero-width characters), line and paragraph separators, unusual spaces, and lone
  surrogates. Escapes are ``\\n``, ``\\r``, ``\\t``, ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``.
  A byte that is not UTF-8, which reaches us as a lone surrogate ``\\udcNN`` (the Redis
  clients decode replies with ``surrogateescape``, see :mod:`ingest.connection`), is shown as
  the byte it was: ``\\xNN``. A backslash is left alone, so ordinary text (a Windows path, a
  regular expression) reads as written.
* rich markup (``[bold]``, ``[link=...]``) is not escaped here: callers hand text to rich as
  :class:`rich.text.Text`, never as a markup string, so brackets are plain characters.
* :func:`json_text` writes JSON for a terminal or a log: :func:`json_safe`, then
  :func:`printable_json`. :func:`json_safe` makes a value fit for JSON that stays valid
  UTF-8: strings holding bytes that are not UTF-8 get those bytes as ``\\xNN`` (and any
  other lone surrogate as ``\\udNNN``); every other string is left to the JSON encoder,
  which escapes controls itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "has_raw_bytes",
    "json_safe",
    "json_text",
    "printable_json",
    "raw_byte",
    "visible",
    "visible_lines",
]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED_BYTES = range(0xDC80, 0xDD00)
"""Lone surrogates ``surrogateescape`` makes of the bytes 0x80-0xFF that are not UTF-8."""


def raw_byte(char: str) -> int | None:
    """The byte a ``surrogateescape`` surrogate stands for (``"\\udcff"`` -> 0xFF), or ``None``
    when ``char`` is not one."""
    code = ord(char)
    return code - 0xDC00 if code in _ESCAPED_BYTES else None


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    byte = raw_byte(char)
    code = ord(char) if byte is None else byte
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every non-printable character escaped (see the module docstring).

    ``visible("a\\x1b[31mb\\n")`` is ``"a\\\\x1b[31mb\\\\n"``; ``visible("caf\\udcc3")``
    (a byte 0xC3 that was not UTF-8) is ``"caf\\\\xc3"``. Printable text comes back unchanged
    (the same object), so the common case costs one ``isprintable`` scan.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def visible_lines(text: str) -> str:
    """:func:`visible`, but each escaped newline is followed by a real line break, so a
    multi-line value (a traceback) stays readable in a table cell while every line break is
    still shown (``\\n``) and no other control character is interpreted."""
    return visible(text).replace("\\n", "\\n\n") if "\n" in text else visible(text)


def has_raw_bytes(text: str) -> bool:
    """True when ``text`` holds a byte that was not UTF-8 (a ``surrogateescape`` surrogate)."""
    if text.isascii():
        return False
    return any(raw_byte(char) is not None for char in text)


def _is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def _json_text(text: str) -> str:
    if text.isascii() or not any(_is_surrogate(c) for c in text):
        return text
    # Other lone surrogates (decoded from a JSON "\\ud800" escape, say) cannot be encoded as
    # UTF-8 either: they are escaped the same way.
    return "".join(_escape(c) if _is_surrogate(c) else c for c in text)


def json_safe(value: Any) -> Any:
    """``value`` (nested dicts, lists, tuples, strings, numbers) with every string and key
    that holds bytes that are not UTF-8 rewritten with ``\\xNN`` for those bytes; other values
    are returned as they are. The result encodes as JSON that is valid UTF-8."""
    if isinstance(value, str):
        return _json_text(value)
    if isinstance(value, Mapping):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable_json(document: str) -> str:
    """A JSON document (from ``json.dumps(..., ensure_ascii=False)``) with each character that
    is not printable written as a ``\\uNNNN`` escape: JSON itself escapes only U+0000-U+001F,
    which would leave DEL, C1 controls and bidi overrides raw on a terminal. The result
    decodes to the same value; printable non-ASCII text stays readable."""
    if document.isprintable():
        return document
    return "".join(c if c.isprintable() else _json_escape(c) for c in document)


def json_text(value: Any, **dumps_args: Any) -> str:
    """``value`` as JSON text that is valid UTF-8 and safe on a terminal: :func:`json_safe`,
    ``json.dumps(..., ensure_ascii=False, allow_nan=False, **dumps_args)``, then
    :func:`printable_json`. A ``default=`` in ``dumps_args`` has its result made safe too.

    Raises:
        TypeError, ValueError: as ``json.dumps`` (a value JSON cannot hold, NaN).
    """
    default = dumps_args.pop("default", None)
    if default is not None:
        dumps_args["default"] = lambda obj: json_safe(default(obj))
    text = json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, **dumps_args)
    return printable_json(text)
