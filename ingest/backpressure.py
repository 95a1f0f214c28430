"""Backpressure decisions: watermarks, a hysteresis gate, and a bounded wait (pure or injected).

The gate is the producer's half of the admission rule. While it is open a batch is admitted when
the backlog is below the high-water mark; once a batch is refused (backlog at or above the
high-water mark, or no room under the cap) it stays closed until the backlog is at or below the
low-water mark. The server applies the current :attr:`Gate.limit` atomically
(:func:`ingest.admission.admit`); :func:`admits` is the same rule for callers that read the
backlog themselves (an asyncio producer, the stats view).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.errors import BackpressureTimeout, ConfigError


@dataclass(frozen=True, slots=True)
class Watermarks:
    """High- and low-water marks of the backlog, entries.

    Raises:
        ConfigError: unless ``0 <= low < high``.
    """

    high: int
    low: int

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high:
            raise ConfigError(
                f"low-water mark {self.low} must be below the high-water mark {self.high} "
                "and not negative"
            )

    @classmethod
    def from_high(cls, high: int, low: int | None = None) -> Watermarks:
        """Marks with ``low`` defaulting to 80% of ``high`` (rounded down)."""
        return cls(high, high * 4 // 5 if low is None else low)


class Decision(enum.Enum):
    """What the gate says about one backlog reading."""

    GO = "go"  # open, stays open
    PAUSE = "pause"  # closed (just now, or still: hysteresis)
    RESUME = "resume"  # was closed, opens now


def admits(backlog: int, limit: int) -> bool:
    """The admission rule shared with the Lua function: admit when ``backlog <= limit``."""
    return backlog <= limit


class Gate:
    """Hysteresis between the marks (pure state machine).

    ``Gate(Watermarks(800, 640))``: ``decide(850)`` is PAUSE, ``decide(700)`` still PAUSE,
    ``decide(640)`` RESUME, ``decide(700)`` GO.
    """

    def __init__(self, marks: Watermarks) -> None:
        self.marks = marks
        self.paused = False

    @property
    def limit(self) -> int:
        """Largest backlog at which a batch is admitted now: ``high - 1`` open, ``low`` paused."""
        return self.marks.low if self.paused else self.marks.high - 1

    def decide(self, backlog: int) -> Decision:
        """Update the state from a backlog reading (entries) and say what to do."""
        was_paused = self.paused
        self.paused = not admits(backlog, self.limit)
        if self.paused:
            return Decision.PAUSE
        return Decision.RESUME if was_paused else Decision.GO

    def observe(self, admitted: bool) -> None:
        """Follow a server-side verdict made with :attr:`limit` (a refusal for lack of room
        under the cap closes the gate too)."""
        self.paused = not admitted


class Waiter:
    """One blocking episode: capped exponential backoff until ``max_block_s`` has passed.

    Args:
        marks: shown in the timeout message.
        max_block_s: longest episode, seconds (0: fail at the first wait).
        sleep, clock: injected (``time.sleep``, ``time.monotonic``).
        first_s, cap_s: first and largest wait, seconds (defaults 0.01 and 0.5).
    """

    def __init__(
        self,
        marks: Watermarks,
        max_block_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        first_s: float = 0.01,
        cap_s: float = 0.5,
    ) -> None:
        self.marks = marks
        self.max_block_s = max_block_s
        self._sleep = sleep
        self._clock = clock
        self.started = clock()
        self._next_s = first_s
        self._cap_s = cap_s
        self.waits = 0

    @property
    def elapsed_s(self) -> float:
        """Seconds since the episode started."""
        return self._clock() - self.started

    def wait(self, backlog: int) -> float:
        """Sleep the next backoff step (never past the deadline); return the seconds slept.

        Raises:
            BackpressureTimeout: ``max_block_s`` has passed; carries ``backlog`` and the marks.
        """
        remaining = self.max_block_s - self.elapsed_s
        if remaining <= 0:
            raise BackpressureTimeout(backlog, self.marks.high, self.marks.low, self.elapsed_s)
        step = min(self._next_s, remaining)
        self._next_s = min(self._next_s * 2, self._cap_s)
        self.waits += 1
        self._sleep(step)
        return step


@dataclass(frozen=True, slots=True)
class Limits:
    """What a batch must respect.

    Attributes:
        maxlen: the stream's cap, entries.
        marks: the high- and low-water marks of the backlog, entries.
        no_group: ``block`` or ``trim``: how a stream without groups counts
            (:mod:`ingest.backlog`).
        max_block_s: longest wait on backpressure for one batch, seconds (0: no wait).
    """

    maxlen: int
    marks: Watermarks
    no_group: str = "block"
    max_block_s: float = 300.0
