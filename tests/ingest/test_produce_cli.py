"""``python -m ingest.produce`` on a real redis-server: exit codes, rejects, ids, backpressure."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
import redis

from ingest.produce import build_parser, main
from ingest.streams import parse_entries
from tests.helpers import wait_for
from tests.ingest.backlogs import backlog_of
from tests.ingest.consumers import AckingConsumer
from tests.redis_server import free_port

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def summary(out: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return value


def ids(client: redis.Redis, stream: str = STREAM) -> list[str]:
    return [e.fields["event_id"] for e in parse_entries(client.xrange(stream)) if e.fields]


def lines_of(event_ids: list[str]) -> list[str]:
    """``<prefix>:<line>`` of default ids ``<prefix>:<line>:<digest>``."""
    return [event_id.rsplit(":", 1)[0] for event_id in event_ids]


def test_unreachable_redis_exits_3_naming_the_redacted_url(capsys):
    url = f"redis://user:secret@127.0.0.1:{free_port()}/0"
    code = main(["--synthetic", "5", "--redis-url", url, "--connect-timeout", "0.3"], {})
    err = capsys.readouterr().err
    assert code == 3
    assert "unreachable" in err
    assert "user:***@127.0.0.1" in err
    assert "secret" not in err


def test_malformed_lines_are_reported_counted_and_good_lines_land(
    tmp_path, redis_url, client, capsys
):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"v": 1}\n{oops\n{"v": 3}\n\xff\xfe\n{"v": 5}\n')
    rejects = tmp_path / "rejects.txt"
    code = main(["--input", str(path), "--rejects", str(rejects), "--redis-url", redis_url], {})
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{path}:2: bad JSON" in err
    assert f"{path}:4: not UTF-8" in err
    assert rejects.read_bytes() == b"{oops\n\xff\xfe\n"  # the records as they were
    reasons = (tmp_path / "rejects.txt.reasons").read_text().splitlines()
    assert reasons[0].startswith(f"{rejects}:1: {path}:2: bad JSON")
    assert reasons[1].startswith(f"{rejects}:2: {path}:4: not UTF-8")
    assert summary(out)["rejected"] == 2
    assert summary(out)["produced"] == 3
    real = os.path.realpath(path)
    assert lines_of(ids(client)) == [f"{real}:1", f"{real}:3", f"{real}:5"]


def test_same_file_twice_gives_the_same_event_ids(tmp_path, redis_url, client, capsys):
    path = tmp_path / "readings.csv"
    path.write_text("t,v\n1,2\n1,2\n3,4\n")  # identical rows get distinct ids
    for stream in ("one", "two"):
        assert main(["--input", str(path), "--stream", stream, "--redis-url", redis_url], {}) == 0
    real = os.path.realpath(path)
    assert ids(client, "one") == ids(client, "two")
    assert lines_of(ids(client, "one")) == [f"{real}:2", f"{real}:3", f"{real}:4"]
    capsys.readouterr()


def test_payload_above_max_event_bytes_is_rejected(tmp_path, redis_url, client, capsys):
    path = tmp_path / "lines.txt"
    path.write_text("short\n" + "x" * 300 + "\nok\n")
    code = main(["--input", str(path), "--max-event-bytes", "100", "--redis-url", redis_url], {})
    err = capsys.readouterr().err
    assert code == 1
    real = os.path.realpath(path)
    assert f"{path}:2: event '{real}:2:" in err
    assert "': payload is 302 bytes, above --max-event-bytes=100" in err
    assert lines_of(ids(client)) == [f"{real}:1", f"{real}:3"]


def test_bad_setting_exits_2_naming_it(capsys):
    code = main(["--synthetic", "5"], {"INGEST_HIGH_WATER": "2000", "INGEST_MAXLEN": "1000"})
    assert code == 2
    assert "--high-water / INGEST_HIGH_WATER = 2000" in capsys.readouterr().err


def test_group_is_not_a_producer_option(capsys):
    code = main(["--synthetic", "5", "--group", "g"], {})
    assert code == 2
    assert "unrecognized arguments: --group g" in capsys.readouterr().err
    assert "--group" not in build_parser().format_help()


def test_backpressure_timeout_exits_4_and_what_it_reported_is_in_the_stream(
    redis_url, client, capsys
):
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)  # nobody consumes
    argv = [
        "--synthetic",
        "1000",
        "--maxlen",
        "1000",
        "--high-water",
        "300",
        "--batch-size",
        "100",
        "--max-block",
        "0.3",
        "--redis-url",
        redis_url,
    ]
    code = main(argv, {})
    out, err = capsys.readouterr()
    assert code == 4
    assert "backlog 300 entries" in err
    assert "high-water 300" in err
    assert "low-water mark 240" in err
    reported = summary(out)
    assert reported["produced"] == client.xlen(STREAM) == 300
    assert reported["blocks"] == 1
    assert reported["blocked_s"] >= 0.3


def test_allkeys_lru_server_is_refused_at_start(make_redis_server, capsys):
    server = make_redis_server(extra=["--maxmemory-policy", "allkeys-lru"])
    code = main(["--synthetic", "5", "--redis-url", server.url], {})
    assert code == 2
    assert "maxmemory-policy is allkeys-lru" in capsys.readouterr().err


@pytest.mark.slow
def test_four_producers_against_a_slow_consumer_stay_under_the_marks(
    redis_url, client, subprocess_env
):
    # Given cap 1,000, high-water 800 and one slow consumer
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    slow = AckingConsumer(redis_url, STREAM, "workers", "slow", count=100, per_entry_s=0.0001)
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        c = redis.Redis.from_url(redis_url, decode_responses=True)
        while not stop.is_set():
            samples.append((backlog_of(c, STREAM), c.xlen(STREAM)))
        c.close()

    sampler = threading.Thread(target=sample, daemon=True)
    slow.start()
    sampler.start()
    # When four producer processes send 5,000 events each
    argv = [
        sys.executable,
        "-m",
        "ingest.produce",
        "--synthetic",
        "5000",
        "--maxlen",
        "1000",
        "--high-water",
        "800",
        "--batch-size",
        "50",
        "--max-block",
        "30",
        "--redis-url",
        redis_url,
    ]
    procs = [
        subprocess.Popen(
            argv, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    wait_for(lambda: len(slow.seen) >= 20_000, 30, what="every event consumed")
    stop.set()
    sampler.join()
    slow.halt()
    # Then: all exit 0, the marks and the cap held, and every event arrived once
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert sum(summary(o)["produced"] for o in outs) == 20_000
    assert sum(summary(o)["blocks"] for o in outs) > 0  # the consumer really was slower
    assert max(b for b, _ in samples) <= 800 + 4 * 50
    assert max(n for _, n in samples) <= 1000
    assert len(slow.seen) == len(set(slow.seen)) == 20_000


@pytest.mark.slow
def test_sigterm_finishes_the_batch_prints_the_summary_and_exits(redis_url, client, subprocess_env):
    argv = [
        sys.executable,
        "-m",
        "ingest.produce",
        "--synthetic",
        "1000000",
        "--rate",
        "5000",
        "--batch-size",
        "100",
        "--redis-url",
        redis_url,
    ]
    proc = subprocess.Popen(
        argv, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    wait_for(lambda: client.xlen(STREAM) >= 200, 15, what="the producer started sending")
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=15)[0]
    assert proc.returncode == 128 + signal.SIGTERM == 143  # a partial run is not a success
    reported = summary(out)
    assert reported["interrupted"] is True
    assert reported["produced"] == client.xlen(STREAM) < 1_000_000


def test_two_files_with_the_same_name_both_land(tmp_path, redis_url, client, capsys):
    # Given: day1/events.jsonl and day2/events.jsonl, the same line numbers in both
    paths = []
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        path = tmp_path / day / "events.jsonl"
        path.write_text(f'{{"day": "{day}", "n": 1}}\n{{"day": "{day}", "n": 2}}\n')
        paths.append(path)
    # When both are produced to one stream
    for path in paths:
        assert main(["--input", str(path), "--redis-url", redis_url], {}) == 0
    capsys.readouterr()
    # Then: four distinct event ids, so the sink's deduplication drops nothing
    assert len(set(ids(client))) == 4


def test_stdin_runs_get_distinct_ids_unless_a_source_is_given(redis_url, client, capsys):
    def produce(*extra: str) -> None:
        stdin = io.BytesIO(b'{"n": 1}\n')
        argv = ["--input", "-", "--format", "jsonl", "--redis-url", redis_url, *extra]
        assert main(argv, {}, stdin=stdin) == 0

    produce()
    produce()
    produce("--source", "feed")
    produce("--source", "feed")
    capsys.readouterr()
    got = ids(client)
    assert len(set(got[:2])) == 2
    assert all(i.startswith("stdin:") for i in got[:2])
    assert lines_of(got[2:]) == ["feed:1", "feed:1"]
    assert got[2] == got[3]


def test_json_lines_piped_without_format_land_as_json_with_a_notice(redis_url, client, capsys):
    # Given: JSON Lines on stdin and no --format (the common mistake)
    stdin = io.BytesIO(b'{"n": 1, "tags": ["a"]}\n{"n": 2}\n')
    # When
    code = main(["--input", "-", "--redis-url", redis_url, "--log-format", "text"], {}, stdin)
    # Then: the payloads are the JSON values, not JSON strings, and stderr said why
    _, err = capsys.readouterr()
    assert code == 0
    data = [e.fields["data"] for e in parse_entries(client.xrange(STREAM)) if e.fields]
    assert [json.loads(d) for d in data] == [{"n": 1, "tags": ["a"]}, {"n": 2}]
    assert "-: the first 2 non-blank line(s) are JSON objects or arrays: read as JSON Lines" in err


def test_truncated_gzip_produces_every_line_before_the_break_and_exits_1(
    tmp_path, redis_url, client, capsys
):
    # Given: a .gz cut short; its good lines fit in one (unsent) batch
    whole = gzip.compress(b"".join(b'{"n": %d}\n' % n for n in range(1, 3001)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    readable = 0
    try:
        with gzip.open(path) as handle:
            for _ in handle:
                readable += 1
    except EOFError:
        pass
    assert 0 < readable < 3000
    # When produced with a batch larger than what was readable
    code = main(["--input", str(path), "--batch-size", "5000", "--redis-url", redis_url], {})
    out, err = capsys.readouterr()
    # Then: everything read before the error is in the stream, and the error is reported
    assert code == 1
    assert client.xlen(STREAM) == summary(out)["produced"] == readable
    assert summary(out)["rejected"] == 1
    assert f"{path}:{readable + 1}: read error: Compressed file ended" in err


def test_duplicate_csv_column_exits_2_and_produces_nothing(tmp_path, redis_url, client, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")
    code = main(["--input", str(path), "--redis-url", redis_url], {})
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:1: duplicate column name 'a'" in err
    assert client.xlen(STREAM) == 0


def test_unreadable_input_exits_2(tmp_path, redis_url, capsys):
    code = main(["--input", str(tmp_path / "missing.csv"), "--redis-url", redis_url], {})
    assert code == 2
    assert "missing.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_sigint_while_blocked_on_backpressure_exits_130(redis_url, client, subprocess_env):
    # Given: a group nobody consumes, so the producer blocks at the high-water mark
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    argv = [sys.executable, "-m", "ingest.produce", "--synthetic", "1000", "--maxlen", "1000"]
    argv += ["--high-water", "200", "--batch-size", "100", "--max-block", "60"]
    proc = subprocess.Popen(
        [*argv, "--redis-url", redis_url],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # (at 200 entries nothing more can be admitted: it is blocked, or about to be)
    wait_for(lambda: client.xlen(STREAM) >= 200, 15, what="the producer reached the mark")
    # When interrupted while waiting
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    # Then: the summary says so, what it reports is in the stream, and the exit code is 130
    assert proc.returncode == 130, err
    reported = summary(out)
    assert reported["interrupted"] is True
    assert reported["produced"] == client.xlen(STREAM) == 200
