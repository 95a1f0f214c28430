"""python -m ingest.stats on a real server: consumers live or dead, what idle means, and
names that are markup, control characters or bytes that are not UTF-8 shown literally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from ingest.keys import StreamKeys
from ingest.stats import main

pytestmark = pytest.mark.usefixtures("restore_logging")

STREAM = "ingest:events"
KEYS = StreamKeys(STREAM)
MARKUP = "[/x] [link=https://evil.example]click[/link] [bold]"
CONTROL = "c\x1b[2J\nforged\u202e"
NOT_UTF8 = b"raw-\xff\xc3("


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A client that sends and reads bytes as they are."""
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _read(raw: redis.Redis, group: bytes | str, consumer: bytes | str, count: int = 1) -> None:
    raw.xreadgroup(group, consumer, {STREAM: ">"}, count=count)  # type: ignore[arg-type]


@pytest.fixture
def hostile(raw: redis.Redis) -> redis.Redis:
    """A stream whose group and consumer names another program chose: markup, an ANSI
    clear-screen and a forged line, bytes that are not UTF-8."""
    for n in range(6):
        raw.xadd(STREAM, {"n": str(n)})
    raw.xgroup_create(STREAM, CONTROL, id="0")
    raw.xgroup_create(STREAM, b"g-\xfe", id="0")
    _read(raw, CONTROL, MARKUP)
    _read(raw, CONTROL, NOT_UTF8)
    _read(raw, b"g-\xfe", b"[/x]\x9b")
    return raw


def _run(redis_url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = main(["--interval", "0", *extra], {"INGEST_REDIS_URL": redis_url})
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_table_shows_markup_controls_and_raw_bytes_literally(
    hostile: redis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    out = _run(redis_url, capsys)
    assert MARKUP in out  # not a MarkupError, not a link: the brackets as they are
    assert "c\\x1b[2J\\nforged\\u202e" in out
    assert "raw-\\xff\\xc3(" in out
    assert "g-\\xfe" in out
    assert "[/x]\\x9b" in out
    assert not any(c in out for c in "\x1b\u202e\x9b")
    assert not any(line.startswith("forged") for line in out.splitlines())


def test_json_shows_raw_bytes_as_escapes_and_stays_valid_utf8(
    hostile: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(redis_url, capsys, "--json")
    out.encode("utf-8")  # a lone surrogate would raise here
    assert out.endswith("\n") and out[:-1].isprintable()
    report = json.loads(out)
    names = {g["name"]: sorted(c["name"] for c in g["consumers"]) for g in report["groups"]}
    assert names == {
        CONTROL: sorted([MARKUP, "raw-\\xff\\xc3("]),
        "g-\\xfe": ["[/x]\\x9b"],  # a lone byte 0x9b: not UTF-8, so shown as the byte
    }


def _consumers(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for g in report["groups"] for c in g["consumers"]}


def test_consumers_are_live_or_dead_by_their_liveness_key(
    client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: two consumers holding entries; only w1's worker keeps its liveness key
    for n in range(4):
        client.xadd(STREAM, {"n": str(n)})
    client.xgroup_create(STREAM, "workers", id="0")
    client.xreadgroup("workers", "w1", {STREAM: ">"}, count=2)
    client.xreadgroup("workers", "w2", {STREAM: ">"}, count=2)
    client.set(KEYS.consumer_alive("workers", "w1"), "host-a:4242", ex=60)
    # When: the stats are shown
    report = json.loads(_run(redis_url, capsys, "--json"))
    table = _run(redis_url, capsys)
    # Then: w1 is live (its holder named), w2 dead, in the JSON and in the table
    consumers = _consumers(report)
    assert (consumers["w1"]["live"], consumers["w1"]["holder"]) == (True, "host-a:4242")
    assert (consumers["w2"]["live"], consumers["w2"]["holder"]) == (False, None)
    rows = {
        cells[1]: cells[2]
        for line in table.splitlines()
        if line.startswith("│")
        and len(cells := [c.strip() for c in line.strip("│ ").split("│")]) >= 5
    }
    assert (rows["w1"], rows["w2"]) == ("live", "dead")


def test_caption_says_what_idle_means_on_this_server(
    client: redis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.xadd(STREAM, {"n": "1"})
    client.xgroup_create(STREAM, "workers", id="0")
    client.xreadgroup("workers", "w1", {STREAM: ">"}, count=1)
    reports_inactive = "inactive" in client.xinfo_consumers(STREAM, "workers")[0]
    monkeypatch.setenv("COLUMNS", "300")
    table = " ".join(_run(redis_url, capsys).split())
    report = json.loads(_run(redis_url, capsys, "--json"))
    inactive_s = _consumers(report)["w1"]["inactive_s"]
    if reports_inactive:  # Redis >= 7.2
        assert "idle: since the consumer's last read or claim, even one that got nothing" in table
        assert isinstance(inactive_s, float)
    else:  # Redis 7.0 (Debian 12's): a live idle consumer's idle time keeps rising
        assert "on Redis < 7.2 a read that gets nothing does not reset it" in table
        assert inactive_s is None
    assert "live/dead: whether its worker keeps its liveness key fresh" in table
