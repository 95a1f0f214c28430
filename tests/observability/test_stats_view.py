"""The stats tables on narrow terminals: entry IDs are never cut, numbers never wrapped."""

from __future__ import annotations

import io

import pytest
import redis
from rich.cells import cell_len
from rich.console import Console

from ingest.groupstate import GroupState, StreamState
from ingest.stats import main, take_snapshot
from ingest.stats_view import Column, Snapshot, fit_table, needed_width, render
from ingest.streams import ConsumerInfo, EntryId

pytestmark = pytest.mark.usefixtures("restore_logging")

STREAM = "ingest:events"
GROUP = "workers-of-the-nightly-batch"
CONSUMER = "web-1-424242-0123456789abcdef"


@pytest.fixture
def busy(client: redis.Redis) -> dict[str, str]:
    """Entries with real (13-digit millisecond) IDs, a long group name, a consumer holding 3;
    returns the IDs the tables must show whole."""
    ids = [client.xadd(STREAM, {"n": str(n)}) for n in range(5)]
    client.xgroup_create(STREAM, GROUP, id="0")
    client.xreadgroup(GROUP, CONSUMER, {STREAM: ">"}, count=3)
    client.xadd("{ingest:events}:dead", {"dead_reason": "poison"})
    return {"last entry": str(ids[-1]), "last delivered": str(ids[2])}


def rendered(client: redis.Redis, redis_url: str, width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    snapshot = take_snapshot(client, STREAM, 0)
    console.print(render(snapshot, redis_url=redis_url, maxlen=1000, width=console.width))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 60, 45])
def test_entry_ids_are_never_cut(busy, client, redis_url, width):
    text = rendered(client, redis_url, width)
    for entry_id in busy.values():
        assert len(entry_id) >= 15
        assert entry_id in text, text
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_eighty_columns_keep_every_group_column_in_one_table(busy, client, redis_url):
    text = rendered(client, redis_url, 80)
    lines = text.splitlines()
    row = next(line for line in lines if busy["last delivered"] in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[1:] == ["5", "2", "3", cells[4], busy["last delivered"], "1"]
    assert GROUP.startswith(cells[0])  # the name folds onto more lines


def test_stats_cli_at_80_columns_shows_whole_ids(busy, redis_url, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--interval", "0"], {"INGEST_REDIS_URL": redis_url}) == 0
    out = capsys.readouterr().out
    for entry_id in busy.values():
        assert entry_id in out
    assert "…" not in out


def test_optional_columns_go_first_then_the_table_turns_on_its_side():
    columns = [
        Column("name", "name"),
        Column("n"),
        Column("extra", optional=True),
        Column("id", "id"),
    ]
    rows = [["a-long-group-name", "12", "x", "1718000000000-0"]]
    full = needed_width(columns, rows)
    assert full == 3 * 4 + 1 + 8 + 2 + 5 + 15

    def shown(width: int) -> str:
        out = io.StringIO()
        Console(file=out, width=width, color_system=None).print(fit_table(columns, rows, width))
        return out.getvalue()

    assert "extra" in shown(full)
    narrower = shown(full - 1)
    assert "extra" not in narrower
    assert "1718000000000-0" in narrower
    on_its_side = shown(30)
    assert "extra" in on_its_side  # one line per cell: room for every column again
    assert "1718000000000-0" in on_its_side


def test_counts_have_thousands_separators_lag_included():
    group = GroupState(
        "workers", 1000, 2410, 2410, "redis", EntryId("1718000009876-2"), 16816,
        EntryId("1718000012000-0"), 900, 2, (ConsumerInfo("web-1-4242", 500, 0),),
    )  # fmt: skip
    state = StreamState(
        "ingest:events", True, 1718000012999, 19226, EntryId("1718000000000-0"),
        EntryId("1718000012345-7"), 19226, 1, (group,),
    )  # fmt: skip
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    console.print(render(Snapshot(state, 4812.0, 1.0), redis_url="redis://h/0", maxlen=10**5))
    row = next(line for line in out.getvalue().splitlines() if "│ workers │" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "workers", "3,410", "2,410", "1,000", "0.9 s", "1718000009876-2", "2",
    ]  # fmt: skip


def _hostile_snapshot() -> Snapshot:
    name = "[/x]\x1b[2J\u202e\udcff\u65e5\u672c"
    consumer = ConsumerInfo(name=name, pending=1, idle_ms=1500)
    group = GroupState(
        name=name,
        pending=1,
        lag=0,
        undelivered=0,
        undelivered_source="redis",
        last_delivered_id=EntryId("1718000000000-0"),
        entries_read=1,
        oldest_pending_id=EntryId("1718000000000-0"),
        oldest_pending_age_ms=1000,
        consumer_count=1,
        consumers=(consumer,),
    )
    state = StreamState(
        stream="ingest:events",
        exists=True,
        time_ms=1718000001000,
        length=1,
        last_generated_id=EntryId("1718000000000-0"),
        groups=(group,),
    )
    return Snapshot(state, None, None, None, {(name, name): None})


@pytest.mark.parametrize("width", [120, 60, 40])
def test_hostile_names_render_literally_at_any_width(width):
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    console.print(render(_hostile_snapshot(), redis_url="redis://h:1/0", maxlen=10, width=width))
    text = out.getvalue()
    text.encode("utf-8")
    assert not any(c in text for c in "\x1b\u202e")
    if width == 120:  # room for the whole name: shown as escaped text, markup as typed
        assert "[/x]\\x1b[2J\\u202e\\xff\u65e5\u672c" in text
    assert "dead" in text
    assert max(cell_len(line) for line in text.splitlines()) <= width
