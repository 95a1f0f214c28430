"""The embedded default sink: an idempotent SQLite table ``events`` keyed by ``event_id``.

Writes are ``INSERT ... ON CONFLICT(event_id) DO NOTHING``, a whole batch per transaction,
in WAL mode with a busy timeout, so several worker processes can write the same file
(https://www.sqlite.org/wal.html: one writer at a time, writers wait up to the busy timeout).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace

from ingest import telemetry
from ingest.codec import Event, dumps, now_ms
from workers.errors import PermanentError, TransientError

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id       TEXT PRIMARY KEY,
    source         TEXT NOT NULL,
    type           TEXT NOT NULL,
    produced_at_ms INTEGER NOT NULL,
    payload        TEXT NOT NULL,
    stored_at_ms   INTEGER NOT NULL
)
"""

INSERT = (
    "INSERT INTO events (event_id, source, type, produced_at_ms, payload, stored_at_ms) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING"
)

BUSY_TIMEOUT_S = 30.0


class SqliteSink:
    """Batch handler writing events into ``events`` at ``path``; safe across processes.

    Attributes:
        path: the database file.
        inserted: events written so far (this process).
        duplicates: events skipped because their ``event_id`` was already stored.

    ``handle_batch`` returns per-event outcomes: a batch that fails on one event is split in
    halves until that event is found, so its neighbours are stored. Database-wide errors
    (locked, I/O) raise :class:`TransientError` for the whole batch; an event SQLite rejects
    gets :class:`PermanentError`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.inserted = 0
        self.duplicates = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connection()  # create the table now: a bad path fails at start
        self._span_attributes = {
            telemetry.DB_SYSTEM_NAME: "sqlite",
            telemetry.DB_NAMESPACE: self.path,
            telemetry.DB_OPERATION_NAME: "INSERT",
            telemetry.DB_COLLECTION_NAME: "events",
        }

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        # Switching to WAL takes an exclusive lock and SQLite's busy handler does not always
        # wait for it, so two processes opening a new file at once retry here.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(SCHEMA)
                return conn
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    conn.close()
                    raise
                time.sleep(0.05)

    def handle_batch(self, events: Sequence[Event]) -> list[BaseException | None]:
        """Store ``events`` (one transaction); returns one outcome per event.

        Raises:
            TransientError: the database is locked or unavailable (retry later).
        """
        conn = self._connection()
        outcomes: list[BaseException | None] = [None] * len(events)
        # A child of the current span (a delivery's process span) when tracing is on.
        with telemetry.get_tracer().start_as_current_span(
            "INSERT events", kind=trace.SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            self._write(conn, list(range(len(events))), events, outcomes)
            span.set_attribute(telemetry.DB_OPERATION_BATCH_SIZE, len(events))
        return outcomes

    def _write(
        self,
        conn: sqlite3.Connection,
        index: list[int],
        events: Sequence[Event],
        outcomes: list[BaseException | None],
    ) -> None:
        stored = now_ms()
        rows = [self._row(events[i], stored) for i in index]
        try:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback(conn)
            raise TransientError(f"sqlite {self.path}: {exc}") from exc
        except (sqlite3.Error, TypeError, ValueError, OverflowError) as exc:
            self._rollback(conn)
            if len(index) == 1:
                outcomes[index[0]] = PermanentError(f"sqlite rejected the event: {exc}")
                return
            middle = len(index) // 2
            self._write(conn, index[:middle], events, outcomes)
            self._write(conn, index[middle:], events, outcomes)
            return
        inserted = conn.total_changes - before
        with self._lock:
            self.inserted += inserted
            self.duplicates += len(index) - inserted

    @staticmethod
    def _row(event: Event, stored_at_ms: int) -> tuple[object, ...]:
        payload = event.data
        if not payload:
            payload = dumps(event.payload)
        return (
            event.event_id,
            event.source,
            event.type,
            event.produced_at_ms,
            payload,
            stored_at_ms,
        )

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def count(self) -> int:
        """Rows in ``events`` (a query; for tests and summaries)."""
        return int(self._connection().execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        """Close every connection this sink opened."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
