"""A logical stream as partition streams, and the partition an event belongs to (contract: pure).

A *logical stream* (``--stream``, e.g. ``ingest:events``) is stored as ``N`` *partition
streams*, ``N`` a power of two:

* ``N = 1`` (the default; nothing stored in Redis): the one partition is the stream key itself,
  so a single node keeps today's key names.
* ``N > 1``: partition ``i`` is the stream ``{<base>.p<i>}`` (``<base>`` is the stream name
  without braces), or ``{<base>.p<i>.v<k>}`` when the plain name's hash slot sits on a primary
  that already holds its share (:func:`choose_partitions`). Each partition name is its own
  hash tag, so a partition's stream and every key derived from it (dead-letter stream,
  attempts record, liveness keys, lease, ...: :class:`ingest.keys.StreamKeys` of the
  partition) share one Redis Cluster slot, and every atomic step stays in one slot.
* Generations: the partition count changes only by doubling into a new generation ``g``
  whose partitions are ``{<base>.g<g>.p<i>...}``; the event of key ``k`` in partition ``i`` of
  ``N`` goes to ``i`` or ``i + N`` of ``2N`` (``stable_hash(k) mod 2N``), the Kinesis
  parent/child rule, so per-key order holds across the change.

The layout (generation, partition names) is a hash at :func:`layout_key`, read by every
process (:meth:`Layout.from_fields`); when it is absent the layout is :meth:`Layout.single`.

Routing: a keyed event goes to partition ``stable_hash(key) mod N`` (a 64-bit BLAKE2b prefix:
the same in every process and run, unlike Python's salted ``hash()``, and independent of the
cluster's CRC16 slot hashing).

Slots: :func:`key_slot` is Redis Cluster's ``CRC16(tag or key) mod 16384``
(https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/, "Keys distribution
model"); ``binascii.crc_hqx`` is that CRC (CCITT/XMODEM).
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ingest.errors import ConfigError
from ingest.keys import StreamKeys, hash_tag

SLOTS = 16384
"""Hash slots of a Redis Cluster."""

LAYOUT_VERSION = "1"
"""Format of the stored layout hash."""

MAX_PARTITIONS = 4096
"""Largest partition count accepted (a power of two)."""

MAX_VARIANTS = 64
"""Name variants tried per partition when spreading partitions over primaries."""


def key_slot(key: str | bytes) -> int:
    """The Redis Cluster hash slot of ``key`` (its hash tag's when it has one), 0..16383."""
    text = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key
    tag = hash_tag(text)
    hashed = text if tag is None else tag
    return binascii.crc_hqx(hashed.encode("utf-8", "surrogateescape"), 0) % SLOTS


def stable_hash(key: str | bytes) -> int:
    """A 64-bit hash of ``key`` that is the same in every process and run (BLAKE2b, 8 bytes)."""
    data = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def is_power_of_two(n: int) -> bool:
    """``True`` for 1, 2, 4, 8, ..."""
    return n >= 1 and n & (n - 1) == 0


def check_count(n: int) -> int:
    """Return ``n`` when it is a valid partition count, else raise.

    Raises:
        ConfigError: ``n`` is not a power of two between 1 and :data:`MAX_PARTITIONS`.
    """
    if not is_power_of_two(n) or n > MAX_PARTITIONS:
        raise ConfigError(
            f"partition count {n}: must be a power of two from 1 to {MAX_PARTITIONS} (so it "
            "can later double without breaking per-key order)"
        )
    return n


def base_name(stream: str) -> str:
    """The logical stream's name without braces (partition names add their own tag)."""
    return stream.replace("{", "").replace("}", "")


def partition_name(stream: str, index: int, *, generation: int = 0, variant: int = 0) -> str:
    """The stream key of partition ``index`` (see the module docstring).

    ``{<base>.p<i>}``, ``{<base>.g<g>.p<i>}`` for a later generation, ``.v<k>`` appended inside
    the tag for a placement variant.
    """
    parts = [base_name(stream)]
    if generation:
        parts.append(f"g{generation}")
    parts.append(f"p{index}")
    if variant:
        parts.append(f"v{variant}")
    return "{" + ".".join(parts) + "}"


def layout_key(stream: str) -> str:
    """Where the layout of ``stream`` is stored (a hash in the logical stream's own slot)."""
    StreamKeys(stream)  # validates the name
    return f"{stream}:layout" if hash_tag(stream) is not None else f"{{{stream}}}:layout"


@dataclass(frozen=True, slots=True)
class Layout:
    """The partition streams of one logical stream.

    Attributes:
        stream: the logical stream name.
        generation: the generation producers write to (0 for the first).
        partitions: the partition stream keys, partition ``i`` at index ``i``; ``len`` is a
            power of two.
        previous: the partition keys of the generation before, while it drains (a doubling
            in progress), else empty. Workers serve a child only once its parent has drained.
    """

    stream: str
    generation: int
    partitions: tuple[str, ...]
    previous: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_count(len(self.partitions))
        if self.previous and len(self.partitions) != 2 * len(self.previous):
            raise ConfigError(
                f"layout of {self.stream!r}: generation {self.generation} has "
                f"{len(self.partitions)} partitions, not twice the {len(self.previous)} of the "
                "generation before"
            )

    @classmethod
    def single(cls, stream: str) -> Layout:
        """One partition under the stream's own name (no layout stored)."""
        return cls(stream, 0, (stream,))

    @property
    def count(self) -> int:
        """Partitions in the current generation."""
        return len(self.partitions)

    @property
    def partitioned(self) -> bool:
        """``True`` unless this is the single-partition layout under the stream's own name."""
        return self.partitions != (self.stream,)

    def index_of(self, key: str | bytes) -> int:
        """The partition of an event keyed ``key``: ``stable_hash(key) mod N``."""
        return stable_hash(key) % self.count

    def partition_of(self, key: str | bytes) -> str:
        """The partition stream key of an event keyed ``key``."""
        return self.partitions[self.index_of(key)]

    def parent_of(self, index: int) -> str | None:
        """While a doubling drains: the previous generation's partition whose keys moved to
        partition ``index`` (``index mod N_previous``), else ``None``."""
        if not self.previous:
            return None
        return self.previous[index % len(self.previous)]

    def all_partitions(self) -> tuple[str, ...]:
        """Every partition stream that may hold entries: the previous generation's first."""
        return (*self.previous, *self.partitions)

    def to_fields(self) -> dict[str, str]:
        """The hash stored at :func:`layout_key` (all values strings)."""
        return {
            "version": LAYOUT_VERSION,
            "stream": self.stream,
            "generation": str(self.generation),
            "partitions": json.dumps(list(self.partitions)),
            "previous": json.dumps(list(self.previous)),
        }

    @classmethod
    def from_fields(cls, stream: str, fields: Mapping[str, str]) -> Layout:
        """Parse a stored layout; :meth:`single` when ``fields`` is empty (none stored).

        Raises:
            ConfigError: a layout of another format version, or one that does not parse (the
                message names the key: it was written by another program or version).
        """
        if not fields:
            return cls.single(stream)
        where = f"layout {layout_key(stream)!r}"
        if fields.get("version") != LAYOUT_VERSION:
            raise ConfigError(
                f"{where} has format version {fields.get('version')!r}; this build reads "
                f"{LAYOUT_VERSION!r}"
            )
        try:
            partitions = tuple(_names(json.loads(fields["partitions"])))
            previous = tuple(_names(json.loads(fields.get("previous", "[]"))))
            generation = int(fields["generation"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where} does not parse: {exc}") from None
        try:
            return cls(stream, generation, partitions, previous)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _names(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("partitions must be a list of stream names")
    return list(value)


def choose_partitions(
    stream: str,
    count: int,
    owner_of_slot: Callable[[int], str],
    primaries: Sequence[str],
    *,
    generation: int = 0,
) -> tuple[str, ...]:
    """Partition names for ``count`` partitions spread evenly over ``primaries``.

    Partition ``i`` takes the first name variant (``.v0`` is the plain name) whose slot is
    served by a primary holding fewer than ``ceil(count / len(primaries))`` of the partitions
    chosen so far; after :data:`MAX_VARIANTS` tries it takes the least loaded one seen. Plain
    names alone leave some primaries with 1.5-2x their share (measured in the design notes).

    Args:
        owner_of_slot: the primary serving a slot (e.g. from ``CLUSTER SHARDS``).
        primaries: every primary's id (an owner not in it counts as its own primary).

    Raises:
        ConfigError: ``count`` is not a valid partition count.
    """
    check_count(count)
    share = -(-count // max(len(primaries), 1))
    load = dict.fromkeys(primaries, 0)
    names: list[str] = []
    for index in range(count):
        candidates = []
        for variant in range(MAX_VARIANTS):
            name = partition_name(stream, index, generation=generation, variant=variant)
            owner = owner_of_slot(key_slot(name))
            candidates.append((load.get(owner, 0), variant, name, owner))
            if candidates[-1][0] < share:
                break
        held, _, name, owner = min(candidates)
        names.append(name)
        load[owner] = held + 1
    return tuple(names)
