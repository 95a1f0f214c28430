"""One run of ``python -m ingest.produce``: records fed to the producer, rejects, progress.

:class:`Run` is total per record: whatever reading or encoding one record raises rejects that
record (``file:line: reason``) and the run goes on. It knows at every moment which lines are
in the stream: the lines of events still buffered (not yet admitted) are kept, so a run that
stops early can say exactly where to resume (:attr:`Run.resume_line`).
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import IO, Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ingest.codec import Event
from ingest.errors import EventTooLarge
from ingest.producer import Producer
from ingest.records import InputEvent, Numbered, Reject, failure_reason
from ingest.rejects import RejectsFile, refeed_hint
from ingest.settings import ProducerSettings
from ingest.sources import read_file, synthetic


class Pacer:
    """Caps the rate at ``rate`` events/s by sleeping when ahead (injected sleep/clock)."""

    def __init__(
        self,
        rate: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate
        self._sleep, self._clock = sleep, clock
        self._next = clock()

    def pace(self) -> None:
        """Wait until the next event is due."""
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(self._next, now - 1.0) + self.interval


class StopFlag:
    """First SIGINT/SIGTERM asks for a stop; a second one exits at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler."""
        if self.event.is_set():
            os._exit(128 + signum)
        self.signum = signum
        self.event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self.event.is_set()


def records(
    settings: ProducerSettings,
    stdin: IO[bytes] | None,
    on_format: Callable[[str], None] | None = None,
) -> Iterator[Numbered]:
    """The input as ``(line, Event | Reject)`` pairs; ``on_format`` is told the format the
    input is read in (see :func:`ingest.sources.read_file`)."""
    if settings.synthetic is not None:
        return synthetic(
            settings.synthetic, source=settings.source or "synthetic", type=settings.type
        )
    return read_file(
        settings.input or "-",
        settings.format,
        source=settings.source,
        type=settings.type,
        id_field=settings.id_field,
        raw_ids=settings.raw_ids,
        encoding=settings.encoding,
        max_event_bytes=settings.max_event_bytes,
        stdin=stdin,
        csv_types=settings.csv_types,
        on_format=on_format,
    )


def reject_reason(exc: Exception) -> str:
    """The reject reason of an event that could not be encoded."""
    if isinstance(exc, EventTooLarge | TypeError | ValueError):
        return str(exc)
    return failure_reason(exc)


class Run:
    """One run of the CLI: feeds records to the producer, reports rejects and progress.

    Attributes:
        interrupted: a stop was asked for (signal) and the run ended early.
        skipped: records before ``--from-line``, not read again.
        format: the format the input is read in, once known ("" before, and for synthetic
            events); set it through :meth:`read_in`.
        last_line: the last line handled (produced, buffered or rejected), 0 before any.
    """

    def __init__(
        self,
        producer: Producer,
        settings: ProducerSettings,
        stop: StopFlag,
        rejects: RejectsFile | None,
        progress: Progress | None,
    ) -> None:
        self.producer, self.settings, self.stop = producer, settings, stop
        self.rejects_file, self.progress = rejects, progress
        self.started = time.monotonic()
        self.interrupted = False
        self.skipped = 0
        self.last_line = 0
        self.format = ""  # the input's format once known (after sniffing)
        self._unsent: collections.deque[int] = collections.deque()  # lines still buffered
        self.task = None
        if progress is not None:
            self.task = progress.add_task(
                "producing", total=settings.synthetic, rate=0.0, backlog=0, blocked=0.0
            )
            # While blocked on backpressure no batch completes: refresh on each backoff step.
            producer.on_wait = self.show

    def read_in(self, fmt: str) -> None:
        """Note the format the input is read in (the ``on_format`` of :func:`records`)."""
        self.format = fmt

    @property
    def name(self) -> str:
        """The input's name in rejects (``synthetic`` for generated events)."""
        return self.settings.input or "synthetic"

    @property
    def unsent_lines(self) -> tuple[int, ...]:
        """Lines whose events are read but not in the stream (buffered, or in a batch that
        failed)."""
        return tuple(self._unsent)

    @property
    def resume_line(self) -> int:
        """The first line not known to be in the stream: ``--from-line`` for a re-run that
        continues where this one stopped."""
        return self._unsent[0] if self._unsent else self.last_line + 1

    def reject(self, reject: Reject) -> None:
        """Report one malformed record (stderr and ``--rejects``) and count it."""
        self.producer.stats.rejected += 1
        print(str(reject), file=sys.stderr)
        if self.rejects_file is not None:
            self.rejects_file.write(reject)

    def refeed_hint(self) -> str:
        """After a run that wrote rejected records to ``--rejects``: where they are and the
        command that sends them again once fixed ("" when none were written)."""
        if self.rejects_file is None or not self.rejects_file.written:
            return ""
        return refeed_hint(self.rejects_file, self.settings, self.format)

    def feed(self, items: Iterator[Numbered]) -> None:
        """Send every record, then flush; stops early when a stop is asked for.

        Raises:
            BackpressureTimeout, RedisUnavailable, ProducerStopped: from sending; the lines
                not sent are in :attr:`unsent_lines`.
        """
        pacer = Pacer(self.settings.rate) if self.settings.rate else None
        first = self.settings.from_line or 0
        for count, (line, record) in enumerate(items, start=1):
            if self.stop.is_set():
                self.interrupted = True
                break
            if line < first:
                self.skipped += 1
                continue
            if isinstance(record, Reject):
                self.reject(record)
            else:
                if pacer is not None:
                    pacer.pace()
                self._send(line, record)
            end = record.end_line if isinstance(record, Reject) and record.end_line else line
            self.last_line = max(self.last_line, end)
            if count % 500 == 0:
                self.show()
        self.flush()
        self.show()

    def _send(self, line: int, record: Event) -> None:
        try:
            fields = self.producer.encode(record)
        except Exception as exc:  # this record's problem only (too large, too deep, not JSON)
            raw, header = (
                (record.raw, record.header) if isinstance(record, InputEvent) else (None, None)
            )
            self.reject(Reject(self.name, line, reject_reason(exc), raw=raw, header=header))
            return
        self._unsent.append(line)
        self.producer.push(fields)  # errors of sending are the run's, not the record's
        self._settle()

    def flush(self) -> None:
        """Send what is buffered (:meth:`Producer.close`)."""
        self.producer.close()
        self._settle()

    def _settle(self) -> None:
        while len(self._unsent) > self.producer.buffered:
            self._unsent.popleft()

    def show(self, backlog: int | None = None, blocked_s: float | None = None) -> None:
        """Refresh the progress bar (no-op off a terminal).

        Args:
            backlog: the backlog to show, entries; default the producer's last one.
            blocked_s: seconds blocked in all; default ``stats.blocked_s`` (which only grows
                when a pause ends: the producer passes the running figure while waiting).
        """
        if self.progress is None or self.task is None:
            return
        stats, seconds = self.producer.stats, max(time.monotonic() - self.started, 1e-9)
        self.progress.update(
            self.task,
            completed=stats.produced,
            rate=stats.produced / seconds,
            backlog=self.producer.last_backlog if backlog is None else backlog,
            blocked=stats.blocked_s if blocked_s is None else blocked_s,
        )

    def summary(self, finished: bool) -> dict[str, Any]:
        """The end-of-run summary (one JSON line); ``resume_from_line`` is ``None`` when the
        run ``finished`` (every record handled)."""
        stats = self.producer.stats
        return {
            "produced": stats.produced,
            "rejected": stats.rejected,
            "bytes": stats.bytes,
            "seconds": round(time.monotonic() - self.started, 3),
            "blocked_s": round(stats.blocked_s, 3),
            "blocks": stats.blocks,
            "batches": stats.batches,
            "oom_waits": stats.oom_waits,
            "retries": stats.retries,
            "already_in_stream": stats.repeats,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "resume_from_line": None if finished else self.resume_line,
        }


def make_progress(console: Console | None = None) -> Progress | None:
    """The progress line (events, events/s, backlog, time blocked), or ``None`` when
    ``console`` (default: stderr) is not a terminal."""
    console = console if console is not None else Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:>10,.0f} events"),
        TextColumn("{task.fields[rate]:>8,.0f} ev/s"),
        TextColumn("backlog {task.fields[backlog]:>9,}"),
        TextColumn("blocked {task.fields[blocked]:.1f} s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        redirect_stdout=False,
    )
