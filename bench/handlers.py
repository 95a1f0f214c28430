"""Handlers the benchmark runs in ``python -m workers --handler bench.handlers:<name>``.

All are batch handlers (``handle_batch``), the shape a sink has, so the worker makes one
handler call per batch it reads. All are ``async`` and do no I/O worth a thread, so the worker
runs them on its event loop: what is measured is the pipeline around the handler, not a thread
hop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

from ingest.codec import Event

LATENCY_FILE_ENV = "BENCH_LATENCY_FILE"


class Noop:
    """Does nothing with each batch: what is measured is the pipeline around it."""

    async def handle_batch(self, events: Sequence[Event]) -> None:
        """Accept every event."""
        return


class Slow:
    """Holds each batch for a minute: a worker whose entries are all in flight when it is
    killed (``recovery``)."""

    async def handle_batch(self, events: Sequence[Event]) -> None:
        """Accept every event, after a minute."""
        await asyncio.sleep(60)


class Latency:
    """Appends ``handler start - produced_at_ms`` (ms, one per event) to a file.

    The file is named by ``BENCH_LATENCY_FILE``; one line of space-separated values per batch,
    written and flushed per batch so no exit path loses them. ``produced_at_ms`` is whole
    milliseconds (truncated), so each value reads up to 1 ms high (0.5 ms on average).
    """

    def __init__(self) -> None:
        self._file = open(os.environ[LATENCY_FILE_ENV], "a", encoding="ascii")  # noqa: SIM115

    async def handle_batch(self, events: Sequence[Event]) -> None:
        """Record the latency of each event of the batch at the moment the batch starts."""
        now = time.time() * 1000
        self._file.write(" ".join(f"{now - e.produced_at_ms:.3f}" for e in events) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (the worker calls this at shutdown)."""
        self._file.close()
