"""Handlers for worker tests, loaded with ``--handler tests.workers.sample_handlers:NAME``.

Configured through environment variables so subprocess workers can use them:
``TEST_RECORD`` (a file each handled event ID is appended to), ``TEST_SLEEP_S`` (seconds a
handler takes), ``TEST_DB`` (SQLite file for the flaky sink), ``TEST_OUTAGE`` (while this
file exists the flaky sink raises TransientError), ``TEST_STARTED`` (a file the slow handler
appends to when it starts an event).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ingest.codec import Event
from workers.errors import TransientError
from workers.sinks.sqlite import SqliteSink


def _append(var: str, text: str) -> None:
    path = os.environ.get(var)
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")


async def record(event: Event) -> None:
    """Append the event ID to TEST_RECORD after TEST_SLEEP_S seconds (async per-event)."""
    _append("TEST_STARTED", event.event_id)
    await asyncio.sleep(float(os.environ.get("TEST_SLEEP_S", "0")))
    _append("TEST_RECORD", event.event_id)


def record_sync(event: Event) -> None:
    """Like :func:`record`, blocking (runs in the thread pool)."""
    import time

    _append("TEST_STARTED", event.event_id)
    time.sleep(float(os.environ.get("TEST_SLEEP_S", "0")))
    _append("TEST_RECORD", event.event_id)


def always_fails(event: Event) -> None:
    """A poison handler: every call raises (a transient-looking error)."""
    _append("TEST_RECORD", event.event_id)
    raise RuntimeError(f"cannot handle {event.event_id}")


class FlakySink(SqliteSink):
    """SQLite sink at TEST_DB that is 'down' while the file TEST_OUTAGE exists."""

    def __init__(self) -> None:
        super().__init__(os.environ["TEST_DB"])

    def handle_batch(self, events: list[Event]) -> list[BaseException | None]:  # type: ignore[override]
        outage = os.environ.get("TEST_OUTAGE")
        if outage and Path(outage).exists():
            raise TransientError("sink is down")
        return super().handle_batch(events)


def crash_on(event: Event) -> None:
    """Kill this process (``os._exit(17)``, no cleanup, like SIGKILL or an OOM kill) when the
    event ID is TEST_CRASH_ON; record every other event in TEST_RECORD."""
    if event.event_id == os.environ.get("TEST_CRASH_ON"):
        os._exit(17)
    _append("TEST_RECORD", event.event_id)


def hang_on(event: Event) -> None:
    """Block for TEST_HANG_S seconds (sync, in the thread pool) when the event ID is
    TEST_HANG_ON; record every other event in TEST_RECORD."""
    import time

    if event.event_id == os.environ.get("TEST_HANG_ON"):
        _append("TEST_STARTED", event.event_id)
        time.sleep(float(os.environ.get("TEST_HANG_S", "3600")))
    _append("TEST_RECORD", event.event_id)


async def stamp(event: Event) -> None:
    """Append ``<unix time> <event ID>`` to TEST_STAMPED at the start, then sleep TEST_SLEEP_S
    seconds (async per-event)."""
    import time

    _append("TEST_STAMPED", f"{time.time():.3f} {event.event_id}")
    await asyncio.sleep(float(os.environ.get("TEST_SLEEP_S", "0")))
