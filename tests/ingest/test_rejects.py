"""``--rejects FILE`` on a real redis-server: the rejected records are written as they were read,
their reasons beside them in ``FILE.reasons``, and the fixed file produces cleanly with the
command the run prints (the round trip)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import redis

from ingest.lines import LINE_SLACK
from ingest.produce import main
from ingest.streams import parse_entries

pytestmark = pytest.mark.redis

STREAM = "ingest:events"
LIMIT = 64  # --max-event-bytes of these tests


def payloads(client: redis.Redis) -> list[Any]:
    return [json.loads(e.fields["data"]) for e in parse_entries(client.xrange(STREAM)) if e.fields]


def summary(out: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return value


def refeed_command(err: str) -> list[str]:
    """The arguments of the command the run printed for sending the fixed rejects."""
    line = next(x for x in err.splitlines() if "once fixed, send them with:" in x)
    return shlex.split(line.split("python -m ingest.produce ", 1)[1])


def test_jsonl_rejects_are_written_as_read_and_the_fixed_file_produces(
    tmp_path, redis_url, client, capsys
):
    # Given: good records among bad JSON, bytes that are not UTF-8, a payload above the limit
    # and a line too long to be read at all
    big = json.dumps({"pad": "x" * LIMIT}).encode()
    overlong = b"y" * (LIMIT + LINE_SLACK + 10)
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"n": 1}\n{oops\n{"n": 3}\n\xff{"n": 4}\n' + big + b"\n" + overlong + b'\n{"n": 7}\n'
    )
    rejects = tmp_path / "bad.jsonl"
    base = ["--redis-url", redis_url, "--max-event-bytes", str(LIMIT)]
    # When: produced with --rejects
    code = main(["--input", str(path), "--rejects", str(rejects), *base], {})
    out, err = capsys.readouterr()
    # Then: the good records land; the bad ones are in the rejects file byte for byte (the
    # overlong line only noted, by its size), with their reasons beside them
    assert code == 1
    assert summary(out)["rejected"] == 4
    assert payloads(client) == [{"n": 1}, {"n": 3}, {"n": 7}]
    assert rejects.read_bytes() == b'{oops\n\xff{"n": 4}\n' + big + b"\n"
    reasons = (tmp_path / "bad.jsonl.reasons").read_text().splitlines()
    assert [r.split(": ", 2)[:2] for r in reasons[:3]] == [
        [f"{rejects}:1", f"{path}:2"],
        [f"{rejects}:2", f"{path}:4"],
        [f"{rejects}:3", f"{path}:5"],
    ]
    assert reasons[3] == (
        f"{path}:6: line is {len(overlong):,} bytes, above the limit of {LIMIT + LINE_SLACK:,} "
        f"(--max-event-bytes plus slack): skipped without reading it whole (not written to "
        f"{rejects})"
    )
    assert "payload is" in reasons[2]
    # When: the user fixes the records and runs the command the run printed
    command = refeed_command(err)
    assert command[:2] == ["--input", str(rejects)]
    rejects.write_bytes(b'{"n": 2}\n{"n": 4}\n{"n": 5}\n')
    code = main([*command, *base], {})
    out, _ = capsys.readouterr()
    # Then: every fixed record lands
    assert code == 0
    assert summary(out)["produced"] == 3
    assert sorted(p["n"] for p in payloads(client)) == [1, 2, 3, 4, 5, 7]


def test_csv_rejects_keep_the_header_and_multi_line_records_whole(
    tmp_path, redis_url, client, capsys
):
    # Given: a CSV with a record over two lines of the wrong width and a value not a number
    path = tmp_path / "in.csv"
    path.write_bytes(b'id,temp\na,1.5\nb,"multi\nline",x\nc,n/a\nd,2\n')
    rejects = tmp_path / "bad.csv"
    base = ["--redis-url", redis_url]
    # When
    code = main(
        ["--input", str(path), "--csv-types", "temp=float", "--rejects", str(rejects), *base], {}
    )
    _, err = capsys.readouterr()
    # Then: the rejects file is a CSV of its own: the header once, each record whole
    assert code == 1
    assert rejects.read_bytes() == b'id,temp\nb,"multi\nline",x\nc,n/a\n'
    reasons = (tmp_path / "bad.csv.reasons").read_text().splitlines()
    assert reasons == [
        f"{rejects}:2-3: {path}:3-4: 3 columns, the header has 2 (a quoted field runs over 2 "
        "lines: unterminated quote?)",
        f"{rejects}:4: {path}:5: column 'temp' = 'n/a' is not a float (--csv-types temp=float)",
    ]
    # When: fixed and fed again with the printed command (which keeps --csv-types)
    command = refeed_command(err)
    assert command[command.index("--csv-types") + 1] == "temp=float"
    rejects.write_bytes(b'id,temp\nb,"3.5"\nc,4\n')
    code = main([*command, *base], {})
    # Then
    assert code == 0
    assert sorted(payloads(client), key=lambda p: p["id"]) == [
        {"id": "a", "temp": 1.5},
        {"id": "b", "temp": 3.5},
        {"id": "c", "temp": 4.0},
        {"id": "d", "temp": 2.0},
    ]


def test_refeeding_with_id_field_keeps_the_first_runs_namespace(
    tmp_path, redis_url, client, capsys
):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "o-1"}\n{"id": "o-2", "bad": }\n')
    rejects = tmp_path / "bad.jsonl"
    base = ["--redis-url", redis_url]
    main(["--input", str(path), "--id-field", "id", "--rejects", str(rejects), *base], {})
    _, err = capsys.readouterr()
    command = refeed_command(err)
    rejects.write_bytes(b'{"id": "o-2", "bad": null}\n')
    assert main([*command, *base], {}) == 0
    ids = [e.fields["event_id"] for e in parse_entries(client.xrange(STREAM)) if e.fields]
    assert ids == [f"{path}:o-1", f"{path}:o-2"]


def test_a_run_without_rejects_leaves_both_files_empty_not_stale(tmp_path, redis_url, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text('{"n": 1}\n')
    rejects = tmp_path / "bad.jsonl"
    rejects.write_text("stale\n")
    (tmp_path / "bad.jsonl.reasons").write_text("stale\n")
    assert (
        main(["--input", str(path), "--rejects", str(rejects), "--redis-url", redis_url], {}) == 0
    )
    assert rejects.read_bytes() == b""
    assert (tmp_path / "bad.jsonl.reasons").read_bytes() == b""
    assert "once fixed" not in capsys.readouterr().err


def test_rejects_naming_the_input_is_refused_and_the_input_kept(tmp_path, redis_url, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text('{"n": 1}\n')
    code = main(["--input", str(path), "--rejects", str(path), "--redis-url", redis_url], {})
    assert code == 2
    assert f"--rejects {path}: {path} is the input itself" in capsys.readouterr().err
    assert path.read_text() == '{"n": 1}\n'


def test_rejects_in_a_missing_directory_is_a_usage_error(tmp_path, redis_url, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text('{"n": 1}\n')
    target = tmp_path / "no" / "such" / "bad.jsonl"
    code = main(["--input", str(path), "--rejects", str(target), "--redis-url", redis_url], {})
    assert code == 2
    assert "No such file or directory" in capsys.readouterr().err
