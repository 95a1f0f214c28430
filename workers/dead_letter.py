"""Moving entries to the dead-letter stream, atomically with their acknowledgement.

A dead-letter entry is the original entry's fields plus the ``dead_*`` fields below. The
XACK of the original, the XADD to the dead-letter stream and the deletion of its attempts
record run in one Lua script, so a crash between them neither loses nor duplicates the
entry; and the XADD happens only when the XACK acknowledged the entry (reply 1,
https://redis.io/docs/latest/commands/xack/), so an entry another consumer claimed and
settled meanwhile is not dead-lettered too. The dead-letter stream and attempts hash share
the main stream's hash tag (:class:`ingest.keys.StreamKeys`), so the script stays legal on
Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio

from ingest.codec import now_ms
from ingest.keys import StreamKeys
from workers.delivery import Delivery
from workers.reclaimer import interrupted_field

MAX_ERROR_CHARS = 1000
"""Longest error message kept in a dead-letter entry (characters)."""

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
"""Fields a dead-letter entry adds to the original ones (see README's table)."""

REASON_DECODE = "decode"
REASON_PERMANENT = "permanent"
REASON_MAX_DELIVERIES = "max-deliveries"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why one delivery is being dead-lettered.

    Attributes:
        delivery: the delivery.
        reason: ``decode``, ``permanent`` or ``max-deliveries``.
        error: the exception behind it, or ``None`` (max deliveries reached before a handler).
    """

    delivery: Delivery
    reason: str
    error: BaseException | None = None


def should_dead_letter(delivery: Delivery, max_deliveries: int) -> str | None:
    """Decide, before the handler runs, whether ``delivery`` goes straight to dead letters.

    Returns the reason, or ``None`` to run the handler:
    - ``decode`` when the entry did not decode;
    - ``max-deliveries`` when ``failed_attempts >= max_deliveries`` (handler failures), or when
      the deliveries not interrupted by our own shutdown exceed ``max_deliveries`` (an entry
      that crashes its worker never gets to count a failure, but its delivery count grows).
    """
    if delivery.decode_error is not None:
        return REASON_DECODE
    if delivery.failed_attempts >= max_deliveries:
        return REASON_MAX_DELIVERIES
    if delivery.effective_deliveries > max_deliveries:
        return REASON_MAX_DELIVERIES
    return None


def dead_letter_fields(
    letter: DeadLetter, stream: str, group: str, consumer: str, at_ms: int
) -> dict[str, str]:
    """The dead-letter entry: original fields (minus stale ``dead_*``) + ``dead_*`` fields."""
    d = letter.delivery
    fields = {k: v for k, v in d.fields.items() if not k.startswith("dead_")}
    error = letter.error
    message = str(error) if error is not None else f"delivered {d.delivery_count} times"
    fields.update(
        dead_reason=letter.reason,
        dead_error_type=type(error).__name__ if error is not None else "",
        dead_error=message[:MAX_ERROR_CHARS],
        dead_entry_id=d.entry_id,
        dead_stream=stream,
        dead_group=group,
        dead_consumer=consumer,
        dead_delivery_count=str(d.delivery_count),
        dead_failed_attempts=str(d.failed_attempts),
        dead_at_ms=str(at_ms),
    )
    return fields


# KEYS[1] stream, KEYS[2] dead-letter stream, KEYS[3] attempts hash; ARGV[1] group, then
# per letter: entry ID, its interrupted field, 2 x field count, field, value, ...
# Returns per letter the new dead-letter entry ID, or '' when XACK found it no longer pending.
_DEAD_LETTER = """
local out, i = {}, 2
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 2])
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    out[#out + 1] = redis.call('XADD', KEYS[2], '*', unpack(ARGV, i + 3, i + 2 + n))
    redis.call('HDEL', KEYS[3], id, ARGV[i + 1])
  else
    out[#out + 1] = ''
  end
  i = i + 3 + n
end
return out
"""


async def dead_letter(
    client: redis.asyncio.Redis,
    keys: StreamKeys,
    group: str,
    consumer: str,
    letters: Sequence[DeadLetter],
) -> list[str | None]:
    """Move ``letters`` to the dead-letter stream in one Lua script (``EVALSHA``).

    Per letter: ``XACK stream group id``; only when it answers 1 (the entry was still
    pending), ``XADD <dead-letter stream> * fields`` and ``HDEL <attempts> id id:i``.

    Returns:
        Per letter, in order: the new dead-letter entry ID, or ``None`` when the entry was no
        longer pending (another consumer claimed and settled it) and nothing was added.

    Raises:
        redis.RedisError: connection errors and error replies.
    """
    if not letters:
        return []
    at_ms = now_ms()
    args: list[str] = [group]
    for letter in letters:
        fields = dead_letter_fields(letter, keys.stream, group, consumer, at_ms)
        entry_id = letter.delivery.entry_id
        args += [entry_id, interrupted_field(entry_id), str(2 * len(fields))]
        for name, value in fields.items():
            args += [name, value]
    script = client.register_script(_DEAD_LETTER)
    replies = await script(
        keys=[keys.stream, keys.dead_letter_stream, keys.attempts(group)], args=args
    )
    return [str(r) if r else None for r in replies]
