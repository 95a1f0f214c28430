"""``python -m workers``: run one worker process.

Exit codes: 0 after a graceful stop (or a finished ``--burst``); 1 when a loop failed, every
handler slot was stuck past ``--handler-timeout``, the group could not be created, the consumer
name is taken, or the group vanished with ``--on-missing-group=exit``; 2 for a usage or
configuration error (a handler that cannot be loaded included); 3 when Redis stayed
unreachable for ``--connect-timeout``. A second SIGTERM/SIGINT exits at once with 128+signal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry

from ingest.connection import async_client
from ingest.errors import ConfigError, RedisUnavailable
from ingest.library import AdmissionUnavailable
from ingest.logs import JsonFormatter, configure_logging
from ingest.otel_setup import configure_otel
from ingest.settings import add_options, label
from workers import handlers, loading, observability, sinks
from workers.errors import WorkerError
from workers.runner import Runner
from workers.settings import WORKER_OPTIONS, WorkerSettings
from workers.systemd import Notifier

log = logging.getLogger("workers")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option also reads its ``INGEST_*`` variable)."""
    parser = argparse.ArgumentParser(
        prog="python -m workers",
        description="Consume a Redis stream in a consumer group: at-least-once, with claims "
        "of idle entries, retries and a dead-letter stream.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, WORKER_OPTIONS)
    return parser


EXIT_CODES = """exit codes:
  0           graceful stop (SIGTERM/SIGINT) or a finished --burst
  1           a worker loop failed, every handler slot was stuck past --handler-timeout,
              the group could not be created, the consumer name is in use, or the group
              vanished with --on-missing-group=exit
  2           usage or configuration error (a --handler that cannot be loaded included)
  3           Redis unreachable for --connect-timeout at start
  128+signal  a second SIGTERM/SIGINT: exit at once"""


def check_sink(settings: WorkerSettings) -> None:
    """Refuse a ``--sink`` that cannot be written (only when no ``--handler`` replaces it).

    Raises:
        ConfigError: naming ``--sink / INGEST_SINK``, the value and the reason.
    """
    if settings.handler:
        return
    try:
        sinks.check_url(settings.sink)
    except ValueError as exc:
        raise ConfigError(f"{label(WORKER_OPTIONS, 'sink')} = {settings.sink!r}: {exc}") from None


def load_handler(settings: WorkerSettings, executor: ThreadPoolExecutor) -> handlers.LoadedHandler:
    """The ``--handler``, or the ``--sink`` when none is given.

    Raises:
        ConfigError: the handler cannot be loaded (see :func:`workers.loading.load`) or the
            sink's database cannot be opened.
    """
    if settings.handler:
        context = loading.HandlerContext(settings, executor)
        return loading.load(settings.handler, executor, context)
    try:
        sink = sinks.from_url(settings.sink)
    except ValueError as exc:
        raise ConfigError(f"{label(WORKER_OPTIONS, 'sink')} = {settings.sink!r}: {exc}") from None
    return handlers.wrap(sink, executor, settings.sink)


def _install_signals(runner: Runner) -> None:
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) > 1:
            sys.stderr.write(f"second signal {signum}: exiting at once\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        log.info("signal %d: stopping gracefully (send again to exit at once)", signum)
        runner.request_stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def serve(
    settings: WorkerSettings, notifier: Notifier, registry: CollectorRegistry | None = None
) -> tuple[int, Runner]:
    """Build the client, handler and runner; run until stopped. Returns (exit code, runner).

    ``registry`` is what ``--http-port`` serves as ``/metrics`` (see :mod:`workers.observability`).
    """
    executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="handler")
    handler = load_handler(settings, executor)
    client = async_client(settings.redis)
    runner = Runner(settings, handler, client, executor, notifier=notifier)
    _install_signals(runner)
    telemetry = observability.WorkerObservability(settings, runner, registry)
    try:
        telemetry.start()
        code = await runner.run()
    finally:
        telemetry.close()
        await client.aclose()
        executor.shutdown(wait=False, cancel_futures=True)
        handler.close()
    return code, runner


def summary(runner: Runner) -> dict[str, object]:
    """One-line JSON summary printed at exit (counters, sink counts when the sink ran)."""
    out: dict[str, object] = {"consumer": runner.settings.consumer, **runner.stats.as_dict()}
    target = runner.handler.target
    for name in ("inserted", "duplicates"):
        if hasattr(target, name):
            out[name] = getattr(target, name)
    return out


def _error(message: str) -> None:
    """One line on stderr: a JSON log record when the logs are JSON (so every line of a JSON
    run parses), else ``error: <message>``."""
    if any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers):
        log.error("%s", message)
    else:
        print(f"error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one worker; returns the exit code (see module docstring)."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    try:
        settings = WorkerSettings.from_sources(args, env)
        check_sink(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    readers, registry = observability.metric_readers(settings)
    try:
        configure_logging(settings.log_level, fmt=settings.log_format)
        shutdown_otel = configure_otel("ingest-worker", metric_readers=readers)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    notifier = Notifier(env)
    code = 1
    try:
        code, runner = asyncio.run(serve(settings, notifier, registry))
        print(json.dumps(summary(runner)), flush=True)
    except (ConfigError, AdmissionUnavailable) as exc:
        _error(str(exc))
        code = 2
    except RedisUnavailable as exc:
        _error(str(exc))
        code = 3
    except WorkerError as exc:
        _error(str(exc))
        code = 1
    finally:
        shutdown_otel()
        notifier.close()
    return code


def run() -> None:
    """Console entry point: exit with :func:`main`'s code.

    Handler threads still running after ``--shutdown-timeout`` are abandoned (``os._exit``
    after flushing), since Python would otherwise wait for them at exit.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
