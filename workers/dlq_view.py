"""What ``python -m workers.dlq list`` and ``show`` print: JSON, or a readable terminal view.

Every value comes from the dead-letter stream, which any program may have written to: it is
data, never markup or control. Terminal output reaches rich only as :class:`rich.text.Text`
after :func:`ingest.display.visible` (controls, ANSI escapes, bidi overrides and bytes that
are not UTF-8 shown escaped); JSON goes through :func:`ingest.display.json_text` (valid UTF-8,
bytes that are not UTF-8 as ``\\xNN``). Fields are shown generically: a ``dead_*`` field this
version does not know is shown like any other.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ingest.codec import now_ms
from ingest.display import has_raw_bytes, json_text, visible, visible_lines
from ingest.stats_view import human_age
from workers.dlq_inspect import DeadLetter, entry_time_ms

__all__ = ["bounded", "print_list", "print_show", "row", "wants_json"]

SHOWN_CHARS = 4096
"""Most characters of one value a table shows (the worker stores errors of at most 1000);
``--json`` has every value whole."""

FIRST_FIELDS = (
    "dead_reason",
    "dead_error_type",
    "dead_error",
    "dead_traceback",
    "dead_entry_id",
    "dead_stream",
    "dead_group",
    "dead_consumer",
    "dead_delivery_count",
    "dead_failed_attempts",
    "dead_at_ms",
)
"""The order ``show`` lists the dead-letter fields it knows; other ``dead_*`` fields follow
(sorted), then the original entry's fields in their stored order."""


def wants_json(as_json: bool) -> bool:
    """JSON when asked, or when stdout is not a terminal (a pipe or a file)."""
    return as_json or not sys.stdout.isatty()


def bounded(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` whole when at most ``limit`` characters, else cut there with the count of
    what was left out (`` [+1234 characters]``)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [+{len(text) - limit} characters]"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def row(entry_id: str, f: Mapping[str, str], now: int | None = None) -> dict[str, Any]:
    """One ``list`` row: ``id``, ``event_id``, ``reason``, ``error_type``, ``error`` (whole,
    up to :data:`SHOWN_CHARS`), ``deliveries`` (the delivery count when dead-lettered, an int;
    ``None`` if not recorded) and ``age_s`` (seconds since it was dead-lettered, 0.1 s steps:
    from ``dead_at_ms``, else from the entry ID)."""
    dead_at = _int(f.get("dead_at_ms")) or entry_time_ms(entry_id)
    return {
        "id": entry_id,
        "event_id": f.get("event_id", ""),
        "reason": f.get("dead_reason", ""),
        "error_type": f.get("dead_error_type", ""),
        "error": bounded(f.get("dead_error", "")),
        "deliveries": _int(f.get("dead_delivery_count")),
        "age_s": round(((now_ms() if now is None else now) - dead_at) / 1000, 1),
    }


def _print(renderable: RenderableType) -> None:
    Console(highlight=False).print(renderable)


def print_list(entries: Sequence[DeadLetter], as_json: bool, empty_note: str) -> None:
    """``list``: the rows as one JSON array, or on a terminal one block per entry (newest
    first): a line with the entry ID, reason, error type, deliveries and age, then the event
    ID and the error message on lines of their own, folded to the width, never cut. When the
    first line would not fit the terminal, the error type moves to the message line. An
    empty list prints ``empty_note`` on a terminal."""
    now = now_ms()
    rows = [row(entry_id, fields, now) for entry_id, fields in entries]
    if wants_json(as_json):
        print(json_text(rows))
        return
    if not rows:
        print(empty_note)
        return
    console = Console(highlight=False)
    console.print(_list_view(rows, console.width))


_HEADERS = ("entry id", "reason", "error type", "deliveries", "age")
_DROP_ORDER = (2, 3, 1)
"""Columns leaving the first line, in this order, while it does not fit the terminal: the
error type joins the message line, deliveries and reason get a line of their own."""


def _cells(r: Mapping[str, Any]) -> list[str]:
    return [
        visible(r["id"]),
        visible(r["reason"]) or "-",
        visible(r["error_type"]) or "-",
        "-" if r["deliveries"] is None else str(r["deliveries"]),
        human_age(int(r["age_s"] * 1000)),
    ]


def _list_view(rows: Sequence[Mapping[str, Any]], width: int) -> Group:
    cells = [_cells(r) for r in rows]
    widths = [max(cell_len(h), *(cell_len(c[i]) for c in cells)) for i, h in enumerate(_HEADERS)]
    shown = [0, 1, 2, 3, 4]
    for column in _DROP_ORDER:
        if sum(widths[i] for i in shown) + 2 * (len(shown) - 1) <= width:
            break
        shown.remove(column)

    def line(values: Sequence[str], style: str = "") -> Text:
        parts = []
        for i in shown:
            pad = widths[i] - cell_len(values[i])
            parts.append(" " * pad + values[i] if i >= 3 else values[i] + " " * pad)
        return Text("  ".join(parts).rstrip(), style=style)

    out: list[RenderableType] = [line(_HEADERS, "bold")]
    for r, c in zip(rows, cells, strict=True):
        out.append(line(c))
        details = Table.grid(padding=(0, 1))
        details.add_column(no_wrap=True, style="dim")
        details.add_column(overflow="fold")
        for i in (1, 3):
            if i not in shown:
                details.add_row(_HEADERS[i], Text(c[i]))
        details.add_row("event", Text(visible(r["event_id"]) or "-"))
        error = visible(r["error"])
        if 2 not in shown and r["error_type"]:
            error = f"{c[2]}: {error}"
        details.add_row("error", Text(error or "-"))
        out.append(Padding(details, (0, 0, 0, 2), expand=False))
    return Group(*out)


def _ordered(fields: Mapping[str, str]) -> list[str]:
    known = [name for name in FIRST_FIELDS if name in fields]
    other_dead = sorted(n for n in fields if n.startswith("dead_") and n not in FIRST_FIELDS)
    rest = [n for n in fields if not n.startswith("dead_")]
    return [*known, *other_dead, *rest]


def _shown_value(name: str, value: str, now: int) -> str:
    text = visible_lines(bounded(value))
    if name == "dead_at_ms" and (ms := _int(value)) is not None:
        try:
            stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (OverflowError, OSError, ValueError):
            return text
        text += f" ({stamp}, {human_age(max(now - ms, 0))} ago)"
    return text


def _show_table(entry_id: str, fields: Mapping[str, str], now: int) -> Table:
    table = Table(
        title=Text(f"dead letter {visible(entry_id)}"),
        title_justify="left",
        caption=None if fields else Text("(no fields)"),
    )
    table.add_column("field", overflow="fold")
    table.add_column("value", overflow="fold")
    for name in _ordered(fields):
        value = fields[name]
        label = visible(name)
        if has_raw_bytes(name) or has_raw_bytes(value):
            label += " (not UTF-8)"
        table.add_row(Text(label), Text(_shown_value(name, value, now)))
    return table


def print_show(entries: Sequence[DeadLetter], as_json: bool) -> None:
    """``show``: one JSON object per line per entry (``{"id": ..., "fields": {...},
    "not_utf8": [names]}``, every value whole; ``not_utf8`` lists the fields whose name or
    value holds bytes that are not UTF-8, shown as ``\\xNN``), or on a terminal one table of
    fields per entry (values up to :data:`SHOWN_CHARS`, a multi-line value such as a
    traceback broken at each ``\\n`` it shows)."""
    now = now_ms()
    if wants_json(as_json):
        for entry_id, fields in entries:
            raw = [n for n, v in fields.items() if has_raw_bytes(n) or has_raw_bytes(v)]
            print(json_text({"id": entry_id, "fields": dict(fields), "not_utf8": raw}))
        return
    _print(Group(*(_show_table(entry_id, fields, now) for entry_id, fields in entries)))
