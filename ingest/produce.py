"""``python -m ingest.produce``: send a file (or synthetic readings) to the stream.

Event ids: ``<source>:<line number>``; the source defaults to the input file's absolute path, so
re-producing the same file gives the same ids (the sink drops the repeats) and two files never
share ids. ``--source NAME`` makes ids ``NAME:<line>``. Stdin without ``--source`` gets ids
unique per run (``stdin:<run id>:<line>``); pass ``--source`` to make them deterministic.

Exit codes: 0 all produced; 1 some input rejected, or a read error mid-file (truncated gzip:
everything before it is produced, the error is reported as ``file:line: reason``); 2 usage or
configuration error (bad flag or variable, Redis refused the credentials or has no such
database, input file could not be opened, a CSV header naming a column twice, a multi-line JSON
document given as JSON Lines: nothing of that file is produced); 3 Redis unreachable
after ``--connect-timeout``; 4 backpressure timeout (``--max-block``); 128+signal (130 SIGINT,
143 SIGTERM) interrupted.
On a terminal a progress bar shows events, events/s, backlog and time blocked. At the end one
line of JSON goes to stdout: ``produced, rejected, bytes, seconds, blocked_s, blocks`` (and a few
more counters). SIGINT/SIGTERM: finish the current batch (or stop waiting on backpressure),
print the summary with ``"interrupted": true`` and exit 128+signal; a second signal exits at
once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from types import FrameType
from typing import IO, Any

import redis
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ingest import codec, logs, metrics, otel_setup
from ingest.admission import AdmissionUnavailable
from ingest.connection import sync_client, wait_until_reachable
from ingest.errors import BackpressureTimeout, ConfigError, EventTooLarge, RedisUnavailable
from ingest.helptext import plain_help
from ingest.producer import Producer, ProducerStopped
from ingest.settings import PRODUCER_CLI_OPTIONS, ProducerSettings, add_options
from ingest.sources import InputError, Numbered, Reject, read_file, synthetic

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_BACKPRESSURE = 0, 1, 2, 3, 4


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would sys.exit(2) itself
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (values stay text until :meth:`ProducerSettings.from_sources`)."""
    parser = _Parser(
        prog="python -m ingest.produce",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, PRODUCER_CLI_OPTIONS)
    return parser


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


def records(settings: ProducerSettings, stdin: IO[bytes] | None) -> Iterator[Numbered]:
    """The input as ``(line, Event | Reject)`` pairs."""
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
        stdin=stdin,
    )


class Run:
    """One run of the CLI: feeds records to the producer, reports rejects and progress."""

    def __init__(
        self,
        producer: Producer,
        settings: ProducerSettings,
        stop: StopFlag,
        rejects: IO[str] | None,
        progress: Progress | None,
    ) -> None:
        self.producer, self.settings, self.stop = producer, settings, stop
        self.rejects_file, self.progress = rejects, progress
        self.started = time.monotonic()
        self.interrupted = False
        self.task = None
        if progress is not None:
            self.task = progress.add_task(
                "producing", total=settings.synthetic, rate=0.0, backlog=0, blocked=0.0
            )
            # While blocked on backpressure no batch completes: refresh on each backoff step.
            producer.on_wait = self.show

    def reject(self, reject: Reject) -> None:
        """Report one malformed record (stderr and ``--rejects``) and count it."""
        self.producer.stats.rejected += 1
        print(str(reject), file=sys.stderr)
        if self.rejects_file is not None:
            self.rejects_file.write(f"{reject}\n")

    def feed(self, items: Iterator[Numbered]) -> None:
        """Send every record; stops early when a stop is asked for."""
        pacer = Pacer(self.settings.rate) if self.settings.rate else None
        name = self.settings.input or "synthetic"
        for count, (line, record) in enumerate(items, start=1):
            if self.stop.is_set():
                self.interrupted = True
                break
            if isinstance(record, Reject):
                self.reject(record)
                continue
            if pacer is not None:
                pacer.pace()
            try:
                self.producer.send(record)
            except ConfigError:
                raise  # Redis refused the credentials: not this record's fault
            except (EventTooLarge, TypeError, ValueError) as exc:
                self.reject(Reject(name, line, str(exc)))
            if count % 500 == 0:
                self.show()
        self.producer.close()
        self.show()

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

    def summary(self) -> dict[str, Any]:
        """The end-of-run summary (one JSON line)."""
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
            "interrupted": self.interrupted,
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


def _install(stop: StopFlag) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}


def _settings(argv: list[str] | None, environ: Mapping[str, str]) -> ProducerSettings:
    args = build_parser().parse_args(argv)
    settings = ProducerSettings.from_sources(args, environ)
    if settings.input is None and settings.synthetic is None:
        raise _UsageError("give --input PATH (or - for stdin) or --synthetic N")
    return settings


def main(
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
) -> int:
    """Run the producer CLI; returns the exit code (see module docstring)."""
    try:
        settings = _settings(argv, os.environ if environ is None else environ)
    except (_UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        logs.configure_logging(settings.log_level, fmt=settings.log_format)
        shutdown_otel = otel_setup.configure_otel("ingest-producer")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = StopFlag()
    previous = _install(stop)
    try:
        return _run(settings, stop, stdin)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutdown_otel()


def _run(settings: ProducerSettings, stop: StopFlag, stdin: IO[bytes] | None) -> int:
    client = sync_client(settings.redis)
    try:
        wait_until_reachable(client, settings.redis)
        producer = Producer(client, settings, should_stop=stop.is_set)
        producer.prepare()
        instruments = metrics.register_producer_metrics(producer.stats, stream=settings.stream)
        if instruments is not None:
            producer.on_blocked = instruments.blocked
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ConfigError, AdmissionUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with ExitStack() as stack:
        rejects = (
            stack.enter_context(open(settings.rejects, "w", encoding="utf-8"))
            if settings.rejects
            else None
        )
        progress = make_progress()
        if progress is not None:
            stack.enter_context(progress)
        run = Run(producer, settings, stop, rejects, progress)
        code = _feed(run, settings, stdin)
    print(codec.dumps(run.summary()), flush=True)
    client.close()
    if run.interrupted:
        # A partial run must not look like success: the shell convention for a signal.
        return 128 + (stop.signum or signal.SIGINT)
    return code


def _feed(run: Run, settings: ProducerSettings, stdin: IO[bytes] | None) -> int:
    try:
        run.feed(records(settings, stdin))
    except BackpressureTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BACKPRESSURE
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ProducerStopped:
        run.interrupted = True
    except (InputError, ConfigError) as exc:  # ConfigError: credentials refused on a reconnect
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # could not open the input (read errors mid-file are rejects)
        print(f"error: reading {settings.input}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except redis.RedisError as exc:
        print(f"error: Redis at {settings.redis.safe_url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return EXIT_REJECTED if run.producer.stats.rejected else EXIT_OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
