"""The standing faults of a :class:`faults.proxy.FaultProxy` (pure values, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Direction(Enum):
    """A direction of a proxied connection."""

    UP = "up"  # client -> server (requests)
    DOWN = "down"  # server -> client (replies)


@dataclass(frozen=True, slots=True)
class Mode:
    """What the proxy does to traffic until the next mode change.

    Attributes:
        latency_up_ms: delay added to every chunk from client to server, in ms.
        latency_down_ms: delay added to every chunk from server to client, in ms.
        hold_up: client-to-server data is read (up to a bounded buffer, then TCP backpressure)
            but not forwarded; no FIN, no RST. New connections are accepted but not connected
            to the target while this holds.
        hold_down: server-to-client data is read but not forwarded.
        refuse: the listening socket is closed, so new connections are refused
            (ECONNREFUSED); open connections carry on.

    Held data is delivered, in order, once the hold ends: a healed partition, as TCP
    retransmission would deliver it. A connection that should die instead needs a reset.
    """

    latency_up_ms: float = 0.0
    latency_down_ms: float = 0.0
    hold_up: bool = False
    hold_down: bool = False
    refuse: bool = False

    def __post_init__(self) -> None:
        if self.latency_up_ms < 0 or self.latency_down_ms < 0:
            raise ValueError(f"latency must be >= 0 ms, got {self}")

    def latency_s(self, direction: Direction) -> float:
        """The delay for ``direction``, in seconds."""
        ms = self.latency_up_ms if direction is Direction.UP else self.latency_down_ms
        return ms / 1000.0

    def holds(self, direction: Direction) -> bool:
        """True when ``direction`` is held."""
        return self.hold_up if direction is Direction.UP else self.hold_down


PASS = Mode()
