"""``--csv-types`` (pure, temporary files): typed columns, ``auto``, rejects naming the line
and the column, and refusals of specs and headers that do not fit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.codec import Event, dumps
from ingest.csvtypes import CellError, parse_csv_types
from ingest.errors import ConfigError
from ingest.settings import ProducerSettings
from ingest.sources import InputError, Reject, read_file


def read(path: object, **kwargs: object) -> tuple[list[Event], list[Reject]]:
    items = list(read_file(str(path), **kwargs))  # type: ignore[arg-type]
    return (
        [r for _, r in items if isinstance(r, Event)],
        [r for _, r in items if isinstance(r, Reject)],
    )


def csv_file(tmp_path, text: str) -> object:
    path = tmp_path / "in.csv"
    path.write_text(text)
    return path


def test_without_types_every_csv_value_is_a_string(tmp_path):
    path = csv_file(tmp_path, "n,x,ok\n1,2.5,true\n,,\n")
    events, _ = read(path)
    assert [e.payload for e in events] == [
        {"n": "1", "x": "2.5", "ok": "true"}
    ]  # blank row skipped
    events, _ = read(csv_file(tmp_path, "n,x\n1,\n"))
    assert events[0].payload == {"n": "1", "x": ""}


def test_named_columns_are_converted_and_blank_values_are_null(tmp_path):
    path = csv_file(tmp_path, "id,temp,count,ok,note\n007,21.5,3,yes,x\n008, ,-4,FALSE,\n")
    events, rejects = read(path, csv_types="temp=float,count=int,ok=bool")
    assert rejects == []
    assert [e.payload for e in events] == [
        {"id": "007", "temp": 21.5, "count": 3, "ok": True, "note": "x"},
        {"id": "008", "temp": None, "count": -4, "ok": False, "note": ""},
    ]


def test_a_value_that_does_not_convert_rejects_its_record_naming_line_and_column(tmp_path):
    # Given: a bad float on line 3 and two bad values on line 4
    path = csv_file(tmp_path, "temp,count\n1.5,2\nn/a,3\nhot,x\n2,4\n")
    # When
    events, rejects = read(path, csv_types="temp=float,count=int")
    # Then: the good records land, each bad one is a reject with its line and column
    assert [e.payload for e in events] == [{"temp": 1.5, "count": 2}, {"temp": 2.0, "count": 4}]
    assert [str(r) for r in rejects] == [
        f"{path}:3: column 'temp' = 'n/a' is not a float (--csv-types temp=float,count=int)",
        f"{path}:4: column 'temp' = 'hot' is not a float (1 more value(s) of this record do "
        "not convert either) (--csv-types temp=float,count=int)",
    ]
    assert rejects[0].raw == b"n/a,3"
    assert rejects[0].header == b"temp,count"


@pytest.mark.parametrize(
    ("type_", "bad"),
    [
        ("int", "1.5"),
        ("int", "1e3"),
        ("int", "12abc"),
        ("int", "9" * 5000),  # past Python's int digits limit
        ("float", "nan"),
        ("float", "inf"),
        ("float", "1e999"),
        ("float", "1,5"),
        ("bool", "maybe"),
    ],
)
def test_values_json_cannot_hold_or_that_are_not_numbers_are_rejects(tmp_path, type_, bad):
    path = csv_file(tmp_path, f'v\n"{bad}"\n')
    events, rejects = read(path, csv_types=f"v={type_}")
    assert events == []
    assert len(rejects) == 1
    assert f"column 'v' = {bad[:40]!r}".rstrip("'") in rejects[0].reason
    assert len(rejects[0].reason) < 200  # a long value is shown cut


def test_auto_infers_numbers_booleans_and_nulls_and_keeps_the_rest_as_read(tmp_path):
    path = csv_file(
        tmp_path,
        f"a,b,c,d,e,f,g,h,i,j\n12,-3.5,1e3,TRUE,,007,{2**53},nan,x y, 4 \n",
    )
    events, rejects = read(path, csv_types="auto")
    assert rejects == []
    assert events[0].payload == {
        "a": 12,
        "b": -3.5,
        "c": 1000.0,
        "d": True,
        "e": None,
        "f": "007",  # leading zeros: an identifier, not a number
        "g": str(2**53),  # beyond what every JSON parser holds exactly
        "h": "nan",
        "i": "x y",
        "j": 4,
    }


def test_auto_for_the_rest_and_a_type_for_some(tmp_path):
    path = csv_file(tmp_path, "zip,n\n01234,5\n")
    events, _ = read(path, csv_types="auto,zip=str")
    assert events[0].payload == {"zip": "01234", "n": 5}
    events, _ = read(path, csv_types="zip=int")
    assert events[0].payload == {"zip": 1234, "n": "5"}


def test_a_quoted_item_names_a_column_with_a_comma(tmp_path):
    path = csv_file(tmp_path, '"temp, C",n\n2.5,1\n')
    events, _ = read(path, csv_types='"temp, C=float"')
    assert events[0].payload == {"temp, C": 2.5, "n": "1"}


def test_types_do_not_change_event_ids(tmp_path):
    path = csv_file(tmp_path, "n\n1\n")
    plain, _ = read(path)
    typed, _ = read(path, csv_types="n=int")
    assert [e.event_id for e in plain] == [e.event_id for e in typed]


def test_a_typed_column_missing_from_the_header_refuses_the_file(tmp_path):
    path = csv_file(tmp_path, "a,b\n1,2\n")
    with pytest.raises(InputError) as caught:
        read(path, csv_types="c=int")
    assert str(caught.value) == (
        f"{path}:1: --csv-types names 'c', which is not a column of the header (columns: 'a', 'b')"
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("a=decimal", "unknown type 'decimal'"),
        ("=int", "give the column name"),
        ("a=int,a=float", "named twice"),
        ("str", "names no column"),
        ("a", "unknown type 'a'"),
    ],
)
def test_a_bad_spec_is_a_setting_error(spec, problem):
    with pytest.raises(ValueError, match=problem):
        parse_csv_types(spec)
    with pytest.raises(ConfigError, match=f"--csv-types = {spec!r}"):
        ProducerSettings.from_sources({"csv_types": spec, "input": "x.csv"}, {})


def test_types_for_input_that_is_not_csv_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--csv-types is for CSV input"):
        ProducerSettings(input="x", format="jsonl", csv_types="auto")
    with pytest.raises(ConfigError, match="--csv-types is for CSV input"):
        ProducerSettings(synthetic=3, csv_types="auto")
    path = tmp_path / "in.jsonl"
    path.write_text("{}\n")
    with pytest.raises(ConfigError, match=r"in.jsonl is read as jsonl \(give --format csv\)"):
        read(path, csv_types="auto")


@settings(max_examples=300, deadline=None, database=None)  # no .hypothesis/ in the repo
@given(
    type_=st.sampled_from(["str", "int", "float", "bool", "auto"]),
    value=st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\s*[+-]?[0-9]{0,25}(\.[0-9]*)?([eE][+-]?[0-9]{1,4})?\s*", fullmatch=True),
        st.sampled_from(["nan", "-inf", "1e999", "007", "TRUE", " 1 ", "٣", "1_000", "0x1f"]),
    ),
)
def test_conversion_is_total_and_gives_json_values(type_, value):
    # A value converts to something JSON holds (no NaN or infinity), or is a CellError naming
    # the column; auto and str never reject.
    converter = parse_csv_types(f"v={type_}").bind(["v"])
    try:
        converted = converter.convert({"v": value})["v"]
    except CellError as exc:
        assert type_ not in ("auto", "str")
        assert exc.column == "v"
        return
    dumps(converted)  # raises on NaN/Infinity
    if not value.strip() and type_ != "str":
        assert converted is None
    if type_ == "auto" and isinstance(converted, str):
        assert converted == value  # kept as read
