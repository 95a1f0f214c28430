"""Input readers (pure, on temporary files): ids, rejects with line numbers, gzip, synthetic."""

from __future__ import annotations

import gzip
import io
import os

import pytest

from ingest.codec import Event
from ingest.sources import InputError, Numbered, Reject, detect_format, read_file, synthetic
from tests.conftest import DEMO_CSV


def lines_of(events: list[Event]) -> list[str]:
    """``<prefix>:<line>`` of default ids ``<prefix>:<line>:<digest>``."""
    return [e.event_id.rsplit(":", 1)[0] for e in events]


def split(items: list[Numbered]) -> tuple[list[Event], list[Reject]]:
    events = [r for _, r in items if isinstance(r, Event)]
    rejects = [r for _, r in items if isinstance(r, Reject)]
    return events, rejects


def test_detect_format_from_extension():
    assert detect_format("a.csv.gz") == "csv"
    assert detect_format("a.NDJSON") == "jsonl"
    assert detect_format("a.jsonl") == "jsonl"
    assert detect_format("a.json") == "jsonl"
    assert detect_format("a.JSON.gz") == "jsonl"
    assert detect_format("a.log") == "lines"


def test_bundled_csv_gives_one_event_per_row_keyed_by_header():
    events, rejects = split(list(read_file(str(DEMO_CSV))))
    assert rejects == []
    assert len(events) == 19_226
    first = events[0]
    assert first.event_id.rsplit(":", 1)[0] == f"{os.path.realpath(DEMO_CSV)}:2"
    assert first.source == os.path.realpath(DEMO_CSV)
    assert set(first.payload) == {"time (UTC)", "temperature (celsius)"}


def test_csv_wrong_column_count_and_bad_bytes_are_rejected_with_line_numbers(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b'a,b\n1,2\n3\n\xff,4\n"x\ny",5\n6,7,8\n9,10\n')
    events, rejects = split(list(read_file(str(path))))
    assert [str(r) for r in rejects] == [
        f"{path}:3: 1 column, the header has 2",
        f"{path}:4: not UTF-8 (byte 0xff at column 1); if the file is in another encoding, "
        "give it with --encoding (e.g. latin-1)",
        f"{path}:7: 3 columns, the header has 2",
    ]
    real = os.path.realpath(path)
    assert lines_of(events) == [f"{real}:2", f"{real}:5", f"{real}:8"]
    assert events[1].payload == {"a": "x\ny", "b": "5"}


def test_csv_unterminated_quote_is_reported_over_the_lines_it_swallowed(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('a,b\n1,2\n3,4\n5,6\n7,8\n"unterminated,8\n9,10\n')
    items = list(read_file(str(path)))
    events, rejects = split(items)
    assert [str(r) for r in rejects] == [
        f"{path}:6-7: 1 column, the header has 2 "
        "(a quoted field runs over 2 lines: unterminated quote?)"
    ]
    assert (rejects[0].line, rejects[0].end_line) == (6, 7)
    assert items[-1][0] == 6  # numbered by the line the record starts on
    assert len(events) == 4


def test_csv_record_over_three_lines_with_too_many_columns_names_the_range(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('a,b\n1,"x\ny\nz",3\n4,5\n')
    events, rejects = split(list(read_file(str(path))))
    assert [str(r) for r in rejects] == [
        f"{path}:2-4: 3 columns, the header has 2 "
        "(a quoted field runs over 3 lines: unterminated quote?)"
    ]
    assert [e.payload for e in events] == [{"a": "4", "b": "5"}]


def test_reject_on_one_line_shows_one_line_number():
    assert str(Reject("f.csv", 3, "bad")) == "f.csv:3: bad"
    assert str(Reject("f.csv", 3, "bad", end_line=3)) == "f.csv:3: bad"


def test_jsonl_bad_json_rejected_blank_lines_skipped(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "v": 1}\n\n{bad\n{"id": "b"}\n')
    events, rejects = split(list(read_file(str(path))))
    real = os.path.realpath(path)
    assert lines_of(events) == [f"{real}:1", f"{real}:4"]
    assert len(rejects) == 1
    assert str(rejects[0]).startswith(f"{path}:3: bad JSON")


def test_id_field_and_a_missing_id_is_rejected(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a"}\n{"other": 1}\n')
    events, rejects = split(list(read_file(str(path), id_field="id")))
    assert [e.event_id for e in events] == [f"{os.path.realpath(path)}:a"]
    assert str(rejects[0]) == f"{path}:2: no value for the id field 'id'"


def test_gzip_is_read_transparently_and_ids_are_stable(tmp_path):
    path = tmp_path / "in.log.gz"
    path.write_bytes(gzip.compress(b"one\ntwo\n\nthree\n"))
    first, _ = split(list(read_file(str(path))))
    second, _ = split(list(read_file(str(path))))
    assert [e.payload for e in first] == ["one", "two", "three"]
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert lines_of(first)[2] == f"{os.path.realpath(path)}:4"


def test_stdin_with_source_name():
    stdin = io.BytesIO(b"a\nb\n")
    events, _ = split(list(read_file("-", "lines", source="feed", stdin=stdin)))
    assert lines_of(events) == ["feed:1", "feed:2"]


def test_synthetic_ids_are_unique_across_runs():
    one = [e.event_id for _, e in synthetic(100) if isinstance(e, Event)]
    two = [e.event_id for _, e in synthetic(100) if isinstance(e, Event)]
    assert len(set(one)) == 100
    assert not set(one) & set(two)
    _, event = next(synthetic(1, seed=1))
    assert isinstance(event, Event)
    assert set(event.payload) == {"sensor_id", "temperature", "humidity", "seq"}


def ids_of(path: object, **kwargs: object) -> list[str]:
    events, _ = split(list(read_file(str(path), **kwargs)))  # type: ignore[arg-type]
    return lines_of(events)


def test_files_with_the_same_name_in_two_directories_get_different_ids(tmp_path, monkeypatch):
    # Given: two days of events, both called events.jsonl
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "events.jsonl").write_text('{"n": 1}\n{"n": 2}\n')
    monkeypatch.chdir(tmp_path / "day1")
    # When read by a relative and by an absolute path
    one = ids_of("events.jsonl")
    two = ids_of(tmp_path / "day2" / "events.jsonl")
    # Then: no id is shared, and re-reading the same file gives the same ids
    day1 = os.path.realpath(tmp_path / "day1" / "events.jsonl")
    assert not set(one) & set(two)
    assert one == [f"{day1}:1", f"{day1}:2"]
    assert ids_of(tmp_path / "day1" / "events.jsonl") == one
    assert ids_of("./../day1/events.jsonl") == one


def test_explicit_source_names_the_ids(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"n": 1}\n')
    events, _ = split(list(read_file(str(path), source="shop")))
    assert [(e.event_id.rsplit(":", 1)[0], e.source) for e in events] == [("shop:1", "shop")]


def test_stdin_without_a_source_gets_ids_unique_per_run():
    runs = [split(list(read_file("-", "lines", stdin=io.BytesIO(b"a\nb\n"))))[0] for _ in "ab"]
    first, second = ([e.event_id for e in events] for events in runs)
    assert not set(first) & set(second)
    assert all(e.source == "stdin" for e in runs[0])
    events, _ = split(list(read_file("-", "lines", stdin=io.BytesIO(b"a\n"), run_id="r1")))
    assert lines_of(events) == ["stdin:r1:1"]


@pytest.mark.parametrize(
    ("name", "body", "payload"),
    [
        ("in.jsonl", b'{"n": 1}\n', {"n": 1}),
        ("in.csv", b"a,b\n1,2\n", {"a": "1", "b": "2"}),
        ("in.txt", b"hello\n", "hello"),
    ],
)
def test_a_leading_byte_order_mark_is_not_part_of_line_one(tmp_path, name, body, payload):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + body)
    events, rejects = split(list(read_file(str(path))))
    assert rejects == []
    assert [e.payload for e in events] == [payload]


def test_csv_header_with_a_duplicate_name_rejects_the_file_before_any_record(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a\n1,2\n")
    items: list[Numbered] = []
    with pytest.raises(InputError) as raised:
        items.extend(read_file(str(path)))
    assert str(raised.value) == f"{path}:1: duplicate column name 'a'"
    assert items == []


def test_csv_unnamed_columns_are_named_by_position(tmp_path):
    # Given: a header like the cycling data's, with an unnamed index column, and one more
    path = tmp_path / "ride.csv.gz"
    path.write_bytes(gzip.compress(b",position_lat,,time\n0,-1388,x,0 days\n1,-1387,y,1 day\n"))
    events, rejects = split(list(read_file(str(path))))
    assert rejects == []
    assert events[0].payload == {
        "column_1": "0",
        "position_lat": "-1388",
        "column_3": "x",
        "time": "0 days",
    }
    assert len(events) == 2


def test_csv_unnamed_column_colliding_with_a_real_name_is_a_duplicate(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(",column_1\n1,2\n")
    with pytest.raises(InputError, match=r":1: duplicate column name 'column_1'"):
        list(read_file(str(path)))


def test_truncated_gzip_keeps_every_line_before_the_break_and_rejects_the_rest(tmp_path):
    # Given: a gzip file cut in half
    whole = gzip.compress(b"".join(b'{"n": %d}\n' % n for n in range(1, 5001)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    items = list(read_file(str(path)))
    events, rejects = split(items)
    # Then: every line read is an event, in order, and one reject says where reading stopped
    assert [e.payload for e in events] == [{"n": n} for n in range(1, len(events) + 1)]
    assert 0 < len(events) < 5000
    assert len(rejects) == 1
    assert rejects[0].line == len(events) + 1
    assert str(rejects[0]).startswith(f"{path}:{len(events) + 1}: read error: Compressed file")
    assert items[-1][1] == rejects[0]


def test_corrupt_gzip_data_is_a_reject_not_a_crash(tmp_path):
    whole = bytearray(gzip.compress(b"".join(b"line %d\n" % n for n in range(1, 3001))))
    whole[200:220] = bytes(20)
    path = tmp_path / "bad.log.gz"
    path.write_bytes(bytes(whole))
    _, rejects = split(list(read_file(str(path))))
    assert len(rejects) == 1
    assert "read error" in rejects[0].reason


def test_json_extension_is_json_lines(tmp_path):
    path = tmp_path / "events.json"
    path.write_text('{"n": 1}\n[1, 2]\n{bad\n{oops\n')
    events, rejects = split(list(read_file(str(path))))
    assert [e.payload for e in events] == [{"n": 1}, [1, 2]]
    assert str(rejects[0]).startswith(f"{path}:3: bad JSON")
    assert "one JSON value per line" in rejects[0].reason  # said once, on the first
    assert "one JSON value per line" not in rejects[1].reason


def test_a_multi_line_json_document_is_refused_as_a_whole(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('\n[\n  {"n": 1},\n  2\n]\n')
    with pytest.raises(InputError, match=r"doc\.json:2: one multi-line JSON document"):
        list(read_file(str(path)))
