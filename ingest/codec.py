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
import time
from collections.abc import Mapping
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
# of 19+ digits into floats (we fall back) and refuses NaN/Infinity literals and lone
# surrogates (we fall back).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_NUMBER = b"0" * 19


def _stdlib_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text (UTF-8, no NaN/Infinity), like ``json.dumps``;
    unlike it, ``uuid.UUID`` and plain ``enum.Enum`` values are accepted (as their value).

    Raises:
        TypeError: a value JSON cannot hold (as ``json.dumps`` would).
        ValueError: NaN or Infinity, or a circular reference.
    """
    try:
        raw = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return _stdlib_dumps(value)
    if b"null" in raw:
        return _stdlib_dumps(value)
    return raw.decode()


def loads(text: str | bytes) -> Any:
    """Decode JSON text as ``json.loads`` does.

    Raises ``ValueError`` (``json.JSONDecodeError``) on bad JSON.
    """
    try:
        raw = text.encode() if isinstance(text, str) else text
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return json.loads(text)
    if len(raw) >= len(_LONG_NUMBER) and _LONG_NUMBER in raw.translate(_DIGITS_TO_ZERO):
        return json.loads(text)
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
        TypeError, ValueError: the payload is not JSON-serialisable (or holds NaN/Infinity).
    """
    data = event.data or dumps(event.payload)
    size = len(data) if data.isascii() else len(data.encode())
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
    return fields


def decode(fields: Mapping[str, str]) -> Event:
    """Decode stream entry fields into an :class:`Event`.

    Raises:
        DecodeError: a required field is missing (``reason="missing-field"``), the version is
            unknown (``reason="version"``), ``produced_at_ms`` is not an integer
            (``reason="bad-field"``) or ``data`` is not JSON (``reason="bad-json"``). The
            error's ``field`` names the field.
    """
    if not fields.keys() >= _REQUIRED:
        for name in REQUIRED_FIELDS:
            if name not in fields:
                raise DecodeError(
                    f"entry has no {name!r} field", reason="missing-field", field=name
                )
    if fields["v"] != ENVELOPE_VERSION:
        raise DecodeError(
            f"unknown format version {fields['v']!r} (this build reads {ENVELOPE_VERSION!r})",
            reason="version",
            field="v",
        )
    try:
        produced_at_ms = int(fields["produced_at_ms"])
    except ValueError:
        raise DecodeError(
            f"produced_at_ms is not an integer: {fields['produced_at_ms'][:40]!r}",
            reason="bad-field",
            field="produced_at_ms",
        ) from None
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
