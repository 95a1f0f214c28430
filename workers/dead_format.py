"""The dead-letter entry's format, for tools that read it back (pure).

A dead-letter entry is the original entry's fields plus the ``dead_*`` fields (README, "Dead-letter
entry fields"), or, when the original is *packed* (more fields than ``--max-fields``, or fields of
its own named ``dead_*``), the ``dead_*`` fields with the whole original in ``dead_original``:
netstrings (https://cr.yp.to/proto/netstrings.txt) of each name and each value, in order. The
worker functions write it (``ingest/lua/worker.lua``).
"""

from __future__ import annotations

from collections.abc import Mapping

PACKED_FIELD = "dead_original"
DEAD_FIELDS = (
    "dead_reason",
    "dead_error_type",
    "dead_error",
    "dead_entry_id",
    "dead_stream",
    "dead_group",
    "dead_consumer",
    "dead_delivery_count",
    "dead_failed_attempts",
    "dead_at_ms",
)
"""The fields every dead-letter entry adds (``dead_original`` only when packed)."""


def netstrings(packed: bytes) -> list[bytes]:
    """The items of ``<length>:<bytes>,`` netstrings.

    Raises:
        ValueError: not well-formed netstrings.
    """
    items: list[bytes] = []
    at = 0
    while at < len(packed):
        colon = packed.find(b":", at)
        if colon == -1 or not packed[at:colon].isdigit():
            raise ValueError(f"not a netstring at byte {at}")
        end = colon + 1 + int(packed[at:colon])
        if packed[end : end + 1] != b",":
            raise ValueError(f"netstring at byte {at} is not terminated")
        items.append(packed[colon + 1 : end])
        at = end + 1
    return items


def original_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """The original entry's fields of a dead-letter entry, packed or not (as a client with
    ``surrogateescape`` decoding reads them: bytes that are not UTF-8 are lone surrogates and
    encode back to the same bytes).

    Raises:
        ValueError: ``dead_original`` is not well-formed.
    """
    packed = fields.get(PACKED_FIELD)
    if packed is None:
        return {k: v for k, v in fields.items() if not k.startswith("dead_")}
    items = [
        i.decode("utf-8", "surrogateescape")
        for i in netstrings(packed.encode("utf-8", "surrogateescape"))
    ]
    return dict(zip(items[::2], items[1::2], strict=True))
