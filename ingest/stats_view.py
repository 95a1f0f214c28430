"""The tables of ``python -m ingest.stats``: a snapshot of a stream as rich renderables.

Layout rule: an entry ID is never cut (``179594935181…`` cannot be copied into XRANGE,
XCLAIM or ``python -m workers.dlq show``) and a number is never wrapped. Names (groups,
consumers) give way first: they fold onto more lines. On a terminal too narrow for that, the
groups table drops its lag column (backlog minus pending) and consumer count (the consumers
table lists them); narrower still, a table is turned on its side (``header  value`` lines),
and only below the width of a header plus an ID would an ID fold onto a second line: it
never loses digits.

Names come from the server (a group or consumer name is whatever a client chose) and are data:
every cell, title and caption is handed to rich as :class:`rich.text.Text`, never as markup,
after :func:`ingest.display.visible` (controls, ANSI escapes, bidi overrides and bytes that are
not UTF-8 are shown escaped). Widths are measured in terminal cells, so wide characters fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ingest.display import visible
from ingest.groupstate import GroupState, StreamState
from ingest.settings import redact_text
from ingest.streams import ConsumerInfo

Kind = Literal["name", "number", "id"]
NAME_MIN_WIDTH = 8
"""Columns a folding name keeps at least when deciding whether a table fits."""


Liveness = Mapping[tuple[str, str], str | None]
"""``(group, consumer)`` -> the value of its liveness key (``host:pid`` of the worker holding
the name), ``None`` when the key does not exist (expired or never set: the consumer is dead)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stream state plus what needs two samples: events/s added, over ``interval_s``; the
    settings the producer recorded (``None`` when none were); and each consumer's liveness
    key (``None`` when not read)."""

    state: StreamState
    events_per_s: float | None
    interval_s: float | None
    producer_settings: Mapping[str, Any] | None = None
    liveness: Liveness | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header (``\\n`` for a two-line header), its kind, and whether a narrow
    terminal may drop it."""

    header: str
    kind: Kind = "number"
    optional: bool = False


def effective_cap(snapshot: Snapshot, maxlen: int) -> tuple[int, str]:
    """``(cap, source)``: the producer's recorded cap (``producer``), else ``maxlen``
    (``option``)."""
    if snapshot.producer_settings is not None:
        return int(snapshot.producer_settings["maxlen"]), "producer"
    return maxlen, "option"


def human_age(ms: int | None) -> str:
    """``None`` -> ``-``; 850 -> ``0.8 s``; 75_000 -> ``1 m 15 s``; 7_500_000 -> ``2 h 5 m``;
    180_000_000 -> ``2 d 2 h``."""
    if ms is None:
        return "-"
    seconds = ms / 1000.0
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def needed_width(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> int:
    """Terminal columns a table needs with numbers and IDs whole and names folded to
    :data:`NAME_MIN_WIDTH` (rich's default box: 3 per column for padding and rule, plus 1)."""
    total = 3 * len(columns) + 1
    for index, column in enumerate(columns):
        cells = [*column.header.split("\n"), *(visible(row[index]) for row in rows)]
        widest = max(cell_len(cell) for cell in cells)
        total += min(widest, NAME_MIN_WIDTH) if column.kind == "name" else widest
    return total


def fit_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    **table_args: Any,
) -> Table:
    """A table of ``rows`` laid out for a terminal ``width`` columns wide (``None``: any).

    When the table does not fit whole, its optional columns are dropped; when it still does
    not fit, it is turned on its side (one ``header  value`` line per cell, a section per
    row), where an ID has the room of the whole line. ``table_args`` go to
    :class:`rich.table.Table` (title, caption, ...). Cells, and a title or caption given as
    ``str``, are shown as plain text after :func:`ingest.display.visible`: whatever they hold,
    rich reads no markup in them.
    """
    table_args = {
        key: Text(visible(value)) if isinstance(value, str) else value
        for key, value in table_args.items()
    }
    if width is None or needed_width(columns, rows) <= width:
        return _across(columns, rows, table_args)
    keep = [i for i, column in enumerate(columns) if not column.optional]
    shown = [columns[i] for i in keep]
    kept_rows = [[row[i] for i in keep] for row in rows]
    if needed_width(shown, kept_rows) <= width:
        return _across(shown, kept_rows, table_args)
    return _down(columns, rows, table_args)


def _across(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], table_args: Mapping[str, Any]
) -> Table:
    table = Table(**table_args)
    for column in columns:
        if column.kind == "name":
            table.add_column(column.header, overflow="fold")
        else:  # fits whole (see needed_width): no wrapping, so nothing is cut or split
            table.add_column(column.header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(visible(cell)) for cell in row))
    return table


def _down(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], table_args: Mapping[str, Any]
) -> Table:
    table = Table(show_header=False, **table_args)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    for row in rows:
        for index, (column, cell) in enumerate(zip(columns, row, strict=True)):
            header = column.header.replace("\n", " ")
            last = index == len(columns) - 1
            table.add_row(Text(header), Text(visible(cell)), end_section=last)
    return table


def _lag_text(group: GroupState) -> str:
    if group.undelivered_source == "counted-bound":
        return f">={group.undelivered:,}"
    if group.undelivered_source == "counted":
        return f"{group.undelivered:,} (counted)"
    return f"{group.undelivered:,}"


STREAM_COLUMNS = (
    Column("XLEN"),
    Column("cap"),
    Column("dead\nletters"),
    Column("events/s"),
    Column("last entry id", "id"),
)
GROUP_COLUMNS = (
    Column("group", "name"),
    Column("backlog"),
    Column("lag", optional=True),
    Column("pending"),
    Column("oldest\npending"),
    Column("last delivered\nid", "id"),
    Column("consumers", optional=True),
)
CONSUMER_COLUMNS = (
    Column("group", "name"),
    Column("consumer", "name"),
    Column("live", "id"),
    Column("pending"),
    Column("idle"),
)
INACTIVE_COLUMN = Column("inactive")
"""Shown when the server reports it (Redis >= 7.2): time since the consumer last got entries."""

IDLE_SINCE_ATTEMPT = (
    "idle: since the consumer's last read or claim, even one that got nothing; inactive: "
    "since it last got entries. "
)
IDLE_SINCE_SUCCESS = (
    "idle: since the consumer last got entries (read or claimed); on Redis < 7.2 a read that "
    "gets nothing does not reset it, so a live consumer with nothing to do shows a rising "
    "idle time. "
)
LIVE_MEANING = "live/dead: whether its worker keeps its liveness key fresh."


def live_text(liveness: Liveness | None, group: str, consumer: str) -> str:
    """``live``, ``dead`` or ``-`` (liveness not read) for the consumers table."""
    if liveness is None:
        return "-"
    return "dead" if liveness.get((group, consumer)) is None else "live"


def render(snapshot: Snapshot, *, redis_url: str, maxlen: int, width: int | None = None) -> Group:
    """Tables for the stream, its groups and their consumers (rich renderables), laid out
    for a terminal ``width`` columns wide (``None``: as wide as they like)."""
    state = snapshot.state
    title = f"stream {visible(state.stream)} on {redact_text(redis_url)}"
    if not state.exists:
        return Group(Text(title, style="bold"), Text("the stream does not exist (yet)"))
    cap, cap_source = effective_cap(snapshot, maxlen)
    speed = "-" if snapshot.events_per_s is None else f"{snapshot.events_per_s:,.1f}"
    stream_row = [
        f"{state.length:,}",
        f"{cap:,}",
        f"{state.dead_letter_length:,}",
        speed,
        state.last_generated_id,
    ]
    stream = fit_table(
        STREAM_COLUMNS,
        [stream_row],
        width,
        title=title,
        title_justify="left",
        caption=_cap_caption(snapshot, cap_source),
        caption_justify="left",
    )
    parts: list[Any] = [stream, _groups(state.groups, width)]
    consumers = _consumers(snapshot, width)
    if consumers is not None:
        parts.append(consumers)
    return Group(*parts)


def _consumers(snapshot: Snapshot, width: int | None) -> Group | None:
    """The consumers table (``None`` without consumers), with an ``inactive`` column when the
    server reports it, and below it a note (as wide as the terminal) saying what idle means
    on this server."""
    pairs: list[tuple[str, ConsumerInfo]] = [
        (g.name, c) for g in snapshot.state.groups for c in g.consumers
    ]
    if not pairs:
        return None
    inactive = any(c.inactive_ms is not None for _, c in pairs)
    columns = (*CONSUMER_COLUMNS, INACTIVE_COLUMN) if inactive else CONSUMER_COLUMNS
    rows = []
    for group, c in pairs:
        row = [group, c.name, live_text(snapshot.liveness, group, c.name)]
        row += [f"{c.pending:,}", human_age(c.idle_ms)]
        rows.append([*row, human_age(c.inactive_ms)] if inactive else row)
    table = fit_table(columns, rows, width, title="consumers", title_justify="left")
    note = (IDLE_SINCE_ATTEMPT if inactive else IDLE_SINCE_SUCCESS) + LIVE_MEANING
    return Group(table, Text(note, style="dim"))


def _groups(groups: Sequence[GroupState], width: int | None) -> Table | Text:
    if not groups:
        return Text("no consumer groups")
    rows = [
        [
            g.name,
            f"{g.backlog:,}" if g.exact else f">={g.backlog:,}",
            _lag_text(g),
            f"{g.pending:,}",
            human_age(g.oldest_pending_age_ms),
            g.last_delivered_id,
            str(g.consumer_count),
        ]
        for g in groups
    ]
    return fit_table(GROUP_COLUMNS, rows, width, title="consumer groups", title_justify="left")


def _cap_caption(snapshot: Snapshot, cap_source: str) -> str:
    recorded = snapshot.producer_settings
    if cap_source != "producer" or recorded is None:
        return "cap: --maxlen (no producer has recorded its settings)"
    age = human_age(max(snapshot.state.time_ms - recorded["updated_at_ms"], 0))
    return (
        f"cap and marks recorded by the producer {age} ago: high-water "
        f"{recorded['high_water']:,}, low-water {recorded['low_water']:,}, "
        f"no-group {recorded['no_group']}"
    )
