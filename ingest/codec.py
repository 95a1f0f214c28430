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

Dead-lettered entries copy these fields and add ``dead_*`` fields (see README "Dead-letter
entry fields"). JSON itself is :mod:`ingest.jsontext`'s (re-exported here).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import DecodeError, EventTooLarge
from ingest.jsontext import dumps, loads, safe_text, text_error

__all__ = [
    "ENVELOPE_VERSION",
    "REQUIRED_FIELDS",
    "TRACE_FIELDS",
    "Event",
    "decode",
    "dumps",
    "encode",
    "loads",
    "now_ms",
    "safe_text",
    "text_error",
]

ENVELOPE_VERSION = "1"
REQUIRED_FIELDS = ("v", "event_id", "source", "type", "produced_at_ms", "data")
TRACE_FIELDS = ("traceparent", "tracestate")
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
_REQUIRED = frozenset(REQUIRED_FIELDS)


def now_ms() -> int:
    """Wall-clock time in Unix milliseconds (the one seam for wall-clock stamps)."""
    return time.time_ns() // 1_000_000


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
