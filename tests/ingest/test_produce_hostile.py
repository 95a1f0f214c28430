"""The producer never loses good lines to one bad one (real redis-server).

Deep nesting, undecodable bytes, overlong lines: each rejects its own record with
``file:line: reason``; an internal error still sends what was read and exits 70 with the
summary; an interrupted run says that re-running is safe and where to resume.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest
import redis

from ingest.produce import EXIT_INTERNAL, build_parser, main
from ingest.streams import parse_entries

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def summary(out: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return value


def payloads(client: redis.Redis) -> list[Any]:
    return [json.loads(e.fields["data"]) for e in parse_entries(client.xrange(STREAM)) if e.fields]


@pytest.mark.parametrize("depth", [995, 2000, 100_000])
def test_json_nested_too_deep_rejects_that_line_and_the_others_land(
    tmp_path, redis_url, client, capsys, depth
):
    # Given: a deep line between good ones (995 crashed the encoder, 2000 the decoder)
    path = tmp_path / "deep.jsonl"
    path.write_text('{"n": 1}\n' + "[" * depth + "]" * depth + '\n{"n": 3}\n')
    # When: produced
    code = main(["--input", str(path), "--redis-url", redis_url], {})
    out, err = capsys.readouterr()
    # Then: the deep line is one reject naming its place; the good lines are in the stream
    assert code == 1
    assert f"{path}:2: " in err
    assert "Traceback" not in err
    assert summary(out)["rejected"] == 1
    assert payloads(client) == [{"n": 1}, {"n": 3}]


def test_latin1_input_is_rejected_with_a_hint_and_read_with_encoding(
    tmp_path, redis_url, client, capsys
):
    path = tmp_path / "latin1.csv"
    path.write_bytes("city,temp\nZürich,3\nMálaga,19\n".encode("latin-1"))
    # When: read as UTF-8 (the default), each row is rejected with a hint
    assert main(["--input", str(path), "--redis-url", redis_url, "--stream", "strict"], {}) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: not UTF-8 (byte 0xfc at column 2)" in err
    assert "--encoding" in err
    # When: read with --encoding latin-1, every row lands, decoded right
    assert main(["--input", str(path), "--encoding", "latin-1", "--redis-url", redis_url], {}) == 0
    capsys.readouterr()
    assert payloads(client) == [{"city": "Zürich", "temp": "3"}, {"city": "Málaga", "temp": "19"}]


def test_an_unknown_or_line_breaking_encoding_is_a_usage_error(capsys):
    assert main(["--input", "x.csv", "--encoding", "klingon"], {}) == 2
    assert "unknown encoding" in capsys.readouterr().err
    assert main(["--input", "x.csv", "--encoding", "utf-16"], {}) == 2
    assert "not ASCII-compatible" in capsys.readouterr().err


def test_a_line_over_the_limit_is_skipped_unread_and_rejected(tmp_path, redis_url, client, capsys):
    path = tmp_path / "long.txt"
    path.write_text("short\n" + "x" * 200_000 + "\nok\n")
    # --max-event-bytes 1000: lines over 1000 + 64 KiB are not read whole
    code = main(["--input", str(path), "--max-event-bytes", "1000", "--redis-url", redis_url], {})
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:2: line is 200,000 bytes, above the limit of 66,536" in err
    assert payloads(client) == ["short", "ok"]


class FailingInput(io.RawIOBase):
    """Stdin whose second read fails with an error no reader expects (a bug's stand-in)."""

    def __init__(self, first: bytes) -> None:
        self.first: bytes | None = first

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.first is None:
            raise RuntimeError("disk on fire")
        data, self.first = self.first, None
        buffer[: len(data)] = data
        return len(data)


def test_an_internal_error_sends_what_was_read_prints_the_summary_and_exits_70(
    redis_url, client, capsys
):
    # Given: stdin that breaks after three lines
    stdin = FailingInput(b'{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    argv = ["--input", "-", "--format", "jsonl", "--source", "feed", "--redis-url", redis_url]
    # When: produced with a batch larger than what was read
    code = main([*argv, "--batch-size", "100"], {}, stdin=stdin)  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    # Then: what was read is in the stream, the summary says so, and the exit code is its own
    assert code == EXIT_INTERNAL == 70
    assert payloads(client) == [{"n": 1}, {"n": 2}, {"n": 3}]
    reported = summary(out)
    assert (reported["produced"], reported["resume_from_line"]) == (3, 4)
    assert "internal error after line 3 of -: RuntimeError: disk on fire" in err
    assert "everything read before it was sent" in err
    assert "--from-line 4" in err


def test_exit_codes_are_in_the_help():
    text = build_parser().format_help()
    for line in ("70   internal error", "4    backpressure timeout", "3    Redis unreachable"):
        assert line in text
    assert "--from-line" in text


def test_a_run_stopped_by_backpressure_says_what_blocks_and_resumes_with_from_line(
    tmp_path, redis_url, client, capsys
):
    # Given: 1,000 lines, a group nobody consumes, a high-water mark of 300
    path = tmp_path / "events.jsonl"
    path.write_text("".join(f'{{"n": {n}}}\n' for n in range(1, 1001)))
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    argv = ["--input", str(path), "--maxlen", "2000", "--high-water", "300"]
    argv += ["--batch-size", "100", "--redis-url", redis_url]
    # When: produced; it stops at the mark
    assert main([*argv, "--max-block", "0.2"], {}) == 4
    out, err = capsys.readouterr()
    # Then: the error names the group, the way to see it, and where to resume
    assert "held by consumer group: 'workers': backlog 300 (300 undelivered, 0 pending)" in err
    assert "no consumers" in err
    assert "python -m ingest.groups list --stream ingest:events" in err
    assert "re-running the same command is safe" in err
    assert "--from-line 301" in err
    assert summary(out)["resume_from_line"] == 301
    # When: the group catches up and the run is resumed from that line
    reply: Any = client.xreadgroup("workers", "w", {STREAM: ">"}, count=1000)
    client.xack(STREAM, "workers", *[entry_id for entry_id, _ in reply[0][1]])
    assert main([*argv, "--high-water", "2000", "--from-line", "301"], {}) == 0
    resumed = summary(capsys.readouterr().out)
    # Then: every line is in the stream exactly once
    assert (resumed["produced"], resumed["skipped"]) == (700, 300)
    assert payloads(client) == [{"n": n} for n in range(1, 1001)]


def test_no_group_is_named_as_the_block_with_its_remedy(redis_url, client, capsys):
    argv = ["--synthetic", "500", "--maxlen", "1000", "--high-water", "100"]
    assert (
        main([*argv, "--batch-size", "100", "--max-block", "0", "--redis-url", redis_url], {}) == 4
    )
    err = capsys.readouterr().err
    assert "no consumer group on 'ingest:events'" in err
    assert "start a worker (python -m workers), or use --no-group trim" in err
    assert "synthetic events get new ids on every run" in err


def test_rerunning_changed_content_at_the_same_path_sends_the_new_lines(
    tmp_path, redis_url, client, capsys
):
    # Given: daily.csv produced once
    path = tmp_path / "daily.csv"
    path.write_text("t,v\n1,10\n2,20\n")
    assert main(["--input", str(path), "--redis-url", redis_url], {}) == 0
    # When: the file is overwritten with one row changed, and produced again
    path.write_text("t,v\n1,10\n2,21\n")
    assert main(["--input", str(path), "--redis-url", redis_url], {}) == 0
    capsys.readouterr()
    ids = [e.fields["event_id"] for e in parse_entries(client.xrange(STREAM)) if e.fields]
    # Then: the unchanged row keeps its id (the sink drops it), the changed one gets a new id
    real = os.path.realpath(path)
    assert ids[0] == ids[2]
    assert ids[1] != ids[3]
    assert {i.rsplit(":", 1)[0] for i in ids} == {f"{real}:2", f"{real}:3"}


def test_id_field_ids_are_namespaced_by_the_source_unless_raw(tmp_path, redis_url, client, capsys):
    path = tmp_path / "orders.jsonl"
    path.write_text('{"id": "o-1"}\n')
    argv = ["--input", str(path), "--id-field", "id", "--redis-url", redis_url]
    assert main([*argv, "--source", "shop"], {}) == 0
    assert main([*argv, "--raw-ids"], {}) == 0
    assert main(["--synthetic", "1", "--raw-ids", "--redis-url", redis_url], {}) == 2
    assert "--raw-ids needs --id-field" in capsys.readouterr().err
    ids = [e.fields["event_id"] for e in parse_entries(client.xrange(STREAM)) if e.fields]
    assert ids == ["shop:o-1", "o-1"]
