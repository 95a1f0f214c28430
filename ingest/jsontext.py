"""Strict JSON text, both ways (contract module: pure; used through :mod:`ingest.codec`).

:func:`loads` and :func:`dumps` are RFC 8259 JSON of Unicode text: NaN/Infinity, lone
surrogates (raw or escaped) and nesting too deep are a ``ValueError``, never a
``RecursionError`` or a value that cannot be written back as UTF-8. :func:`text_error` and
:func:`safe_text` judge and show text that may hold lone surrogates (the Redis clients decode
bytes that are not UTF-8 to them, ``surrogateescape``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

# orjson is 5-15x faster than the stdlib on small payloads (the producer's and the worker's
# largest per-event costs in the benchmark's profiles). Where the two could disagree, the
# stdlib decides, so the results are the stdlib's: orjson turns NaN/Infinity into null and
# refuses non-str keys and integers beyond 64 bits (we fall back); orjson.loads turns integers
# of 19+ digits into floats (we fall back). Both directions are strict RFC 8259 JSON of Unicode
# text: NaN/Infinity, lone surrogates (raw or escaped) and nesting too deep for the stdlib are
# a ValueError, never a RecursionError or a value that cannot be written back as UTF-8.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_NUMBER = b"0" * 19


def text_error(text: str) -> str | None:
    """Why ``text`` is not Unicode text that encodes as UTF-8, or ``None`` when it is.

    A ``str`` can hold lone surrogates: the Redis clients decode bytes that are not UTF-8 to
    them (``surrogateescape``), and a JSON escape such as ``"\\ud800"`` decodes to one.
    """
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return f"not UTF-8 (byte or lone surrogate at character {exc.start})"
    return None


def safe_text(text: str) -> str:
    """``text`` made valid Unicode for logs, spans and messages: bytes that were not UTF-8
    (lone surrogates from ``surrogateescape``) become ``\\xNN``, other lone surrogates
    ``\\udNNN``; valid text comes back unchanged."""
    if text_error(text) is None:
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _strings(value: Any) -> Iterator[str]:
    """Every ``str`` inside a decoded JSON value (keys included), without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_STRING = re.compile(rb'"(?:[^"\\\\]|\\\\.)*"')
_NESTING = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
MAX_FALLBACK_DEPTH = 500
"""Deepest nesting the stdlib path takes (orjson takes 1,024): fixed, so whether a payload is
refused never depends on how deep the caller's stack happens to be."""


def _depth_over(raw: bytes, limit: int) -> bool:
    """True when arrays and objects in ``raw`` nest deeper than ``limit`` (strings skipped)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _STRING.sub(b"", raw).translate(_NESTING):
        if byte == 1:
            depth += 1
            if depth > limit:
                return True
        elif byte == 2:
            depth -= 1
    return False


def _stdlib_loads(text: str) -> Any:
    if _depth_over(text.encode(), MAX_FALLBACK_DEPTH):
        raise ValueError(
            f"JSON nested too deeply (at most 1,024 levels; {MAX_FALLBACK_DEPTH} when it holds "
            "integers of 19+ digits or is not JSON)"
        )
    value = json.loads(text, parse_constant=_refuse_constant)
    for item in _strings(value):
        if text_error(item) is not None:
            raise ValueError(f"JSON string holds an escaped lone surrogate: {item!r:.60}")
    return value


def _stdlib_dumps(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise ValueError("nested too deeply for JSON (more than about 900 levels)") from None
    problem = text_error(text)
    if problem is not None:
        raise ValueError(f"a string in the value is {problem}")
    return text


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text (UTF-8, no NaN/Infinity), like ``json.dumps``;
    unlike it, ``uuid.UUID`` and plain ``enum.Enum`` values are accepted (as their value).

    Raises:
        TypeError: a value JSON cannot hold (as ``json.dumps`` would).
        ValueError: NaN or Infinity, a circular reference, nesting deeper than the stdlib's
            recursion limit allows, or a string holding a lone surrogate (not Unicode text,
            so it could not be written as UTF-8).
    """
    try:
        raw = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return _stdlib_dumps(value)
    if b"null" in raw:
        return _stdlib_dumps(value)
    return raw.decode()


def loads(text: str | bytes) -> Any:
    """Decode strict RFC 8259 JSON text, with the stdlib's results (exact big integers).

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), NaN or Infinity, nesting deeper than
            1,024 levels (500 where the stdlib must decide: payloads orjson refuses, or with
            integers of 19+ digits), bytes that are not UTF-8, or a lone surrogate (in a
            ``str`` or as an escape): never ``RecursionError``.
    """
    if isinstance(text, str):
        try:
            raw = text.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(f"JSON text is not UTF-8 (lone surrogate at {exc.start})") from None
    else:
        raw = bytes(text)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            decoded = raw.decode()
        except UnicodeDecodeError as exc:
            raise ValueError(f"JSON text is not UTF-8 (byte {exc.start})") from None
        return _stdlib_loads(decoded)
    if len(raw) >= len(_LONG_NUMBER) and _LONG_NUMBER in raw.translate(_DIGITS_TO_ZERO):
        return _stdlib_loads(raw.decode())
    return value
