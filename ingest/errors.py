"""Error types of the ``ingest`` package (contract module: standard library only).

Every error carries its context as attributes as well as in its message.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(IngestError, ValueError):
    """An impossible setting or combination of settings, found at start.

    The message names the flag and/or environment variable and the value. CLIs turn it into
    exit code 2.
    """


class DecodeError(IngestError):
    """A stream entry or an input record that cannot be decoded.

    Attributes:
        reason: short machine-readable reason (``missing-field``, ``bad-json``, ``version``, ...).
        field: the offending field name, when there is one.
    """

    def __init__(self, message: str, *, reason: str = "decode", field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class EventTooLarge(IngestError):
    """An event whose encoded payload exceeds ``max_event_bytes``.

    Attributes:
        event_id: the event's id.
        size: encoded payload size in bytes.
        limit: the configured limit in bytes.
    """

    def __init__(self, event_id: str, size: int, limit: int) -> None:
        super().__init__(
            f"event {event_id!r}: payload is {size} bytes, above --max-event-bytes={limit}"
        )
        self.event_id = event_id
        self.size = size
        self.limit = limit


class BackpressureTimeout(IngestError):
    """The producer stayed blocked on backpressure longer than ``max_block_s``.

    Attributes:
        backlog: the last backlog seen (entries).
        high_water: the high-water mark (entries).
        low_water: the low-water mark (entries).
        blocked_s: seconds spent waiting in this episode.
    """

    def __init__(self, backlog: int, high_water: int, low_water: int, blocked_s: float) -> None:
        super().__init__(
            f"backpressure: backlog {backlog} entries did not fall to the low-water mark "
            f"{low_water} (high-water {high_water}) within {blocked_s:.1f} s"
        )
        self.backlog = backlog
        self.high_water = high_water
        self.low_water = low_water
        self.blocked_s = blocked_s


class RedisUnavailable(IngestError):
    """Redis could not be reached within the connect timeout.

    The message names the URL with any password redacted. CLIs turn it into exit code 3.
    """


class Refused(RedisUnavailable):
    """Redis kept refusing a command (:mod:`ingest.refusals`: ``LOADING``, ``NOREPLICAS``,
    ``READONLY`` ...) for the whole wait allowed.

    Attributes:
        code: the last refusal's error code.
        budget: ``block`` (the wait counted against ``--max-block``: CLIs exit 4) or
            ``outage`` (against ``--connect-timeout``: exit 3).
        waited_s: seconds waited.
    """

    def __init__(self, message: str, *, code: str, budget: str, waited_s: float) -> None:
        super().__init__(message)
        self.code, self.budget, self.waited_s = code, budget, waited_s


class NotDurable(IngestError):
    """A batch is in the stream on the primary, but fewer replicas than ``--min-replicas``
    acknowledged it within ``--replica-timeout`` (or the primary did not fsync it where asked):
    a failover may lose it. CLIs exit 5.

    Attributes:
        seq: the batch's sequence number.
        size: entries in the batch.
        first_id, last_id: its entry IDs on the primary that took it.
        replicas: replicas that acknowledged it; ``wanted`` how many were asked for.
        fsynced: ``False`` when the primary's AOF fsync (WAITAOF) was asked for and missing.
    """

    def __init__(
        self, message: str, *, seq: int, size: int, first_id: str, last_id: str,
        replicas: int, wanted: int, fsynced: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.seq, self.size, self.first_id, self.last_id = seq, size, first_id, last_id
        self.replicas, self.wanted, self.fsynced = replicas, wanted, fsynced
