"""Typed views of ``CLUSTER NODES`` and ``CLUSTER INFO`` replies (pure parsers, no I/O).

Source: the Redis Cluster spec's ``CLUSTER NODES`` format: ``<id> <ip:port@cport[,hostname]>
<flags> <primary-id|-> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot>...``, where a
slot item is ``N``, ``A-B``, or ``[N->-id]`` / ``[N-<-id]`` for a slot being migrated or
imported. Valkey prints the same format.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeView:
    """One line of ``CLUSTER NODES`` as seen by one node.

    Attributes:
        node_id: the 40-hex node ID.
        port: client port (the cluster bus port is not kept).
        flags: e.g. ``{"myself", "master"}``, ``{"slave", "fail"}``.
        primary_id: the primary's node ID for a replica, None for a primary.
        connected: ``link-state`` is ``connected``.
        slots: inclusive ``(first, last)`` ranges served (migration markers left out).
        config_epoch: the node's config epoch.
    """

    node_id: str
    port: int
    flags: frozenset[str]
    primary_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...]
    config_epoch: int

    @property
    def is_primary(self) -> bool:
        """True when flagged ``master``."""
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        """True when flagged ``fail``, ``fail?`` (PFAIL), ``handshake`` or ``noaddr``."""
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})

    @property
    def slot_count(self) -> int:
        """Number of slots served."""
        return sum(last - first + 1 for first, last in self.slots)

    def serves(self, slot: int) -> bool:
        """True when ``slot`` lies in one of this node's ranges."""
        return any(first <= slot <= last for first, last in self.slots)


def parse_cluster_nodes(text: str) -> list[NodeView]:
    """Parse a ``CLUSTER NODES`` reply into one :class:`NodeView` per line."""
    views = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1].split("@", 1)[0]
        ranges = []
        for item in parts[8:]:
            if item.startswith("["):
                continue  # a migrating/importing marker, not a served slot
            first, _, last = item.partition("-")
            ranges.append((int(first), int(last or first)))
        views.append(
            NodeView(
                node_id=parts[0],
                port=int(address.rsplit(":", 1)[1]),
                flags=frozenset(parts[2].split(",")),
                primary_id=None if parts[3] == "-" else parts[3],
                connected=parts[7] == "connected",
                slots=tuple(ranges),
                config_epoch=int(parts[6]),
            )
        )
    return views


def parse_info(text: str) -> dict[str, str]:
    """Parse ``CLUSTER INFO`` (or any ``INFO`` section) text into ``{field: value}``."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields
