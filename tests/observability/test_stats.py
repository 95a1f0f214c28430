"""python -m ingest.stats: known state in, known table and JSON out; exit codes; redaction."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from ingest.groupstate import StreamState
from ingest.stats import main, rate, take_snapshot
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("restore_logging")

STREAM = "ingest:events"
DEAD = "{ingest:events}:dead"
PASSWORD = "hunter2-pw"  # noqa: S105 (a test password that must never be printed)


@pytest.fixture
def known_state(client: redis.Redis) -> redis.Redis:
    """10 entries (IDs 1-0 .. 10-0); group workers: c1 read 3 and acked 1, c2 read 2;
    group audit created at $; 2 dead letters."""
    for i in range(1, 11):
        client.xadd(STREAM, {"n": str(i)}, id=f"{i}-0")
    client.xgroup_create(STREAM, "workers", id="0")
    client.xgroup_create(STREAM, "audit", id="$")
    client.xreadgroup("workers", "c1", {STREAM: ">"}, count=3)
    client.xreadgroup("workers", "c2", {STREAM: ">"}, count=2)
    client.xack(STREAM, "workers", "1-0")
    client.xadd(DEAD, {"dead_reason": "poison"})
    client.xadd(DEAD, {"dead_reason": "decode"})
    return client


def run_json(capsys, redis_url: str, *extra: str) -> dict[str, Any]:
    code = main(["--json", "--interval", "0", *extra], {"INGEST_REDIS_URL": redis_url})
    out = capsys.readouterr()
    assert code == 0, out.err
    report: dict[str, Any] = json.loads(out.out)
    return report


def test_json_of_a_known_state(known_state, redis_url, capsys):
    report = run_json(capsys, redis_url, "--maxlen", "5000")
    # Time-dependent values: checked against the server time in the report, then masked.
    now = report.pop("time_ms")
    workers, audit = sorted(report.pop("groups"), key=lambda g: g["name"] != "workers")
    assert workers.pop("oldest_pending_age_s") == (now - 2) / 1000.0
    idle = [c.pop("idle_s") for c in workers["consumers"]]
    assert all(0 <= s < 60 for s in idle)
    # Redis 7.0 has no "inactive"; newer servers report it: masked
    assert all(c.pop("inactive_s") is None or c["name"] for c in workers["consumers"])
    assert report == {
        "redis_url": redis_url,
        "redis_primary": None,
        "stream": STREAM,
        "exists": True,
        "length": 10,
        "cap": 5000,
        "cap_source": "option",
        "producer_settings": None,
        "first_entry_id": "1-0",
        "last_generated_id": "10-0",
        "entries_added": 10,
        "events_per_s": None,
        "interval_s": None,
        "dead_letter_stream": DEAD,
        "dead_letter_length": 2,
    }
    assert workers == {
        "name": "workers",
        "backlog": 9,
        "backlog_exact": True,
        "lag": 5,
        "lag_source": "redis",
        "redis_lag": 5,
        "pending": 4,
        "oldest_pending_id": "2-0",
        "last_delivered_id": "5-0",
        "entries_read": 5,
        "consumer_count": 2,
        "consumers": [
            {"name": "c1", "live": False, "holder": None, "pending": 2},
            {"name": "c2", "live": False, "holder": None, "pending": 2},
        ],
    }
    assert audit["backlog"] == 0
    assert audit["lag_source"] == "redis"
    assert audit["oldest_pending_age_s"] is None


def _rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│ ").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def test_table_of_a_known_state(known_state, redis_url, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["--interval", "0", "--maxlen", "5000"], {"INGEST_REDIS_URL": redis_url}) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert ["10", "5,000", "2", "-", "10-0"] in rows
    workers = next(r for r in rows if r[0] == "workers" and len(r) == 7)
    assert workers[:4] == ["workers", "9", "5", "4"]
    assert workers[4].endswith((" s", " m", " h"))  # oldest pending age (IDs from 1970: days)
    assert workers[5:] == ["5-0", "2"]
    assert next(r for r in rows if r[0] == "audit")[:4] == ["audit", "0", "0", "0"]
    consumers = [r[:4] for r in rows if len(r) in (5, 6) and r[0] == "workers"]
    assert consumers == [["workers", "c1", "dead", "2"], ["workers", "c2", "dead", "2"]]
    assert f"stream {STREAM} on {redis_url}" in out


def test_nil_lag_is_counted_never_zero(known_state, redis_url, capsys):
    # Given: an undelivered entry deleted, which makes Redis report lag as nil
    known_state.xdel(STREAM, "7-0")
    lags = {g["name"]: g["lag"] for g in known_state.xinfo_groups(STREAM)}
    assert lags["workers"] is None
    report = run_json(capsys, redis_url)
    workers = next(g for g in report["groups"] if g["name"] == "workers")
    assert workers["redis_lag"] is None
    assert workers["lag"] == 4
    assert workers["lag_source"] == "counted"
    assert workers["backlog"] == 8


def test_missing_stream_is_reported_not_an_error(redis_url, capsys):
    report = run_json(capsys, redis_url)
    assert report["exists"] is False
    assert report["groups"] == []


def test_a_key_that_is_not_a_stream_exits_1(client, redis_url, capsys):
    client.set(STREAM, "oops")
    assert main(["--interval", "0"], {"INGEST_REDIS_URL": redis_url}) == 1
    assert "holds a string, not a stream" in capsys.readouterr().err


def test_unreachable_redis_exits_3_with_the_password_redacted(capsys):
    url = f"redis://app:{PASSWORD}@127.0.0.1:1/0"
    code = main(["--connect-timeout", "0.3"], {"INGEST_REDIS_URL": url})
    out = capsys.readouterr()
    assert code == 3
    assert "redis://app:***@127.0.0.1:1/0" in out.err
    assert PASSWORD not in out.out + out.err


def test_password_never_shown_in_output_or_help(known_state, redis_server, capsys):
    # Given: a server that requires a password
    known_state.config_set("requirepass", PASSWORD)
    try:
        url = redis_server.url.replace("redis://", f"redis://:{PASSWORD}@")
        env = {"INGEST_REDIS_URL": url}
        assert main(["--interval", "0"], env) == 0
        table = capsys.readouterr()
        assert main(["--json", "--interval", "0"], env) == 0
        as_json = capsys.readouterr()
        assert main(["--help"], env) == 0
        shown = capsys.readouterr()
        assert main(["--stream", "x{", "--interval", "0"], env) == 2
        config_error = capsys.readouterr()
    finally:
        authed = redis.Redis.from_url(url)
        authed.config_set("requirepass", "")
        authed.close()
    everything = "".join(o.out + o.err for o in (table, as_json, shown, config_error))
    assert PASSWORD not in everything
    assert ":***@" in as_json.out
    assert "--redis-url" in shown.out


def test_bad_flag_value_exits_2(redis_url, capsys):
    assert main(["--interval", "soon"], {"INGEST_REDIS_URL": redis_url}) == 2
    assert "--interval = 'soon'" in capsys.readouterr().err


def _state(added: int | None, time_ms: int) -> StreamState:
    return StreamState(stream="s", exists=True, time_ms=time_ms, entries_added=added)


def test_rate_from_two_samples():
    assert rate(_state(100, 1_000), _state(350, 1_500)) == 500.0
    assert rate(_state(None, 1_000), _state(350, 1_500)) is None
    assert rate(_state(100, 1_000), _state(100, 1_000)) is None


def test_events_per_second_over_the_interval(client):
    # Given: entries added between the two samples (through the injected sleep)
    start_ms = int(client.time()[0]) * 1000 + int(client.time()[1]) // 1000

    def add_then_let_the_clock_move(_seconds: float) -> None:
        for i in range(50):
            client.xadd(STREAM, {"n": str(i)})
        wait_for(lambda: int(client.time()[0]) * 1000 + int(client.time()[1]) // 1000 > start_ms)

    client.xadd(STREAM, {"n": "first"})
    snapshot = take_snapshot(client, STREAM, 1.0, sleep=add_then_let_the_clock_move)
    # Then: 50 entries over the measured interval
    assert snapshot.interval_s is not None
    assert snapshot.interval_s > 0
    assert snapshot.events_per_s == pytest.approx(50 / snapshot.interval_s)
