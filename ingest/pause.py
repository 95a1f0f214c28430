"""The pause flag: an operator stops a consumer group's reads for maintenance (contract module).

One key per stream and consumer group, in the stream's hash slot (:func:`pause_key`):
``{stream}:paused:<group>`` (``ingest:events`` -> ``{ingest:events}:paused:workers``). The
key **exists** while the group is paused; its value says who paused it, when and why, as JSON
(:func:`pause_value`), for people. A worker must not read the value to decide: any value,
even one it cannot parse, means paused (:func:`paused`), so a flag written by another tool or
a newer version still stops it.

* Pause: ``SET key <value>`` (no TTL), or ``SET key <value> PX <ms>`` for a pause that ends by
  itself (the dashboard's "for N minutes").
* Resume: ``DEL key``.
* Worker: ``GET key`` once a second (a single O(1) command on the stream's node), passing the
  reply to :func:`paused`. While paused it issues no ``XREADGROUP`` and no ``XAUTOCLAIM``, lets
  the entries it holds finish (and be acknowledged), and keeps refreshing its liveness key and
  held entries; it resumes within a second of the key's deletion or expiry.

Pure functions only (no Redis client), so the worker's loop and the dashboard share them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ingest.keys import hash_tag

__all__ = ["PauseState", "derived_key", "pause_key", "pause_value", "paused"]

MAX_REASON_CHARS = 200
"""Longest note kept with a pause (characters)."""


def derived_key(stream: str, suffix: str) -> str:
    """A key in ``stream``'s hash slot, as :class:`ingest.keys.StreamKeys` derives its keys:
    ``{stream}:<suffix>``, or ``<stream>:<suffix>`` when the stream name has a hash tag."""
    if hash_tag(stream) is not None:
        return f"{stream}:{suffix}"
    return f"{{{stream}}}:{suffix}"


def pause_key(stream: str, group: str) -> str:
    """The pause flag of ``group`` on ``stream`` (``{stream}:paused:<group>``)."""
    return derived_key(stream, f"paused:{group}")


def pause_value(by: str, at_ms: int, reason: str = "", until_ms: int | None = None) -> str:
    """The value to ``SET``: ``{"by": ..., "at_ms": ..., "reason": ..., "until_ms": ...}``.

    Args:
        by: who paused (``web:<user>``, a host name).
        at_ms: when, Unix ms.
        reason: a note for other operators, cut to :data:`MAX_REASON_CHARS`.
        until_ms: when the key's TTL ends it, Unix ms; ``None`` for no TTL.
    """
    record: dict[str, object] = {"by": by, "at_ms": at_ms, "reason": reason[:MAX_REASON_CHARS]}
    if until_ms is not None:
        record["until_ms"] = until_ms
    return json.dumps(record, ensure_ascii=True)


def paused(value: str | bytes | None) -> bool:
    """Whether a group is paused, from the reply of ``GET`` :func:`pause_key`: any value is a
    pause (``None``, the key missing, is not)."""
    return value is not None


@dataclass(frozen=True, slots=True)
class PauseState:
    """A pause as people see it.

    Attributes:
        by: who paused it ("" when the value does not say).
        at_ms: when, Unix ms (``None`` when the value does not say).
        reason: the note given.
        until_ms: when it ends by itself, Unix ms; ``None``: until resumed.
        raw: the stored value, whole (shown when it is not ours).
    """

    by: str
    at_ms: int | None
    reason: str
    until_ms: int | None
    raw: str

    @classmethod
    def parse(cls, value: str) -> PauseState:
        """Read a stored value; a value that is not ours gives empty fields and ``raw``."""
        try:
            record = json.loads(value)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return cls("", None, "", None, value)
        return cls(
            by=_text(record.get("by")),
            at_ms=_int(record.get("at_ms")),
            reason=_text(record.get("reason")),
            until_ms=_int(record.get("until_ms")),
            raw=value,
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
