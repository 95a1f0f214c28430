"""Errors of the ``workers`` package.

Two of them are the handler-facing control flow (exported from :mod:`workers`):
:class:`PermanentError` (dead-letter now, no retries) and :class:`TransientError` (retry).
Any other :class:`Exception` a handler raises is treated as transient.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base class of every error this package raises on purpose."""


class PermanentError(WorkerError):
    """Raised by a handler for an error retrying cannot fix: the entry is dead-lettered at once.

    Like dramatiq's ``throws`` or FastStream's ``RejectMessage``.
    """


class TransientError(WorkerError):
    """Raised by a handler for an error worth retrying (a dependency is down, a timeout).

    It is handled exactly like any other :class:`Exception` a handler raises (raising it only
    makes the intent explicit): the call is retried in process (``--retry-attempts``
    attempts, exponential backoff with jitter); if every attempt fails, one failed attempt is
    recorded and the entry stays pending, to be delivered again once idle for
    ``--min-idle``; after ``--max-deliveries`` failed deliveries it goes to the dead-letter
    stream (reason ``max-deliveries``). A batch handler may also return an instance as one
    event's outcome.
    """


class GroupMissingError(WorkerError):
    """The consumer group (or the whole stream) vanished: Redis answered ``NOGROUP``.

    Attributes:
        stream: the stream key.
        group: the consumer group.
    """

    def __init__(self, stream: str, group: str) -> None:
        super().__init__(
            f"consumer group {group!r} of stream {stream!r} does not exist (NOGROUP): the "
            "stream or group was deleted (FLUSHALL, DEL, or a restart without persistence). "
            "Run without --on-missing-group=exit to recreate it from 0."
        )
        self.stream = stream
        self.group = group


class GroupCreateError(WorkerError):
    """``XGROUP CREATE`` failed with something other than BUSYGROUP (say WRONGTYPE).

    Attributes:
        stream: the stream key.
        group: the consumer group.
        reply: Redis's error reply.
    """

    def __init__(self, stream: str, group: str, reply: str) -> None:
        hint = " (the key holds something other than a stream)" if "WRONGTYPE" in reply else ""
        super().__init__(f"cannot create consumer group {group!r} on {stream!r}: {reply}{hint}")
        self.stream = stream
        self.group = group
        self.reply = reply


class ConsumerNameTaken(WorkerError):
    """Another live process already runs as this consumer (its liveness key is fresh).

    Attributes:
        consumer: the consumer name.
        holder: the liveness key's value (``host:start:pid``) of the other process.
        frees_in_s: seconds until the key expires unless its holder refreshes it, or
            ``None`` when unknown.
    """

    def __init__(self, consumer: str, holder: str, frees_in_s: float | None = None) -> None:
        frees = (
            f"; the name frees in {frees_in_s:.1f} s unless that process refreshes it "
            "(it does while alive)"
            if frees_in_s is not None
            else ""
        )
        super().__init__(
            f"consumer name {consumer!r} is in use by a live process ({holder}){frees}; "
            "two processes must never share a consumer name: pick another --consumer"
        )
        self.consumer = consumer
        self.holder = holder
        self.frees_in_s = frees_in_s


class EntryTooLarge(WorkerError):
    """A stream entry over the worker's size or field-count limit (dead-lettered ``too_large``
    without being decoded; its bytes stay on the server).

    Attributes:
        entry_id: the entry ID.
        size: bytes of its field names and values.
        field_count: its number of fields.
        max_bytes, max_fields: the limits (``--max-event-bytes`` plus the envelope
            allowance, ``--max-fields``).
    """

    def __init__(
        self, entry_id: str, size: int, field_count: int, max_bytes: int, max_fields: int
    ) -> None:
        over = (
            f"{field_count} fields, above --max-fields {max_fields}"
            if field_count > max_fields
            else f"{size} bytes, above the limit of {max_bytes} (--max-event-bytes plus the "
            "envelope allowance)"
        )
        super().__init__(f"entry {entry_id} is too large: {over}")
        self.entry_id = entry_id
        self.size = size
        self.field_count = field_count
        self.max_bytes = max_bytes
        self.max_fields = max_fields


class HandlerTimeout(WorkerError):
    """A handler call ran past ``--handler-timeout``: an async one was cancelled, a sync one
    abandoned in its thread (threads cannot be killed). Counts as a failed attempt.

    Attributes:
        timeout_s: the timeout, seconds.
    """

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"handler still running after {timeout_s:g} s (--handler-timeout)")
        self.timeout_s = timeout_s
