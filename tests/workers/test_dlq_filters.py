"""python -m workers.dlq filters (--reason, --error-type, --event-id, --older-than) on list,
show, replay and purge; replay skips decode failures unless asked; the terminal views."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
import redis

from ingest.codec import now_ms
from workers.dlq import main

DEAD = "{ingest:events}:dead"
STREAM = "ingest:events"
SGR = re.compile(r"\x1b\[[0-9;]*m")
HOUR_MS = 3_600_000


@pytest.fixture
def mixed(client: redis.Redis) -> dict[str, str]:
    """Four dead letters: two old (2 h ago) and two recent; reasons permanent, decode,
    max-deliveries and a reason this version does not know (with a field it does not know).
    Returns their entry IDs by event ID."""
    old, recent = now_ms() - 2 * HOUR_MS, now_ms() - 1000
    specs = [
        (f"{old}-0", "buoy.csv:1", "permanent", "ValueError"),
        (f"{old}-1", "buoy.csv:2", "decode", "DecodeError"),
        (f"{recent}-0", "other.csv:1", "max-deliveries", "RuntimeError"),
        (f"{recent}-1", "other.csv:2", "timeout", "TimeoutError"),
    ]
    ids = {}
    for entry_id, event_id, reason, error_type in specs:
        fields = {
            "v": "1",
            "event_id": event_id,
            "source": "t",
            "type": "reading",
            "produced_at_ms": "0",
            "data": "{}",
            "dead_reason": reason,
            "dead_error_type": error_type,
            "dead_error": f"{error_type} happened",
            "dead_delivery_count": "3",
        }
        if reason == "timeout":
            fields["dead_handler_s"] = "181.5"  # a field a newer worker might add
        ids[event_id] = client.xadd(DEAD, fields, id=entry_id)  # type: ignore[arg-type]
    return {k: str(v) for k, v in ids.items()}


def _json(redis_url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code = main(["--redis-url", redis_url, "--json", *argv], environ={})
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _listed(redis_url: str, capsys: pytest.CaptureFixture[str], *filters: str) -> list[str]:
    rows = _json(redis_url, capsys, "list", *filters)
    assert isinstance(rows, list)
    return [r["event_id"] for r in rows]


def test_list_filters_by_reason_error_type_event_id_and_age(
    mixed: dict[str, str], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _listed(redis_url, capsys) == ["other.csv:2", "other.csv:1", "buoy.csv:2", "buoy.csv:1"]
    assert _listed(redis_url, capsys, "--reason", "decode") == ["buoy.csv:2"]
    assert _listed(redis_url, capsys, "--reason", "decode", "--reason", "timeout") == [
        "other.csv:2",
        "buoy.csv:2",
    ]
    assert _listed(redis_url, capsys, "--error-type", "RuntimeError") == ["other.csv:1"]
    assert _listed(redis_url, capsys, "--event-id", "buoy.csv:*") == ["buoy.csv:2", "buoy.csv:1"]
    assert _listed(redis_url, capsys, "--older-than", "1h") == ["buoy.csv:2", "buoy.csv:1"]
    both = ("--older-than", "1h", "--reason", "permanent")
    assert _listed(redis_url, capsys, *both) == ["buoy.csv:1"]
    assert _listed(redis_url, capsys, "--event-id", "nope") == []


def test_list_count_applies_after_the_filter(
    mixed: dict[str, str], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _listed(redis_url, capsys, "--event-id", "buoy.csv:*", "--count", "1") == ["buoy.csv:2"]


def test_show_by_filter_prints_every_field_of_the_matches(
    mixed: dict[str, str], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--redis-url", redis_url, "--json", "show", "--reason", "timeout"], {})
    out = capsys.readouterr().out
    assert code == 0
    [entry] = [json.loads(line) for line in out.splitlines()]
    assert entry["id"] == mixed["other.csv:2"]
    assert entry["fields"]["dead_handler_s"] == "181.5"  # unknown dead_* fields shown
    # nothing matching: exit 1 with a message naming the filter
    code = main(["--redis-url", redis_url, "show", "--event-id", "nope"], {})
    assert code == 1
    assert "no dead-letter entry matches --event-id nope" in capsys.readouterr().err


def test_purge_by_filter_deletes_only_the_matches(
    mixed: dict[str, str], redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _json(redis_url, capsys, "purge", "--reason", "decode") == {"purged": 1}
    assert _json(redis_url, capsys, "purge", "--older-than", "1h") == {"purged": 1}
    entries: Any = client.xrange(DEAD)
    left = [fields["event_id"] for _, fields in entries]
    assert left == ["other.csv:1", "other.csv:2"]


def test_replay_skips_decode_failures_unless_asked(
    mixed: dict[str, str], redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # When: the old dead letters are replayed by filter
    code = main(["--redis-url", redis_url, "replay", "--older-than", "1h"], {})
    out, err = capsys.readouterr()
    # Then: the permanent failure went back; the decode failure stayed, and the note says why
    assert code == 0
    result = json.loads(out)
    assert (result["replayed"], result["skipped"]) == (1, 1)
    assert [e["from"] for e in result["entries"]] == [mixed["buoy.csv:1"]]
    assert "skipped 1 dead letters the worker refused before any handler ran" in err
    assert "--include-decode-failures" in err
    replayed: Any = client.xrange(STREAM)
    assert [f["event_id"] for _, f in replayed] == ["buoy.csv:1"]
    # When asked by name (--reason decode), it is replayed
    assert _json(redis_url, capsys, "replay", "--reason", "decode")["replayed"] == 1  # type: ignore[index]
    # and --all skips none once --include-decode-failures is given
    everything = _json(redis_url, capsys, "replay", "--all", "--include-decode-failures")
    assert everything["replayed"] == 2  # type: ignore[index]
    assert client.xlen(DEAD) == 0


def test_replay_of_an_explicit_decode_failure_is_skipped_too(
    mixed: dict[str, str], redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _json(redis_url, capsys, "replay", mixed["buoy.csv:2"])
    assert result == {
        "replayed": 0,
        "not_replayed": 0,
        "skipped": 1,
        "cap": 1_000_000,
        "cap_source": "option",
        "entries": [],
    }
    assert client.xlen(DEAD) == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--all", "--reason", "decode"], "--all is not allowed with --reason"),
        (["purge", "--all", "--event-id", "x"], "--all is not allowed with --event-id"),
        (["show", "1-0", "--reason", "decode"], "give entry IDs or filters, not both"),
        (["show"], "give one or more entry IDs, or a filter"),
        (["replay"], "give --all or one or more entry IDs, or a filter"),
    ],
)
def test_selection_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--redis-url", "redis://127.0.0.1:1/0", *argv], {}) == 2
    assert message in capsys.readouterr().err


def test_list_on_80_columns_keeps_id_reason_type_and_age_on_one_line_message_below(
    redis_url: str,
    client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: a dead letter with a long event ID and an error of 400 characters
    error = "the database refused the row because it was locked by another writer; " * 6
    client.xadd(
        DEAD,
        {
            "event_id": "sea_surface_temperature.csv.gz:19000",
            "dead_reason": "max-deliveries",
            "dead_error_type": "OperationalError",
            "dead_error": error,
            "dead_delivery_count": "5",
            "dead_at_ms": str(now_ms() - 90_000),
        },
        id="1795951084712-10",
    )
    # When: it is listed on an 80-column terminal
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["--redis-url", redis_url, "list"], environ={}) == 0
    lines = SGR.sub("", capsys.readouterr().out).splitlines()
    # Then: one line with ID, reason, error type, deliveries and age; the rest below it,
    # the error whole (folded, nothing cut)
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["entry", "id", "reason", "error", "type", "deliveries", "age"]
    head = lines[1].split()
    assert head[:4] == ["1795951084712-10", "max-deliveries", "OperationalError", "5"]
    assert " ".join(head[4:]) == "1 m 30 s" or head[4:6] == ["1", "m"]
    assert lines[2].split() == ["event", "sea_surface_temperature.csv.gz:19000"]
    assert lines[3].split()[0] == "error"
    message = " ".join(" ".join(line.split()) for line in lines[3:]).removeprefix("error ")
    assert message == " ".join(error.split())


def test_show_on_a_terminal_is_a_table_with_a_traceback_on_its_lines(
    redis_url: str,
    client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traceback = 'Traceback (most recent call last):\n  File "h.py", line 3\nValueError: bad'
    entry_id: Any = client.xadd(
        DEAD, {"event_id": "e1", "dead_reason": "permanent", "dead_traceback": traceback}
    )
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["--redis-url", redis_url, "show", str(entry_id)], environ={}) == 0
    out = SGR.sub("", capsys.readouterr().out)
    assert f"dead letter {entry_id}" in out
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    assert ["dead_traceback", "Traceback (most recent call last):\\n"] in rows
    assert ["", 'File "h.py", line 3\\n'] in rows
    assert ["", "ValueError: bad"] in rows
    assert ["event_id", "e1"] in rows
