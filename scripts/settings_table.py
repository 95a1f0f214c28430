"""Print the README's settings table (flag, variable, default, unit) from the Option tables.

    python scripts/settings_table.py               # print the Markdown table
    python scripts/settings_table.py --check FILE  # exit 1 if FILE's table is not current
    python scripts/settings_table.py --write FILE  # replace FILE's table in place

In FILE the table sits between the lines ``<!-- settings-table:begin -->`` and
``<!-- settings-table:end -->``. The options come from ``ingest.settings`` (Redis, stream,
producer) and ``workers.settings`` (worker), so the table cannot drift from the code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from ingest.settings import PRODUCER_OPTIONS, REDIS_OPTIONS, STREAM_OPTIONS, Option, redact_url
from workers.settings import WORKER_OPTIONS

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"
HEADER = (
    "| Flag | Variable | Default | Unit | Read by | Meaning |",
    "| --- | --- | --- | --- | --- | --- |",
)


def format_default(option: Option) -> str:
    """The default as a reader wants it: ``1,000,000``, ``25``, ``off``, ``-`` for none."""
    value = option.default
    if option.is_flag or isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,g}"
    text = redact_url(str(value)) if option.secret else str(value)
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _prose(text: str) -> str:
    # Markdown would take "<source>" for an HTML tag and drop it.
    return text.replace("<", "&lt;").replace(">", "&gt;")


def rows() -> list[str]:
    """One Markdown row per setting: shared ones first, then producer, then worker.

    A setting both sides declare (same flag and variable) is one row read by "both".
    """
    producer = {(o.flag, o.env) for o in (*REDIS_OPTIONS, *STREAM_OPTIONS, *PRODUCER_OPTIONS)}
    worker = {(o.flag, o.env) for o in (*REDIS_OPTIONS, *STREAM_OPTIONS, *WORKER_OPTIONS)}
    ordered: Iterable[Option] = (
        *REDIS_OPTIONS,
        *STREAM_OPTIONS,
        *PRODUCER_OPTIONS,
        *WORKER_OPTIONS,
    )
    seen: set[tuple[str | None, str | None]] = set()
    lines = []
    for option in ordered:
        key = (option.flag, option.env)
        if key in seen:
            continue
        seen.add(key)
        reader = (
            "both"
            if key in producer and key in worker
            else ("producer" if key in producer else "worker")
        )
        flag = f"`{option.flag}`" if option.flag else "-"
        env = f"`{option.env}`" if option.env else "-"
        unit = option.unit or "-"
        cells = (flag, env, format_default(option), unit, reader, _prose(option.help))
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def table() -> str:
    """The whole table, header included, ending in a newline."""
    return "\n".join((*HEADER, *rows())) + "\n"


def replace_table(document: str, new_table: str) -> str:
    """Return ``document`` with the text between the markers replaced by ``new_table``.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} block")
    head = document[: start + len(BEGIN)]
    return f"{head}\n{new_table}{document[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 1 stale table, 2 usage)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", type=Path, metavar="FILE", help="fail if FILE is stale")
    mode.add_argument("--write", type=Path, metavar="FILE", help="update FILE in place")
    args = parser.parse_args(argv)
    current = table()
    target: Path | None = args.check or args.write
    if target is None:
        sys.stdout.write(current)
        return 0
    document = target.read_text()
    try:
        updated = replace_table(document, current)
    except ValueError as exc:
        print(f"{target}: {exc}", file=sys.stderr)
        return 2
    if args.write:
        target.write_text(updated)
        return 0
    if updated != document:
        print(f"{target}: settings table is stale; run {parser.prog} --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
