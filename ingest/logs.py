"""Logging set-up for the CLIs (standard ``logging``). Library modules only get loggers.

What :func:`configure_logging` installs on the root logger, one handler on stderr:

* **Format.** JSON lines when stderr is not a terminal (one object per record: ``ts``,
  ``level``, ``logger``, ``message``, then any ``extra=`` fields such as ``event_id``,
  ``entry_id``, ``trace_id``, ``span_id``, ``suppressed``, and ``exc`` with the traceback);
  readable lines on a terminal. ``INGEST_LOG_FORMAT=json|text|auto`` overrides the choice.
* **Trace context.** Records logged inside a recording OpenTelemetry span get its
  ``trace_id`` (32 hex digits) and ``span_id`` (16 hex digits), so a log line leads to its
  trace in Jaeger.
* **Redaction.** Every formatted line passes through :func:`redact_text` (defined in
  :mod:`ingest.settings` with ``redact_url``, re-exported here), so a Redis password never
  reaches the output, whether it sits in the user:password part or a ``password=`` query
  parameter, in the message, its arguments, an ``extra`` field or an exception's text.
* **No log storm.** :class:`RepeatFilter` lets through at most ``burst`` records of the same
  kind (logger, level, message template, exception type) per ``interval_s`` window, at
  WARNING and above; the first record of the next window carries ``suppressed=N``. Counts
  still held at exit are logged once then, with the last suppressed record's message
  (``4 similar records suppressed before exit; the last: <message>``).

Per-event records pass ``extra={"event_id": ..., "entry_id": ...}`` (names in
:data:`EVENT_ID` and :data:`ENTRY_ID`). Per-event logging belongs at DEBUG: a line per event at
INFO costs a worker a measurable share of its CPU.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from ingest.display import json_text, visible
from ingest.errors import ConfigError
from ingest.settings import LOG_FORMAT_OPTION, LOG_FORMATS
from ingest.settings import redact_text as redact_text  # re-exported: one implementation

EVENT_ID = "event_id"
ENTRY_ID = "entry_id"
TRACE_ID = "trace_id"
SPAN_ID = "span_id"
SUPPRESSED = "suppressed"

LOG_FORMAT_ENV = LOG_FORMAT_OPTION.env or "INGEST_LOG_FORMAT"

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def span_fields(span: trace.Span | None) -> dict[str, str]:
    """``{"trace_id": ..., "span_id": ...}`` of ``span`` for a record's ``extra``, or ``{}``
    when there is no recording span (tracing off). For records about an entry whose span is
    not the current one (per-event records logged after a batch)."""
    if span is None:
        return {}
    context = span.get_span_context()
    if not context.is_valid:
        return {}
    return {TRACE_ID: format(context.trace_id, "032x"), SPAN_ID: format(context.span_id, "016x")}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO 8601 UTC, ms), ``level``, ``logger``,
    ``message``, the record's ``extra`` fields, and ``exc``/``stack`` when present.

    Values that are not JSON types are written with ``str()``. Bytes that are not UTF-8 show
    as ``\\xNN`` (:func:`ingest.display.json_text`), so the line stays valid UTF-8. The line
    is redacted.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exc_type"] = getattr(record.exc_info[0], "__name__", None)
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # Compact, as the README shows it: a few percent fewer bytes on every line. json_text
        # keeps the line valid UTF-8 (bytes that are not UTF-8 in a value show as \xNN) and
        # escapes what JSON leaves raw (DEL, C1 controls, bidi overrides).
        line = json_text(out, default=str, separators=(",", ":"))
        return redact_text(line)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal: ``12:00:01.234 WARNING workers.runner: message
    event_id=... entry_id=... (7 similar suppressed)``, then any traceback. Redacted.

    Stream content is data, never control: the message (its arguments included) and every
    ``extra`` key and value pass through :func:`ingest.display.visible`, so a newline, an ANSI
    escape, a bidi override or a byte that is not UTF-8 shows as ``\\n``, ``\\x1b``,
    ``\\u202e``, ``\\xff`` and cannot start a forged line. A traceback keeps its line breaks
    but each of its lines is escaped the same way and indented by two spaces, so every line
    that starts at column 0 is the head of a record.
    """

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"
        )

    def format(self, record: logging.LogRecord) -> str:
        record.message = visible(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        extras = _extras(record)
        suppressed = extras.pop(SUPPRESSED, None)
        extras.pop(SPAN_ID, None)
        if extras:
            line += " " + " ".join(
                f"{visible(str(key))}={visible(str(value))}" for key, value in extras.items()
            )
        if suppressed:
            line += f" ({suppressed} similar suppressed)"
        return redact_text(line + self._continuation(record))

    def _continuation(self, record: logging.LogRecord) -> str:
        """The traceback and stack of ``record``, each line escaped and indented."""
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        blocks = [record.exc_text or "", self.formatStack(record.stack_info or "")]
        lines = [part for block in blocks if block for part in block.split("\n")]
        return "".join(f"\n  {visible(part)}" for part in lines)


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` of the current recording span to each record.

    Records that already carry a ``trace_id`` (passed via ``extra``) are left alone. Outside a
    span, or with tracing off, nothing is added.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, TRACE_ID, None) is None:
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                setattr(record, TRACE_ID, format(context.trace_id, "032x"))
                setattr(record, SPAN_ID, format(context.span_id, "016x"))
        return True


@dataclass(slots=True)
class _Window:
    start: float
    count: int = 0
    suppressed: int = 0
    last_message: str = ""
    """The last suppressed record's formatted message (for the report at exit)."""


class RepeatFilter(logging.Filter):
    """Rate-limits repeating records so an outage (Redis down) does not flood the log.

    Records at ``min_level`` or above are grouped by (logger, level, message template,
    exception type). Per group, at most ``burst`` records pass per ``interval_s`` window; the
    rest are counted and dropped, and the first record of a later window carries
    ``suppressed=N``. A record passed with ``extra={"rate_limit": False}`` always passes.

    Args:
        interval_s: window length in seconds (default 30).
        burst: records let through per window and group (default 3).
        min_level: lowest level that is rate-limited (default WARNING; per-event DEBUG/INFO
            records differ only in their arguments and must all pass).
        clock: monotonic seconds (injectable for tests).
        max_groups: groups remembered; the least recently seen is forgotten first.
    """

    def __init__(
        self,
        interval_s: float = 30.0,
        burst: int = 3,
        *,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_groups: int = 1024,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.burst = burst
        self.min_level = min_level
        self._clock = clock
        self._max_groups = max_groups
        self._windows: OrderedDict[tuple[str, int, str, str], _Window] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level or getattr(record, "rate_limit", True) is False:
            return True
        exc_type = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, record.levelno, str(record.msg), exc_type)
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval_s:
                carried = window.suppressed if window is not None else 0
                self._windows[key] = _Window(start=now, count=1)
                self._windows.move_to_end(key)
                if len(self._windows) > self._max_groups:
                    self._windows.popitem(last=False)
                if carried:
                    setattr(record, SUPPRESSED, carried)
                return True
            window.count += 1
            if window.count <= self.burst:
                return True
            window.suppressed += 1
            window.last_message = _message_of(record)
            return False

    def drain(self) -> list[tuple[str, int, str, int]]:
        """Return and reset ``(logger, level, last suppressed message, suppressed)`` of every
        group that still holds a count of dropped records; the message is the last dropped
        record's, formatted with its arguments."""
        with self._lock:
            held = [
                (k[0], k[1], w.last_message, w.suppressed)
                for k, w in self._windows.items()
                if w.suppressed
            ]
            for window in self._windows.values():
                window.suppressed = 0
        return held


def _message_of(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or the bare template when its arguments do not fit (logging
    itself would report that error when the record is emitted; a filter must not raise)."""
    try:
        return record.getMessage()
    except Exception:  # any formatting error of a caller's arguments
        return str(record.msg)


_HANDLER_MARK = "_ingest_handler"


def _choose_format(fmt: str | None, stream: TextIO, environ: Mapping[str, str]) -> str:
    chosen = fmt if fmt is not None else environ.get(LOG_FORMAT_ENV, "auto")
    if chosen not in LOG_FORMATS:
        allowed = ", ".join(LOG_FORMATS)
        raise ConfigError(f"{LOG_FORMAT_OPTION.label} = {chosen!r}: must be one of {allowed}")
    if chosen == "auto":
        isatty = getattr(stream, "isatty", None)
        return "text" if isatty is not None and isatty() else "json"
    return chosen


def configure_logging(
    level: str = "INFO",
    *,
    fmt: str | None = None,
    stream: TextIO | None = None,
    repeat_filter: RepeatFilter | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Configure the root logger for a CLI process at ``level`` (``DEBUG``, ``INFO``, ...).

    Replaces a handler installed by an earlier call (idempotent). Call it once at start, in
    the process that logs (after any fork).

    Args:
        level: root level name, any case.
        fmt: ``json``, ``text`` or ``auto`` (text on a terminal); default from
            ``INGEST_LOG_FORMAT``, else ``auto``.
        stream: where lines go; default ``sys.stderr``.
        repeat_filter: the rate limiter to use (tests pass one with a fake clock); default a
            :class:`RepeatFilter` with 30 s windows and bursts of 3.
        environ: where ``INGEST_LOG_FORMAT`` is read; default ``os.environ``.

    Raises:
        ConfigError: an unknown level or format, naming it.
    """
    target = stream if stream is not None else sys.stderr
    chosen = _choose_format(fmt, target, os.environ if environ is None else environ)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"log level {level!r}: must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(target)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    limiter = repeat_filter if repeat_filter is not None else RepeatFilter()
    handler.addFilter(limiter)
    handler.addFilter(TraceContextFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    if not _active_limiters:
        atexit.register(_report_suppressed)
    _active_limiters[:] = [limiter]


_active_limiters: list[RepeatFilter] = []


def _report_suppressed() -> None:
    for name, level, message, count in (held for f in _active_limiters for held in f.drain()):
        logging.getLogger(name).log(
            level,
            "%s similar records suppressed before exit; the last: %s",
            count,
            message,
            extra={"rate_limit": False, SUPPRESSED: count},
        )
