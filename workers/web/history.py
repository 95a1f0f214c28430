"""Backlog over time and rates, from samples the dashboard takes while it serves (pure).

Where the history lives, and why: in the dashboard's memory, sampled when a page (or its
live part, every ``--refresh`` seconds) is served, at most one sample per stream per
:attr:`History.min_gap_ms`, kept for ``--history`` seconds. Keeping it in Redis would survive a
restart and be shared by several dashboards, but it needs writes, and the dashboard must run
under the observer ACL role, which only reads; and it would cost memory on the server for a
chart. A restart of the dashboard starts the chart afresh, which the page says ("since ...").

Rates come from two samples ``window_ms`` apart (or the oldest one kept): events in per
second from the stream's ``entries-added`` counter (XINFO STREAM), and per group, entries
acknowledged per second as ``in - (backlog change) / seconds``: whatever came in and did not
add to the group's backlog was acknowledged (:mod:`ingest.backlog` decides the backlog, so a
stale ``lag`` counter cannot fake a rate).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["History", "Rates", "Sample", "chart_points"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at a (logical) stream.

    Attributes:
        time_ms: Redis server time, Unix ms.
        entries_added: entries ever added (summed over partitions); ``None`` when unknown.
        backlog: the stream's backlog, entries (the largest group backlog).
        group_backlogs: group name -> backlog, entries.
    """

    time_ms: int
    entries_added: int | None
    backlog: int
    group_backlogs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rates between two samples; ``None`` where they cannot be told.

    Attributes:
        in_per_s: entries added per second.
        out_per_s: group name -> entries acknowledged per second.
        over_s: the seconds between the two samples (``None`` with fewer than two).
    """

    in_per_s: float | None = None
    out_per_s: Mapping[str, float] = field(default_factory=dict)
    over_s: float | None = None


def rates(before: Sample, after: Sample) -> Rates:
    """The :class:`Rates` between two samples (see the module docstring)."""
    seconds = (after.time_ms - before.time_ms) / 1000.0
    if seconds <= 0 or before.entries_added is None or after.entries_added is None:
        return Rates(over_s=seconds if seconds > 0 else None)
    added = after.entries_added - before.entries_added
    out = {
        group: max(0.0, (added - (backlog - before.group_backlogs[group])) / seconds)
        for group, backlog in after.group_backlogs.items()
        if group in before.group_backlogs
    }
    return Rates(added / seconds, out, seconds)


class History:
    """Samples per stream name, oldest first; safe to use from several threads.

    Args:
        keep_ms: samples older than this (before the newest) are dropped.
        min_gap_ms: a sample closer than this to the previous one replaces it.
    """

    def __init__(self, keep_ms: int, min_gap_ms: int) -> None:
        self.keep_ms, self.min_gap_ms = keep_ms, min_gap_ms
        self._samples: dict[str, deque[Sample]] = {}
        self._lock = threading.Lock()

    def add(self, stream: str, sample: Sample) -> None:
        """Record ``sample`` of ``stream`` (a sample older than the newest is ignored)."""
        with self._lock:
            kept = self._samples.setdefault(stream, deque())
            if kept and sample.time_ms < kept[-1].time_ms:
                return
            if len(kept) > 1 and sample.time_ms - kept[-2].time_ms < self.min_gap_ms:
                kept.pop()  # keep the newest, but never let the gap shrink below min_gap_ms
            kept.append(sample)
            while kept and kept[0].time_ms < sample.time_ms - self.keep_ms:
                kept.popleft()

    def samples(self, stream: str) -> list[Sample]:
        """The samples of ``stream``, oldest first."""
        with self._lock:
            return list(self._samples.get(stream, ()))

    def rates(self, stream: str, window_ms: int) -> Rates:
        """Rates between the newest sample and the newest one at least ``window_ms`` older
        (else the oldest kept)."""
        kept = self.samples(stream)
        if len(kept) < 2:
            return Rates()
        newest = kept[-1]
        older = [s for s in kept[:-1] if s.time_ms <= newest.time_ms - window_ms]
        return rates(older[-1] if older else kept[0], newest)


def chart_points(
    samples: Sequence[Sample], span_ms: int, width: int = 160, height: int = 36
) -> tuple[str, int]:
    """The ``points`` of an SVG polyline of the backlog over the last ``span_ms``, and the
    largest backlog drawn (the top of the chart; at least 1).

    x runs from ``span_ms`` before the newest sample (left) to it (right); y from the largest
    backlog (top) to 0 (bottom). Only numbers: safe to put in an attribute.
    """
    if not samples:
        return "", 1
    end = samples[-1].time_ms
    shown = [s for s in samples if s.time_ms >= end - span_ms]
    top = max(1, *(s.backlog for s in shown))
    points = []
    for sample in shown:
        x = width - (end - sample.time_ms) * width / span_ms
        y = height - sample.backlog * height / top
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points), top
