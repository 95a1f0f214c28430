"""The unit of work: one stream entry handed to this consumer, with its delivery history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.codec import Event, decode
from ingest.errors import DecodeError
from ingest.streams import EntryId, StreamEntry


@dataclass(slots=True)
class Delivery:
    """One entry this consumer holds, from the read (or claim) until it is settled.

    Attributes:
        entry_id: the entry ID Redis assigned.
        fields: the raw entry fields (kept to copy them into a dead-letter entry).
        event: the decoded event, or ``None`` when decoding failed (see ``decode_error``).
        decode_error: why decoding failed, or ``None``.
        delivery_count: times the group delivered the entry, this one included (from the PEL;
            1 for a fresh ``>`` read).
        failed_attempts: deliveries whose handler failed (from the attempts hash).
        interrupted: deliveries our own shutdown interrupted (from the attempts hash).
        claimed: the entry came from XAUTOCLAIM (it had been idle in some consumer).
        has_record: the attempts hash may hold fields for it (delete them on ack).
        span: the tracing span of this delivery, or ``None`` when tracing is off.
    """

    entry_id: EntryId
    fields: dict[str, str]
    event: Event | None
    decode_error: DecodeError | None = None
    delivery_count: int = 1
    failed_attempts: int = 0
    interrupted: int = 0
    claimed: bool = False
    has_record: bool = False
    span: Any = None

    @classmethod
    def from_entry(cls, entry: StreamEntry, *, claimed: bool = False) -> Delivery:
        """Decode ``entry`` (which must have fields); decode errors are kept, not raised."""
        fields = entry.fields or {}
        try:
            return cls(entry.entry_id, fields, decode(fields), claimed=claimed)
        except DecodeError as exc:
            return cls(entry.entry_id, fields, None, exc, claimed=claimed)

    @property
    def event_id(self) -> str:
        """The event ID, or ``""`` when the entry did not decode far enough to have one."""
        return self.event.event_id if self.event else self.fields.get("event_id", "")

    @property
    def effective_deliveries(self) -> int:
        """Deliveries that were not interrupted by our own shutdown (crash loops count)."""
        return max(1, self.delivery_count - self.interrupted)
