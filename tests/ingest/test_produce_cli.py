"""``python -m ingest.produce`` on a real redis-server: exit codes, rejects, ids, backpressure."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
import redis

from ingest.backlog import read_backlog
from ingest.keys import StreamKeys
from ingest.produce import main
from ingest.streams import parse_entries
from tests.helpers import wait_for
from tests.ingest.consumers import AckingConsumer
from tests.redis_server import free_port

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def summary(out: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return value


def ids(client: redis.Redis, stream: str = STREAM) -> list[str]:
    return [e.fields["event_id"] for e in parse_entries(client.xrange(stream)) if e.fields]


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
    assert rejects.read_text().splitlines()[0].startswith(f"{path}:2: bad JSON")
    assert summary(out)["rejected"] == 2
    assert summary(out)["produced"] == 3
    assert ids(client) == ["mixed.jsonl:1", "mixed.jsonl:3", "mixed.jsonl:5"]


def test_same_file_twice_gives_the_same_event_ids(tmp_path, redis_url, client, capsys):
    path = tmp_path / "readings.csv"
    path.write_text("t,v\n1,2\n1,2\n3,4\n")  # identical rows get distinct ids
    for stream in ("one", "two"):
        assert main(["--input", str(path), "--stream", stream, "--redis-url", redis_url], {}) == 0
    assert (
        ids(client, "one")
        == ids(client, "two")
        == [
            "readings.csv:2",
            "readings.csv:3",
            "readings.csv:4",
        ]
    )
    capsys.readouterr()


def test_payload_above_max_event_bytes_is_rejected(tmp_path, redis_url, client, capsys):
    path = tmp_path / "lines.txt"
    path.write_text("short\n" + "x" * 300 + "\nok\n")
    code = main(["--input", str(path), "--max-event-bytes", "100", "--redis-url", redis_url], {})
    err = capsys.readouterr().err
    assert code == 1
    assert (
        f"{path}:2: event 'lines.txt:2': payload is 302 bytes, above --max-event-bytes=100" in err
    )
    assert ids(client) == ["lines.txt:1", "lines.txt:3"]


def test_bad_setting_exits_2_naming_it(capsys):
    code = main(["--synthetic", "5"], {"INGEST_HIGH_WATER": "2000", "INGEST_MAXLEN": "1000"})
    assert code == 2
    assert "--high-water / INGEST_HIGH_WATER = 2000" in capsys.readouterr().err


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
            samples.append((read_backlog(c, StreamKeys(STREAM)).backlog, c.xlen(STREAM)))
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
    assert proc.returncode == 0
    reported = summary(out)
    assert reported["interrupted"] is True
    assert reported["produced"] == client.xlen(STREAM) < 1_000_000
