"""``python -m ingest.produce``: send a file (or synthetic readings) to the stream.

Event ids: ``<source>:<line>:<digest>`` (the line a record starts on, and 8 hex digits of a
digest of its bytes); the source defaults to the input file's absolute path. Producing the same
content again gives the same ids (the sink drops the repeats), new content at the same path new
ids, and two files never share ids. ``--source NAME`` makes ids ``NAME:<line>:<digest>``; with
``--id-field F`` they are ``<source>:<value of F>`` (``--raw-ids``: the bare value). Stdin
without ``--source`` gets ids unique per run (``stdin:<run id>:...``).

A bad record never stops the run: whatever reading or encoding it raises, it is reported as
``file:line: reason`` (stderr) and counted. Lines longer than ``--max-event-bytes`` (plus 64
KiB) are skipped without being read whole. ``--rejects FILE`` writes the rejected records as
read to FILE (to fix and produce again: the command is printed at the end) and why to
FILE.reasons. Stdin (or an unknown extension) without ``--format`` is read as JSON Lines when
its first 5 non-blank lines look like it (said on stderr), else as lines.
CSV values are strings unless ``--csv-types`` types them. ``--id-field`` takes a path
(``customer.id``).

Exit codes:
  0    every record produced
  1    some records rejected, or a read error mid-file (everything before it produced)
  2    usage or configuration error (bad flag or variable, Redis refused the credentials or
       has no such database, input file could not be opened, --rejects cannot be created
       or is the input, a CSV header naming a column twice or lacking the --id-field or a
       --csv-types column, a multi-line JSON document given as JSON Lines: nothing of that
       file produced)
  3    Redis unreachable after --connect-timeout, or refusing for that long (LOADING, BUSY,
       READONLY from a replica or demoted primary, MASTERDOWN, TRYAGAIN, CLUSTERDOWN: each
       waited out with a log line meanwhile)
  4    backpressure timeout (--max-block); the message names what holds the backlog (a
       consumer group, the cap, Redis out of memory, or NOREPLICAS: too few replicas in sync
       for Redis' min-replicas-to-write)
  5    durable produce (--min-replicas): a batch reached fewer replicas than asked within
       --replica-timeout; the message names its lines, which are in the stream on the
       primary but may be lost in a failover; the run stops there
  70   internal error (a bug): what was read before it is sent (or the lines not sent are
       named), the summary is printed
  128+N  interrupted by signal N (130 SIGINT, 143 SIGTERM)
After exit 3, 4, 5, 70 or a signal, re-running the same command is safe (events already in
the stream keep their ids; the sink skips repeats), and ``--from-line N`` resumes where the
run stopped (the error message and the summary's ``resume_from_line`` give N).

Through Sentinel (``--redis-url redis+sentinel://host:26379,.../<service>``) a failover is
followed: the batch in flight is re-sent to the new primary (idempotently), one log line and
the summary's ``failovers`` say so.

On a terminal a progress bar shows events, events/s, backlog and time blocked. At the end one
line of JSON goes to stdout: ``produced, rejected, bytes, seconds, blocked_s, blocks, batches,
oom_waits, retries, already_in_stream, skipped, interrupted, resume_from_line, failovers,
replica_waits, not_durable``.
SIGINT/SIGTERM: finish the current batch (or stop waiting on backpressure), print the summary
with ``"interrupted": true`` and exit 128+signal; a second signal exits at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from typing import IO, Any

import redis

from ingest import codec, logs, metrics, otel_setup
from ingest.admission import AdmissionUnavailable
from ingest.connection import sync_client, wait_until_reachable
from ingest.errors import BackpressureTimeout, ConfigError, NotDurable, RedisUnavailable, Refused
from ingest.feeding import Pacer, Run, StopFlag, make_progress, records
from ingest.helptext import plain_help
from ingest.producer import Producer, ProducerStopped
from ingest.records import InputError
from ingest.rejects import open_rejects
from ingest.settings import PRODUCER_CLI_OPTIONS, ProducerSettings, add_options

__all__ = ["Pacer", "Run", "StopFlag", "build_parser", "main", "make_progress", "run"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_BACKPRESSURE = 0, 1, 2, 3, 4
EXIT_NOT_DURABLE = 5
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE


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


def _refused_code(exc: Refused) -> int:
    # NOREPLICAS and OOM hold writes back like backpressure; the rest is unavailability.
    return EXIT_BACKPRESSURE if exc.budget == "block" else EXIT_UNREACHABLE


def _run(settings: ProducerSettings, stop: StopFlag, stdin: IO[bytes] | None) -> int:
    client = sync_client(settings.redis, block_s=settings.max_block_s)
    try:
        wait_until_reachable(client, settings.redis)
        producer = Producer(client, settings, should_stop=stop.is_set)
        producer.prepare()
        instruments = metrics.register_producer_metrics(producer.stats, stream=settings.stream)
        if instruments is not None:
            producer.on_blocked = instruments.blocked
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _refused_code(exc)
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ConfigError, AdmissionUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with ExitStack() as stack:
        try:
            rejects = open_rejects(settings)
        except (ConfigError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            client.close()
            return EXIT_USAGE
        if rejects is not None:
            stack.enter_context(rejects)
        progress = make_progress()
        if progress is not None:
            stack.enter_context(progress)
        run = Run(producer, settings, stop, rejects, progress)
        code = _feed(run, settings, stdin)
        if hint := run.refeed_hint():
            print(hint, file=sys.stderr)
    print(codec.dumps(summary(run, finished=code in (EXIT_OK, EXIT_REJECTED))), flush=True)
    client.close()
    return code


def summary(run: Run, finished: bool) -> dict[str, Any]:
    """The end-of-run summary (:meth:`Run.summary`) with the HA counters: ``failovers``
    (Sentinel), ``replica_waits`` (NOREPLICAS waited out) and ``not_durable`` (entries of a
    batch too few replicas acknowledged)."""
    stats = run.producer.stats
    found = run.summary(finished=finished)
    found.update(
        failovers=stats.failovers, replica_waits=stats.replica_waits, not_durable=stats.not_durable
    )
    return found


def resume_hint(run: Run) -> str:
    """What to do after a run that stopped early: re-running is safe, and where to resume."""
    settings = run.settings
    if settings.input is None:
        return "synthetic events get new ids on every run: re-running sends them again"
    if settings.input == "-" and settings.source is None:
        return (
            "stdin without --source gets new ids on every run: give the same --source to make "
            f"a re-run safe, and --from-line {run.resume_line} to resume"
        )
    return (
        "re-running the same command is safe (events already in the stream keep their ids "
        "and the sink skips repeats); to resume where this run stopped, add --from-line "
        f"{run.resume_line}"
    )


def _stopped(run: Run, message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    print(f"  {resume_hint(run)}", file=sys.stderr)
    return code


def _feed(run: Run, settings: ProducerSettings, stdin: IO[bytes] | None) -> int:
    try:
        run.feed(records(settings, stdin, run.read_in))
    except BackpressureTimeout as exc:
        return _stopped(run, str(exc), EXIT_BACKPRESSURE)
    except Refused as exc:
        return _stopped(run, str(exc), _refused_code(exc))
    except RedisUnavailable as exc:
        return _stopped(run, str(exc), EXIT_UNREACHABLE)
    except NotDurable as exc:
        return _stopped(run, f"{_lines(run)}: {exc}", EXIT_NOT_DURABLE)
    except ProducerStopped:
        run.interrupted = True
    except (InputError, ConfigError) as exc:  # ConfigError: credentials refused on a reconnect
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # could not open the input (read errors mid-file are rejects)
        print(f"error: reading {settings.input}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except redis.RedisError as exc:
        return _stopped(run, f"Redis at {settings.redis.safe_url}: {exc}", EXIT_UNREACHABLE)
    except Exception as exc:  # a bug, not a record: send what was read, then say so
        return _internal(run, exc)
    if run.interrupted:
        # A partial run must not look like success: the shell convention for a signal.
        print(f"interrupted: {resume_hint(run)}", file=sys.stderr)
        return 128 + (run.stop.signum or signal.SIGINT)
    return EXIT_REJECTED if run.producer.stats.rejected else EXIT_OK


def _lines(run: Run) -> str:
    """``lines 501-1000 of data.csv`` for the events not known to be in the stream durably."""
    lines = run.unsent_lines
    if not lines:
        return f"the last batch of {run.name}"
    return f"lines {lines[0]}-{lines[-1]} of {run.name}"


def _internal(run: Run, exc: Exception) -> int:
    """Exit 70 after an unexpected error: flush what was read, or name the lines not sent."""
    log.error("internal error after line %s of %s", run.last_line, run.name, exc_info=exc)
    where = f"internal error after line {run.last_line} of {run.name}: {type(exc).__name__}"
    try:
        run.flush()
    except Exception as again:  # the batch could not be sent either: name its lines
        lines = run.unsent_lines
        sent = f"lines {lines[0]}-{lines[-1]} were read but not sent ({again})" if lines else ""
        return _stopped(run, f"{where}: {exc}; {sent or 'nothing unsent'}", EXIT_INTERNAL)
    return _stopped(run, f"{where}: {exc}; everything read before it was sent", EXIT_INTERNAL)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
