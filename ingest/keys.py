"""Redis key names derived from the stream name (contract module: pure).

Every key the pipeline uses for one stream lives in the same Redis Cluster hash slot as the
stream itself, so multi-key steps (dead-lettering = XADD + XACK in one MULTI, the admission
function) stay atomic on a cluster.

Hash-slot rule (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/):
when a key contains ``{...}`` with at least one character between the first ``{`` and the
next ``}``, only that part is hashed; otherwise the whole key is. So for a stream
``ingest:events`` (no tag) the derived keys are ``{ingest:events}:dead`` and so on, whose tag
hashes exactly like the whole stream key; for ``{orders}:events`` they are
``{orders}:events:dead``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.errors import ConfigError


def hash_tag(key: str) -> str | None:
    """Return the Redis Cluster hash tag of ``key`` (text inside the first valid ``{...}``).

    Returns ``None`` when the key has no valid tag (then the whole key is hashed).
    """
    start = key.find("{")
    if start == -1:
        return None
    end = key.find("}", start + 1)
    if end == -1 or end == start + 1:
        return None
    return key[start + 1 : end]


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """The keys of one pipeline, all in the stream's hash slot.

    Attributes:
        stream: the stream key, as configured (``INGEST_STREAM``, default ``ingest:events``).

    Raises:
        ConfigError: for an empty stream name, or one with a ``{`` that is not a valid tag
            (its derived keys could not share its slot).
    """

    stream: str

    def __post_init__(self) -> None:
        if not self.stream:
            raise ConfigError("INGEST_STREAM / --stream = '': the stream name must not be empty")
        if "{" in self.stream and hash_tag(self.stream) is None:
            raise ConfigError(
                f"INGEST_STREAM / --stream = {self.stream!r}: a '{{' must open a non-empty "
                "hash tag such as '{orders}:events'"
            )

    def _derived(self, suffix: str) -> str:
        if hash_tag(self.stream) is not None:
            return f"{self.stream}:{suffix}"
        return f"{{{self.stream}}}:{suffix}"

    @property
    def dead_letter_stream(self) -> str:
        """Dead-letter stream key (``{stream}:dead``)."""
        return self._derived("dead")

    @property
    def config(self) -> str:
        """Hash of the producer's effective settings (``{stream}:config``): ``maxlen``,
        ``high_water``, ``low_water``, ``no_group``, ``updated_at_ms``; written by each producer
        at start (the last one wins), read by ``python -m ingest.stats``."""
        return self._derived("config")

    def producer(self, producer_id: str) -> str:
        """One producer's last admitted batch (``{stream}:producer:<id>``, a string with a TTL):
        ``ingest_admit`` answers a re-sent batch from it instead of appending it twice."""
        return self._derived(f"producer:{producer_id}")

    def attempts(self, group: str) -> str:
        """The attempts record of ``group``: a hash with, per entry that has a history, the
        fields :func:`failed_field` and :func:`interrupted_field` (deleted with the entry's
        XACK or its dead-lettering)."""
        return self._derived(f"attempts:{group}")

    def consumer_alive(self, group: str, consumer: str) -> str:
        """Liveness key of one consumer (a string with a TTL the worker refreshes)."""
        return self._derived(f"alive:{group}:{consumer}")

    def consumers_alive_pattern(self, group: str) -> str:
        """SCAN pattern matching every liveness key of ``group``."""
        return self._derived(f"alive:{group}:*")


def failed_field(entry_id: str) -> str:
    """Attempts-record field counting an entry's failed attempts: the entry ID itself."""
    return entry_id


def interrupted_field(entry_id: str) -> str:
    """Attempts-record field counting deliveries of an entry that ended without being handled
    through no fault of the entry (released at shutdown or by the read-ahead bound, claimed back
    by our own sweep): ``<id>:i``. Crashed deliveries are what failed attempts and
    interruptions do not explain (see ``workers.delivery.History``). The worker functions in
    ``ingest/lua/worker.lua`` use the same two names."""
    return f"{entry_id}:i"
