"""JSON Lines on stdin without ``--format`` (pure): detected from the first lines, with one
notice; plain text stays lines; mixed input warns once; the look-ahead is bounded."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from ingest.codec import Event
from ingest.lines import LINE_SLACK, Overlong
from ingest.sniff import SNIFF_LINES, SNIFF_RECORDS, sniff
from ingest.sources import InputError, Reject, read_file


def read_stdin(data: bytes, fmt: str | None = None) -> tuple[list[Event], list[Reject]]:
    items = list(read_file("-", fmt, source="feed", stdin=io.BytesIO(data)))
    return (
        [r for _, r in items if isinstance(r, Event)],
        [r for _, r in items if isinstance(r, Reject)],
    )


def notices(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "ingest.sources"]


def test_json_lines_on_stdin_are_read_as_json_with_one_notice(caplog):
    caplog.set_level(logging.INFO)
    events, rejects = read_stdin(b'{"a": 1}\n\n[1, 2]\n{"b": {"c": 3}}\n')
    assert rejects == []
    assert [e.payload for e in events] == [{"a": 1}, [1, 2], {"b": {"c": 3}}]
    assert notices(caplog) == [
        (
            logging.INFO,
            "-: the first 3 non-blank line(s) are JSON objects or arrays: read as JSON Lines, "
            "as with --format jsonl (give --format lines to send each line as a JSON string)",
        )
    ]


def test_after_the_first_lines_a_line_that_is_not_json_is_a_reject_not_a_string(caplog):
    data = b"".join(b'{"n": %d}\n' % n for n in range(SNIFF_RECORDS)) + b"plain text\n"
    events, rejects = read_stdin(data)
    assert len(events) == SNIFF_RECORDS
    assert [r.line for r in rejects] == [SNIFF_RECORDS + 1]
    assert rejects[0].reason.startswith("bad JSON")
    assert rejects[0].raw == b"plain text"


def test_a_broken_record_among_json_lines_is_a_reject_not_a_reason_to_read_strings(caplog):
    # Given: JSON Lines whose second record is malformed
    caplog.set_level(logging.INFO)
    events, rejects = read_stdin(b'{"a": 1}\n{"b": 2,\n[3]\n')
    # Then: read as JSON Lines; the broken record is a reject with its line
    assert [e.payload for e in events] == [{"a": 1}, [3]]
    assert [(r.line, r.reason[:8]) for r in rejects] == [(2, "bad JSON")]
    assert notices(caplog) == [
        (
            logging.INFO,
            "-: the first 3 non-blank lines look like JSON Lines (line(s) 2 do not parse: "
            "they will be rejected): read as JSON Lines, as with --format jsonl (give "
            "--format lines to send each line as a JSON string)",
        )
    ]


def test_lines_that_only_start_like_json_stay_lines(caplog):
    # Log lines such as "[INFO] ..." start like JSON arrays but parse as nothing
    events, rejects = read_stdin(b"[INFO] up\n[WARN] slow\n[1, 2]\n")
    assert rejects == []
    assert [e.payload for e in events] == ["[INFO] up", "[WARN] slow", "[1, 2]"]


def test_plain_text_and_json_scalars_stay_lines_without_a_notice(caplog):
    caplog.set_level(logging.INFO)
    events, _ = read_stdin(b'12\n"quoted"\nhello {world}\ntrue\n')
    assert [e.payload for e in events] == ["12", '"quoted"', "hello {world}", "true"]
    assert notices(caplog) == []


def test_mixed_input_stays_lines_and_warns_once_naming_the_lines(caplog):
    caplog.set_level(logging.INFO)
    events, _ = read_stdin(b'{"a": 1}\nplain\n{"b": 2}\n{"c": 3}\n')
    assert [e.payload for e in events][:2] == ['{"a": 1}', "plain"]
    assert notices(caplog) == [
        (
            logging.WARNING,
            "-: read as plain lines, each sent as a JSON string, though line(s) 1, 3, 4 hold "
            "JSON objects or arrays (line 2 does not); give --format jsonl to decode JSON "
            "Lines (lines that are not JSON are then rejected)",
        )
    ]


def test_an_explicit_format_is_never_second_guessed(caplog):
    caplog.set_level(logging.INFO)
    events, _ = read_stdin(b'{"a": 1}\n', fmt="lines")
    assert [e.payload for e in events] == ['{"a": 1}']
    assert notices(caplog) == []


def test_a_file_whose_extension_names_no_format_is_sniffed_too(tmp_path):
    path = tmp_path / "events.log"
    path.write_bytes(b'{"level": "info"}\n')
    items = list(read_file(str(path)))
    assert [r.payload for _, r in items if isinstance(r, Event)] == [{"level": "info"}]


def test_a_pretty_printed_document_on_stdin_is_refused_as_json_lines():
    with pytest.raises(InputError, match="one multi-line JSON document"):
        read_stdin(b'[\n  {"a": 1},\n  {"a": 2}\n]\n')


def test_undecodable_and_overlong_lines_do_not_vote_and_stay_rejects(caplog):
    caplog.set_level(logging.INFO)
    long_line = b"x" * (16 + LINE_SLACK + 1)
    data = b'\xff\xfe\n{"a": 1}\n' + long_line + b'\n{"b": 2}\n'
    items = list(read_file("-", source="f", stdin=io.BytesIO(data), max_event_bytes=16))
    kinds = [(line, type(r).__name__) for line, r in items]
    assert kinds == [(1, "Reject"), (2, "InputEvent"), (3, "Reject"), (4, "InputEvent")]
    assert [r.payload for _, r in items if isinstance(r, Event)] == [{"a": 1}, {"b": 2}]
    assert "read as JSON Lines" in notices(caplog)[0][1]


def counted(lines: list[bytes], taken: list[int]) -> Iterator[bytes]:
    for line in lines:
        taken[0] += 1
        yield line


def test_the_look_ahead_holds_a_few_lines_and_replays_them_all():
    # Given: a long JSON Lines input
    lines = [b'{"n": %d}\n' % n for n in range(10_000)]
    taken = [0]
    # When: sniffed
    replay, verdict = sniff(counted(lines, taken), "-")
    # Then: only the deciding lines were read ahead, and the replay gives every line once
    assert verdict.format == "jsonl"
    assert taken[0] == SNIFF_RECORDS
    assert list(replay) == lines


def test_the_look_ahead_stops_at_its_line_budget_on_blank_input():
    taken = [0]
    lines: list[bytes | Overlong] = [b"\n"] * (SNIFF_LINES * 3)
    replay, verdict = sniff(counted(lines, taken), "-")  # type: ignore[arg-type]
    assert verdict.format == "lines"
    assert taken[0] == SNIFF_LINES
    assert len(list(replay)) == SNIFF_LINES * 3
