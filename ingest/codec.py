"""The entry format on the wire: :class:`Event` <-> stream entry fields (contract module: pure).

Fields of a stream entry (all strings; see README "Wire format"):

=================  ==========================================================
``v``              envelope format version, currently ``"1"``
``event_id``       deduplication key chosen by the producer (sinks dedupe on it)
``source``         where the event came from (file name, ``synthetic``, ...)
``type``           event type (``reading`` by default)
``produced_at_ms`` wall-clock time the producer encoded it, Unix ms
``data``           the payload, JSON text (never pickle)
``traceparent``    W3C trace context (optional)
``tracestate``     W3C trace state (optional)
=================  ==========================================================

Dead-lettered entries copy these fields and add ``dead_*`` fields (see
:mod:`workers.dead_letter`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.errors import DecodeError, EventTooLarge

ENVELOPE_VERSION = "1"
REQUIRED_FIELDS = ("v", "event_id", "source", "type", "produced_at_ms", "data")
TRACE_FIELDS = ("traceparent", "tracestate")
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
_REQUIRED = frozenset(REQUIRED_FIELDS)


def now_ms() -> int:
    """Wall-clock time in Unix milliseconds (the one seam for wall-clock stamps)."""
    return time.time_ns() // 1_000_000


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


@dataclass(frozen=True, slots=True)
class Event:
    """One event: what producers send and handlers receive.

    Attributes:
        event_id: deduplication key (for files ``<source>:<line number>`` by default).
        payload: any JSON-serialisable value (a CSV row becomes a ``dict[str, str]``).
        source: where it came from.
        type: event type.
        produced_at_ms: Unix ms when it was encoded; 0 until then.
        trace: W3C trace-context fields carried in the entry (``traceparent``, ``tracestate``).
        data: the payload's JSON text as carried on the wire ("" until encoded); sinks store it
            as is rather than re-encoding.
    """

    event_id: str
    payload: Any
    source: str = "unknown"
    type: str = "reading"
    produced_at_ms: int = 0
    trace: Mapping[str, str] = field(default_factory=dict)
    data: str = ""


def encode(
    event: Event,
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    produced_at_ms: int | None = None,
    trace: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Encode ``event`` as stream entry fields (``dict[str, str]``, see module docstring).

    Args:
        max_event_bytes: upper bound on the payload's UTF-8 JSON size, bytes (default 1 MiB).
        produced_at_ms: stamp to write; defaults to :func:`now_ms`.
        trace: trace-context fields to carry, overriding ``event.trace``.

    Raises:
        EventTooLarge: the payload's JSON exceeds ``max_event_bytes``.
        TypeError, ValueError: the payload is not JSON-serialisable (see :func:`dumps`: NaN,
            Infinity, nesting too deep, lone surrogates), or a text field (event ID, source,
            type, a pre-encoded ``data``, trace context) holds a lone surrogate. Never anything
            else for a bad payload, so a producer can reject the record and go on.
    """
    data = event.data or dumps(event.payload)
    size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    if size > max_event_bytes:
        raise EventTooLarge(event.event_id, size, max_event_bytes)
    fields = {
        "v": ENVELOPE_VERSION,
        "event_id": event.event_id,
        "source": event.source,
        "type": event.type,
        "produced_at_ms": str(produced_at_ms if produced_at_ms is not None else now_ms()),
        "data": data,
    }
    carried = trace if trace is not None else event.trace
    fields.update({k: v for k, v in carried.items() if k in TRACE_FIELDS and v})
    for name, value in fields.items():
        problem = text_error(value) if isinstance(value, str) else None
        if problem is not None:
            raise ValueError(f"{name} is {problem}")
    return fields


def _check_text(fields: Mapping[str, str]) -> None:
    """Refuse a field name or value that is not UTF-8 (read as lone surrogates)."""
    for name, value in fields.items():
        if name.isascii() and value.isascii():
            continue
        problem = text_error(name)
        if problem is not None:
            shown = safe_text(name)[:60]
            raise DecodeError(f"a field name is {problem}: '{shown}'", reason="not-utf8")
        problem = text_error(value)
        if problem is not None:
            raise DecodeError(f"field {name!r} is {problem}", reason="not-utf8", field=name)


def _integer(fields: Mapping[str, str], name: str) -> int:
    text = fields[name]
    try:
        return int(text)  # refuses over 4,300 digits (sys.int_info.default_max_str_digits)
    except ValueError:
        raise DecodeError(
            f"{name} is not an integer: {text[:40]!r}", reason="bad-field", field=name
        ) from None


def decode(fields: Mapping[str, str]) -> Event:
    """Decode stream entry fields into an :class:`Event`; total for any ``str`` mapping.

    Extra fields are ignored. A field name or value that is not UTF-8 (lone surrogates, as
    the Redis clients decode such bytes) is refused, whichever field it is.

    Raises:
        DecodeError: a required field is missing (``reason="missing-field"``), a field name or
            value is not UTF-8 (``"not-utf8"``), the version is unknown (``"version"``),
            ``produced_at_ms`` is not an integer (``"bad-field"``) or ``data`` is not strict
            JSON (``"bad-json"``: NaN, Infinity and nesting too deep included). The error's
            ``field`` names the field.
    """
    if not fields.keys() >= _REQUIRED:
        for name in REQUIRED_FIELDS:
            if name not in fields:
                raise DecodeError(
                    f"entry has no {name!r} field", reason="missing-field", field=name
                )
    _check_text(fields)
    if fields["v"] != ENVELOPE_VERSION:
        raise DecodeError(
            f"unknown format version {fields['v'][:40]!r} (this build reads {ENVELOPE_VERSION!r})",
            reason="version",
            field="v",
        )
    produced_at_ms = _integer(fields, "produced_at_ms")
    data = fields["data"]
    try:
        payload = loads(data)
    except ValueError as exc:
        raise DecodeError(f"data is not JSON: {exc}", reason="bad-json", field="data") from None
    trace = (
        {key: fields[key] for key in TRACE_FIELDS if key in fields}
        if "traceparent" in fields or "tracestate" in fields
        else {}
    )
    # Positional: keyword arguments cost a third more on this per-entry path.
    return Event(
        fields["event_id"], payload, fields["source"], fields["type"], produced_at_ms, trace, data
    )
