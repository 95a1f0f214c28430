"""Logging: JSON lines with event ids and trace ids, redaction, rate-limited repeats."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider

from ingest.errors import ConfigError
from ingest.logs import RepeatFilter, configure_logging, redact_text

SECRET = "s3cr3t-pw"  # noqa: S105 (a test password that must never be printed)
URL = f"redis://app:{SECRET}@redis.internal:6379/0"

pytestmark = pytest.mark.usefixtures("restore_logging")


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_record_carries_event_id_entry_id_and_trace_ids():
    # Given: JSON logging and a recording span (a local SDK provider, not the global one)
    stream = io.StringIO()
    configure_logging("DEBUG", fmt="json", stream=stream)
    tracer = TracerProvider().get_tracer("test")
    # When: a per-event record is logged inside the span
    with tracer.start_as_current_span("process") as span:
        logging.getLogger("workers.test").debug(
            "handled %s", "e-1", extra={"event_id": "buoy.csv:7", "entry_id": "1-0"}
        )
        context = span.get_span_context()
    # Then: one JSON object with the ids
    [record] = _lines(stream)
    assert record["message"] == "handled e-1"
    assert record["level"] == "DEBUG"
    assert record["logger"] == "workers.test"
    assert record["event_id"] == "buoy.csv:7"
    assert record["entry_id"] == "1-0"
    assert record["trace_id"] == format(context.trace_id, "032x")
    assert record["span_id"] == format(context.span_id, "016x")
    assert str(record["ts"]).endswith("Z")


def test_json_lines_are_compact_as_the_readme_shows_them():
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream)
    logging.getLogger("workers.test").info("a b: c", extra={"event_id": "x, y"})
    line = stream.getvalue().splitlines()[0]
    assert line.startswith('{"ts":"')
    assert '","level":"INFO","logger":"workers.test","message":"a b: c","event_id":"x, y"}' in line
    assert line == json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)


def test_record_outside_a_span_has_no_trace_id():
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream)
    logging.getLogger("x").info("plain")
    [record] = _lines(stream)
    assert "trace_id" not in record


def test_password_redacted_in_message_args_extra_and_exception():
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream)
    log = logging.getLogger("redaction")
    log.info("connecting to " + URL)  # noqa: G003 (the URL in the message text itself)
    log.warning("cannot reach %s", URL, extra={"url": URL})
    try:
        raise ConnectionError(f"Error connecting to {URL}")
    except ConnectionError:
        log.exception("failed")
    out = stream.getvalue()
    assert SECRET not in out
    assert out.count("redis://app:***@redis.internal:6379/0") >= 4
    assert len(_lines(stream)) == 3


def test_text_format_is_readable_and_redacted():
    stream = io.StringIO()
    configure_logging("INFO", fmt="text", stream=stream)
    logging.getLogger("workers.runner").warning(
        "lost %s", URL, extra={"event_id": "e-9", "entry_id": "5-0"}
    )
    line = stream.getvalue().strip()
    assert "WARNING workers.runner: lost redis://app:***@redis.internal:6379/0" in line
    assert "event_id=e-9 entry_id=5-0" in line
    assert SECRET not in line


def test_auto_format_picks_json_off_a_terminal_and_env_overrides():
    stream = io.StringIO()  # not a terminal
    configure_logging("INFO", stream=stream, environ={})
    logging.getLogger("a").info("one")
    assert json.loads(stream.getvalue())["message"] == "one"
    text = io.StringIO()
    configure_logging("INFO", stream=text, environ={"INGEST_LOG_FORMAT": "text"})
    logging.getLogger("a").info("two")
    assert text.getvalue().rstrip().endswith("INFO    a: two")


def test_bad_format_or_level_is_a_config_error():
    with pytest.raises(ConfigError, match="INGEST_LOG_FORMAT = 'xml'"):
        configure_logging("INFO", stream=io.StringIO(), environ={"INGEST_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="'LOUD'"):
        configure_logging("LOUD", fmt="json", stream=io.StringIO())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:pw@h", "rediss://user:***@h"),
        ("unix:///run/redis.sock?db=0&password=pw", "unix:///run/redis.sock?db=0&password=***"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("no url at all", "no url at all"),
        ("a redis://u:p@h b rediss://:q@k c", "a redis://u:***@h b rediss://:***@k c"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_repeating_error_is_logged_at_a_bounded_rate_with_its_count():
    # Given: a 10 s window letting 2 records through, and a fake clock
    now = [0.0]
    limiter = RepeatFilter(interval_s=10.0, burst=2, clock=lambda: now[0])
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream, repeat_filter=limiter)
    log = logging.getLogger("workers.runner")
    # When: Redis is down and the same error repeats 1000 times within the window
    for attempt in range(1000):
        log.error("redis unreachable (attempt %d)", attempt)
        now[0] += 0.005
    # Then: only the burst passed
    assert [r["message"] for r in _lines(stream)] == [
        "redis unreachable (attempt 0)",
        "redis unreachable (attempt 1)",
    ]
    # When: the next window opens
    now[0] = 11.0
    log.error("redis unreachable (attempt %d)", 1000)
    # Then: the first record of it carries the count of those dropped
    last = _lines(stream)[-1]
    assert last["message"] == "redis unreachable (attempt 1000)"
    assert last["suppressed"] == 998


def test_rate_limit_spares_info_records_and_other_messages():
    limiter = RepeatFilter(interval_s=10.0, burst=1, clock=lambda: 0.0)
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream, repeat_filter=limiter)
    log = logging.getLogger("w")
    for i in range(5):
        log.info("event %d done", i)
        log.warning("other %d", i, extra={"rate_limit": False})
    log.warning("first kind")
    log.warning("second kind")
    assert len(_lines(stream)) == 12


def test_drain_reports_counts_still_held():
    limiter = RepeatFilter(interval_s=10.0, burst=1, clock=lambda: 0.0)
    record = logging.makeLogRecord({"name": "w", "levelno": logging.ERROR, "msg": "down"})
    assert [limiter.filter(record) for _ in range(4)] == [True, False, False, False]
    assert limiter.drain() == [("w", logging.ERROR, "down", 3)]
    assert limiter.drain() == []


def test_drain_gives_the_last_suppressed_message_formatted():
    limiter = RepeatFilter(interval_s=10.0, burst=1, clock=lambda: 0.0)
    for attempt in range(3):
        record = logging.makeLogRecord(
            {"name": "w", "levelno": logging.ERROR, "msg": "down (%s)", "args": (attempt,)}
        )
        limiter.filter(record)
    assert limiter.drain() == [("w", logging.ERROR, "down (2)", 2)]


def test_records_still_suppressed_at_exit_are_reported_formatted(subprocess_env):
    # Given: a process whose same warning repeats past the burst, then exits
    code = (
        "import logging\n"
        "from ingest.logs import configure_logging\n"
        "configure_logging('INFO', fmt='json')\n"
        "log = logging.getLogger('ingest.producer')\n"
        "for i in range(7):\n"
        "    log.warning('Redis connection error (%s); re-sending the batch', f'timeout {i}')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=30
    )
    # Then: the exit report is a formatted message, not the template
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stderr.splitlines()[-1])
    assert last["message"] == (
        "4 similar records suppressed before exit; the last: Redis connection error "
        "(timeout 6); re-sending the batch"
    )
    assert last["suppressed"] == 4
    assert last["level"] == "WARNING"


LOG_FORMAT_CLIS = (
    ["ingest.produce", "--synthetic", "1"],
    ["workers", "--burst"],
    ["ingest.stats", "--interval", "0"],
)


@pytest.mark.parametrize("cli", LOG_FORMAT_CLIS, ids=lambda c: c[0])
def test_bad_log_format_variable_is_a_one_line_error_exit_2(cli, subprocess_env, tmp_path):
    env = dict(subprocess_env, INGEST_LOG_FORMAT="xml", INGEST_REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run(
        [sys.executable, "-m", *cli],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "error: INGEST_LOG_FORMAT = 'xml' (--log-format / INGEST_LOG_FORMAT): "
        "must be one of auto, json, text\n"
    )


def test_dead_letter_cli_writes_no_logs_so_a_bad_log_format_does_not_stop_it(
    subprocess_env, redis_url
):
    env = dict(subprocess_env, INGEST_LOG_FORMAT="xml", INGEST_REDIS_URL=redis_url)
    result = subprocess.run(
        [sys.executable, "-m", "workers.dlq", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == "[]"


def test_log_format_flag_is_read_by_the_producer_and_the_worker():
    from ingest.settings import LOG_FORMAT_OPTION, ProducerSettings
    from workers.settings import WORKER_OPTIONS, WorkerSettings

    assert LOG_FORMAT_OPTION in WORKER_OPTIONS
    assert ProducerSettings.from_sources({"log_format": "text"}, {}).log_format == "text"
    assert ProducerSettings.from_sources(None, {}).log_format == "auto"
    worker = WorkerSettings.from_sources(None, {"INGEST_LOG_FORMAT": "json"})
    assert worker.log_format == "json"
    with pytest.raises(ConfigError, match=r"--log-format = 'xml' \(--log-format / INGEST_LOG"):
        WorkerSettings.from_sources({"log_format": "xml"}, {})


def test_producer_logs_in_the_format_given_by_the_flag(redis_url, capsys):
    from ingest.produce import main

    code = main(["--synthetic", "1", "--log-format", "text"], {"INGEST_REDIS_URL": redis_url})
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [line for line in err.splitlines() if " INFO " in line]
    assert lines, err
    assert all(not line.startswith("{") for line in lines)


# ---- stream content in log lines is data, never control --------------------------------

HOSTILE = "x\n12:00:00.000 ERROR workers.runner: forged\x1b[2J\u202e[bold]\udcff"
"""An event id another program could write: a forged log line, an ANSI clear-screen, a bidi
override, markup and a byte that is not UTF-8 (as surrogateescape decodes it)."""


def test_text_log_escapes_stream_content_in_arguments_and_extra_fields():
    stream = io.StringIO()
    configure_logging("INFO", fmt="text", stream=stream)
    logging.getLogger("workers.dead_letter").warning(
        "dead-lettered %s", HOSTILE, extra={"event_id": HOSTILE, HOSTILE: "k"}
    )
    out = stream.getvalue()
    out.encode("utf-8")  # no lone surrogate reaches the stream
    [line] = out.splitlines()
    shown = "x\\n12:00:00.000 ERROR workers.runner: forged\\x1b[2J\\u202e[bold]\\xff"
    assert line.endswith(f"dead-lettered {shown} event_id={shown} {shown}=k")
    assert "\x1b" not in out and "\u202e" not in out


def test_text_log_traceback_keeps_its_lines_but_cannot_forge_a_record():
    stream = io.StringIO()
    configure_logging("INFO", fmt="text", stream=stream)
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        logging.getLogger("workers.runner").exception("handler failed")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("handler failed")
    # every continuation line is indented: only a record's head starts at column 0
    assert all(line.startswith("  ") for line in lines[1:])
    assert lines[1] == "  Traceback (most recent call last):"
    assert lines[-1] == "  12:00:00.000 ERROR workers.runner: forged\\x1b[2J\\u202e[bold]\\xff"


def test_json_log_with_bytes_that_are_not_utf8_stays_one_valid_line():
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream)
    logging.getLogger("workers.dead_letter").warning(
        "dead-lettered %s", HOSTILE, extra={"event_id": HOSTILE}
    )
    out = stream.getvalue()
    out.encode("utf-8")
    [record] = _lines(stream)
    shown = "x\n12:00:00.000 ERROR workers.runner: forged\x1b[2J\u202e[bold]\\xff"
    assert record["event_id"] == shown
    assert record["message"] == f"dead-lettered {shown}"
    assert out.endswith("\n")
    assert out[:-1].isprintable()
