"""Input readers (pure, on temporary files): ids, rejects with line numbers, gzip, synthetic."""

from __future__ import annotations

import gzip
import io

from ingest.codec import Event
from ingest.sources import Numbered, Reject, detect_format, read_file, synthetic
from tests.conftest import DEMO_CSV


def split(items: list[Numbered]) -> tuple[list[Event], list[Reject]]:
    events = [r for _, r in items if isinstance(r, Event)]
    rejects = [r for _, r in items if isinstance(r, Reject)]
    return events, rejects


def test_detect_format_from_extension():
    assert detect_format("a.csv.gz") == "csv"
    assert detect_format("a.NDJSON") == "jsonl"
    assert detect_format("a.jsonl") == "jsonl"
    assert detect_format("a.log") == "lines"


def test_bundled_csv_gives_one_event_per_row_keyed_by_header():
    events, rejects = split(list(read_file(str(DEMO_CSV))))
    assert rejects == []
    assert len(events) == 19_226
    first = events[0]
    assert first.event_id == "sea_surface_temperature.csv.gz:2"
    assert set(first.payload) == {"time (UTC)", "temperature (celsius)"}


def test_csv_wrong_column_count_and_bad_bytes_are_rejected_with_line_numbers(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b'a,b\n1,2\n3\n\xff,4\n"x\ny",5\n6,7,8\n9,10\n')
    events, rejects = split(list(read_file(str(path))))
    assert [str(r) for r in rejects] == [
        f"{path}:3: 1 columns, the header has 2",
        f"{path}:4: not UTF-8 (byte 0xff at column 1)",
        f"{path}:7: 3 columns, the header has 2",
    ]
    assert [e.event_id for e in events] == ["in.csv:2", "in.csv:5", "in.csv:8"]
    assert events[1].payload == {"a": "x\ny", "b": "5"}


def test_jsonl_bad_json_rejected_blank_lines_skipped(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "v": 1}\n\n{bad\n{"id": "b"}\n')
    events, rejects = split(list(read_file(str(path))))
    assert [e.event_id for e in events] == ["in.jsonl:1", "in.jsonl:4"]
    assert len(rejects) == 1
    assert str(rejects[0]).startswith(f"{path}:3: bad JSON")


def test_id_field_and_a_missing_id_is_rejected(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a"}\n{"other": 1}\n')
    events, rejects = split(list(read_file(str(path), id_field="id")))
    assert [e.event_id for e in events] == ["a"]
    assert str(rejects[0]) == f"{path}:2: no value for the id field 'id'"


def test_gzip_is_read_transparently_and_ids_are_stable(tmp_path):
    path = tmp_path / "in.log.gz"
    path.write_bytes(gzip.compress(b"one\ntwo\n\nthree\n"))
    first, _ = split(list(read_file(str(path))))
    second, _ = split(list(read_file(str(path))))
    assert [e.payload for e in first] == ["one", "two", "three"]
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert first[2].event_id == "in.log.gz:4"


def test_stdin_with_source_name():
    stdin = io.BytesIO(b"a\nb\n")
    events, _ = split(list(read_file("-", "lines", source="feed", stdin=stdin)))
    assert [e.event_id for e in events] == ["feed:1", "feed:2"]


def test_synthetic_ids_are_unique_across_runs():
    one = [e.event_id for _, e in synthetic(100) if isinstance(e, Event)]
    two = [e.event_id for _, e in synthetic(100) if isinstance(e, Event)]
    assert len(set(one)) == 100
    assert not set(one) & set(two)
    _, event = next(synthetic(1, seed=1))
    assert isinstance(event, Event)
    assert set(event.payload) == {"sensor_id", "temperature", "humidity", "seq"}
