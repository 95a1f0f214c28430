"""python -m workers.dlq on dead letters another program wrote: markup, control characters
and bytes that are not UTF-8 are shown literally (tables and JSON) and nothing crashes."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from workers.dlq import main

DEAD = "{ingest:events}:dead"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own styles on a terminal

MARKUP_ID = "[/bold] x [link=https://evil.example]click[/link]"
FORGED_ERROR = "boom\x1b[2J\n12:00:00.000 INFO workers.runner: all good\u202eevil"
FIELD_NAME = "[red]name\x1b]8;;https://evil.example\x07\u2066"


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def hostile(raw: redis.Redis) -> dict[str, str]:
    """Three dead letters: markup in the event ID, a forged log line and escapes in the error,
    a field name that is markup and an OSC 8 link, and bytes that are not UTF-8 in the event
    ID, the error type, a field name and the data. Returns their entry IDs by kind."""
    ids = {
        "markup": raw.xadd(
            DEAD,
            {
                "event_id": MARKUP_ID,
                "dead_reason": "permanent",
                "dead_error_type": "[bold]ValueError",
                "dead_error": FORGED_ERROR,
                "dead_at_ms": "1000",
                FIELD_NAME: "v",
            },
            id="1000-0",
        ),
        "bytes": raw.xadd(
            DEAD,
            {
                b"event_id": b"e-\xff\xfe",
                b"dead_reason": b"decode",
                b"dead_error_type": b"Unicode\xc3DecodeError",
                b"dead_error": b"not UTF-8: \xff",
                b"dead_at_ms": b"not a number",
                b"data\xff": b'{"a": "\xc3("}',
            },
            id="2000-0",
        ),
        "empty": raw.xadd(DEAD, {b"dead_reason": b"\x00\x01"}, id="3000-0"),
    }
    return {k: v.decode() for k, v in ids.items()}  # type: ignore[union-attr]


def _terminal(monkeypatch: pytest.MonkeyPatch, columns: int = 200) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)


def _run(redis_url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["--redis-url", redis_url, *argv], environ={})
    out = capsys.readouterr()
    assert code == 0, out.err
    out.out.encode("utf-8")  # a lone surrogate would raise here
    return out.out


def _no_control(text: str) -> None:
    plain = SGR.sub("", text)
    assert not any(c in plain for c in "\x1b\x07\x00\x01\u202e\u2066"), plain


def test_list_table_shows_markup_controls_and_bytes_literally(
    hostile: dict[str, str],
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _terminal(monkeypatch)
    out = _run(redis_url, capsys, "list")
    plain = SGR.sub("", out)
    _no_control(out)
    assert MARKUP_ID in plain  # no MarkupError, no link: the brackets as written
    assert "[bold]ValueError" in plain
    assert "boom\\x1b[2J\\n12:00:00.000 INFO workers.runner: all good\\u202eevil" in plain
    assert "e-\\xff\\xfe" in plain
    assert "Unicode\\xc3DecodeError" in plain
    assert "not UTF-8: \\xff" in plain
    assert "\\x00\\x01" in plain
    # the forged line never starts a line of its own
    assert not any(line.lstrip().startswith("12:00:00.000") for line in plain.splitlines())


def test_list_json_is_valid_utf8_with_bytes_shown(
    hostile: dict[str, str], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(redis_url, capsys, "list", "--json")
    assert out.rstrip("\n").isprintable()
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows[hostile["markup"]]["event_id"] == MARKUP_ID
    assert rows[hostile["markup"]]["error"] == FORGED_ERROR  # JSON escapes it; kept whole
    assert rows[hostile["bytes"]]["event_id"] == "e-\\xff\\xfe"
    assert rows[hostile["bytes"]]["error_type"] == "Unicode\\xc3DecodeError"
    assert rows[hostile["bytes"]]["age_s"] > 0  # dead_at_ms unreadable: the entry ID's time


def test_show_table_on_a_terminal_shows_every_field_literally(
    hostile: dict[str, str],
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _terminal(monkeypatch)
    out = _run(redis_url, capsys, "show", *hostile.values())
    plain = SGR.sub("", out)
    _no_control(out)
    assert "[red]name\\x1b]8;;https://evil.example\\x07\\u2066" in plain
    assert "data\\xff (not UTF-8)" in plain
    assert '{"a": "\\xc3("}' in plain
    for entry_id in hostile.values():
        assert f"dead letter {entry_id}" in plain
    # a multi-line value breaks after each \n it shows; the next line is still inside the cell
    [forged] = [line for line in plain.splitlines() if "12:00:00.000 INFO" in line]
    assert forged.startswith("│")


def test_show_json_lists_fields_that_are_not_utf8(
    hostile: dict[str, str], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(redis_url, capsys, "show", hostile["bytes"], hostile["markup"], "--json")
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["id"] == hostile["bytes"]
    assert first["fields"]["data\\xff"] == '{"a": "\\xc3("}'
    assert sorted(first["not_utf8"]) == sorted(
        ["event_id", "dead_error_type", "dead_error", "data\\xff"]
    )
    assert second["fields"][FIELD_NAME] == "v"
    assert second["not_utf8"] == []


def test_replay_of_bytes_that_are_not_utf8_keeps_them_byte_for_byte(
    hostile: dict[str, str],
    redis_url: str,
    raw: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When: the decode failure is replayed on purpose
    out = _run(redis_url, capsys, "replay", hostile["bytes"], "--include-decode-failures")
    assert json.loads(out)["replayed"] == 1
    # Then: the re-added entry holds the original bytes, not their escaped form
    added: Any = raw.xrange("ingest:events")
    [(_, fields)] = added
    assert fields[b"data\xff"] == b'{"a": "\xc3("}'
    assert fields[b"event_id"] == b"e-\xff\xfe"
