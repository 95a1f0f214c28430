"""The unit of work: one stream entry handed to this consumer, with its delivery history.

Turning an entry into a :class:`Delivery` is total: whatever the entry holds (any bytes in any
field or field name, missing or extra fields, any size, any JSON), the result is either a
delivery with a decoded event or one with a :class:`Refusal` naming why it cannot be handled
(``decode`` or ``too_large``), and nothing raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.codec import Event, decode, safe_text
from ingest.errors import DecodeError
from ingest.streams import EntryId
from workers.errors import EntryTooLarge

REASON_DECODE = "decode"
REASON_TOO_LARGE = "too_large"


@dataclass(frozen=True, slots=True)
class History:
    """What the group and the attempts record know of an entry's earlier deliveries.

    Attributes:
        delivery_count: times the group delivered it, this delivery included (the PEL's
            times-delivered; 1 for a fresh ``>`` read).
        failed: deliveries whose handler failed (the attempts record's ``<id>`` field).
        interrupted: deliveries that ended without being handled through no fault of the
            entry: released at shutdown or by the read-ahead bound, claimed back by our own
            sweep (the attempts record's ``<id>:i`` field).
    """

    delivery_count: int = 1
    failed: int = 0
    interrupted: int = 0

    @property
    def crashes(self) -> int:
        """Earlier deliveries that ended in no settlement at all: the process died (SIGKILL,
        OOM, ``os._exit``) or its loop failed while it held the entry. Every earlier delivery
        ended in exactly one of failed, interrupted, crashed (an acknowledged or dead-lettered
        entry is not delivered again), so crashes are what the other two do not explain."""
        return max(0, self.delivery_count - 1 - self.failed - self.interrupted)


FIRST = History()
"""The history of a fresh ``>`` read: first delivery, no record."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an entry cannot be handed to the handler (it is dead-lettered at once).

    Attributes:
        reason: ``decode`` or ``too_large``.
        error: the error, with the details in its message.
    """

    reason: str
    error: Exception


@dataclass(slots=True)
class Delivery:
    """One entry this consumer holds, from the read (or claim) until it is settled.

    Only :class:`workers.ledger.Ledger` changes a delivery once it is held.

    Attributes:
        entry_id: the entry ID Redis assigned.
        fields: the entry's fields (``{}`` for a stub of an entry over the limits: its bytes
            stayed on the server, which copies them when dead-lettering).
        event: the decoded event, or ``None`` when refused.
        refusal: why it cannot be handled, or ``None``.
        history: its earlier deliveries.
        claimed: it came from a claim (an idle entry or a dead consumer's), not a read.
        has_record: the attempts record may hold fields for it (deleted with the XACK).
        span: the tracing span of this delivery, or ``None`` when tracing is off.
    """

    entry_id: EntryId
    fields: dict[str, str]
    event: Event | None
    refusal: Refusal | None = None
    history: History = FIRST
    claimed: bool = False
    has_record: bool = False
    span: Any = None

    @property
    def event_id(self) -> str:
        """The event ID, or ``""`` when the entry has none; made valid text (bytes that are
        not UTF-8 shown as ``\\xNN``), so it is safe in logs and span attributes."""
        if self.event is not None:
            return self.event.event_id
        return safe_text(self.fields.get("event_id", ""))

    @property
    def suspect(self) -> bool:
        """An earlier delivery crashed while holding it: run it alone (see ``workers.slots``)."""
        return self.history is not FIRST and self.history.crashes > 0


def from_fields(
    entry_id: EntryId,
    fields: dict[str, str],
    history: History = FIRST,
    *,
    claimed: bool = False,
) -> Delivery:
    """Decode ``fields`` into a delivery; never raises (see the module docstring)."""
    try:
        event = decode(fields)
    except DecodeError as exc:
        return Delivery(entry_id, fields, None, Refusal(REASON_DECODE, exc), history, claimed)
    except Exception as exc:  # decoding is total: a bug in it refuses the entry, never the loop
        error = DecodeError(f"decoding failed: {type(exc).__name__}: {exc}", reason="internal")
        return Delivery(entry_id, fields, None, Refusal(REASON_DECODE, error), history, claimed)
    return Delivery(entry_id, fields, event, None, history, claimed)


def too_large(
    entry_id: EntryId,
    size: int,
    field_count: int,
    limits: tuple[int, int],
    history: History = FIRST,
    *,
    claimed: bool = False,
) -> Delivery:
    """A delivery for an entry over ``limits`` = ``(max bytes, max fields)``, without its
    fields (refused ``too_large``)."""
    error = EntryTooLarge(entry_id, size, field_count, *limits)
    return Delivery(entry_id, {}, None, Refusal(REASON_TOO_LARGE, error), history, claimed)
