"""Print the README's settings table (flag, variable, default, unit) from the Option tables.

    python scripts/settings_table.py               # print the Markdown table
    python scripts/settings_table.py --check FILE  # exit 1 if FILE's table is not current
    python scripts/settings_table.py --write FILE  # replace FILE's table in place

In FILE the table sits between the lines ``<!-- settings-table:begin -->`` and
``<!-- settings-table:end -->``. Each command's options come from its own tables, imported
read-only: the producer's (``ingest.settings.PRODUCER_CLI_OPTIONS``), the worker's
(``workers.settings.WORKER_OPTIONS``), ``python -m ingest.stats`` (``ingest.stats.OPTIONS``)
``python -m workers.dlq`` (its parser, ``workers.dlq_args.build_parser``: the Redis and
stream options, the producer's admission options and its own argparse-only flags) and the
dashboard, ``python -m workers.web`` (``workers.web.settings.WEB_CLI_OPTIONS``). So the table
cannot drift from the code; the "Read by" column lists the commands that take each option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.settings import (
    PRODUCER_CLI_OPTIONS,
    REDIS_OPTIONS,
    STREAM_OPTIONS,
    Option,
    redact_url,
)
from ingest.stats import OPTIONS as STATS_CLI_OPTIONS
from workers.dlq_args import REPLAY_OPTIONS, build_parser
from workers.settings import WORKER_OPTIONS
from workers.web.settings import WEB_CLI_OPTIONS

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"
HEADER = (
    "| Flag | Variable | Default | Unit | Read by | Meaning |",
    "| --- | --- | --- | --- | --- | --- |",
)
DLQ_OPTION_TABLES: tuple[Option, ...] = (*REDIS_OPTIONS, *STREAM_OPTIONS, *REPLAY_OPTIONS)
"""The Option tables ``workers.dlq_args`` adds to its parser (which of them it really takes
is read from the parser)."""

EXTRA_VARIABLES: tuple[tuple[str, str, str, str], ...] = (
    (
        "INGEST_HEALTHCHECK_HOST",
        "`127.0.0.1`",
        "healthcheck",
        "host the container HEALTHCHECK (deploy/docker/healthcheck.py) probes for /livez; the "
        "port is INGEST_HTTP_PORT",
    ),
)
"""Variables read outside the Option tables: (variable, default, read by, meaning)."""


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


def _dlq_flags() -> dict[str, list[tuple[str, argparse.Action]]]:
    """Long flag -> [(command, action)] of ``python -m workers.dlq``: ``dlq`` for the options
    taken before the sub-command, ``dlq <sub-command>`` for a sub-command's own."""
    parser = build_parser()
    found: dict[str, list[tuple[str, argparse.Action]]] = {}
    top = {flag for action in parser._actions for flag in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for inner in sub._actions:
                    for flag in inner.option_strings:
                        if flag.startswith("--") and flag not in top and flag != "--help":
                            found.setdefault(flag, []).append((f"dlq {name}", inner))
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                found.setdefault(flag, []).append(("dlq", action))
    return found


def readers() -> dict[str, tuple[Option, ...]]:
    """Command -> the Option-table options it reads (flag and variable)."""
    dlq = _dlq_flags()
    return {
        "producer": PRODUCER_CLI_OPTIONS,
        "worker": WORKER_OPTIONS,
        "stats": STATS_CLI_OPTIONS,
        "dlq": tuple(o for o in DLQ_OPTION_TABLES if o.flag in dlq),
        "web": WEB_CLI_OPTIONS,
    }


@dataclass
class _Row:
    flag: str | None
    env: str | None
    default: str
    unit: str
    meaning: str
    read_by: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        flag = f"`{self.flag}`" if self.flag else "-"
        env = f"`{self.env}`" if self.env else "-"
        cells = (flag, env, self.default, self.unit, ", ".join(self.read_by), self.meaning)
        return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _option_rows() -> Iterator[_Row]:
    rows: dict[tuple[str | None, str | None], _Row] = {}
    # The shared Redis and stream options first, in their own order.
    commands = [("", (*REDIS_OPTIONS, *STREAM_OPTIONS)), *readers().items()]
    for command, options in commands:
        for option in options:
            key = (option.flag, option.env)
            if key not in rows:  # the first command's help text (the producer's maxlen)
                unit = option.unit or "-"
                meaning = _prose(option.help)
                rows[key] = _Row(option.flag, option.env, format_default(option), unit, meaning)
            if command and command not in rows[key].read_by:
                rows[key].read_by.append(command)
    yield from rows.values()


def _dlq_only_rows() -> Iterator[_Row]:
    known = {o.flag for o in DLQ_OPTION_TABLES}
    for flag, uses in _dlq_flags().items():
        if flag in known:
            continue
        by_meaning: dict[str, list[tuple[str, argparse.Action]]] = {}
        for command, action in uses:  # `--all` means one thing to replay, another to purge
            by_meaning.setdefault(action.help or "", []).append((command, action))
        for meaning, same in by_meaning.items():
            default = _dlq_default(same[0][1])
            read_by = [command for command, _ in same]
            yield _Row(flag, None, default, "-", _prose(meaning), read_by)


def _dlq_default(action: argparse.Action) -> str:
    default = action.default
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if default is None or default == argparse.SUPPRESS:
        return "-"
    return f"{default:,}" if isinstance(default, int) else str(default)


def rows() -> list[str]:
    """One Markdown row per setting: each option once (the commands reading it in "Read by":
    producer, worker, stats, dlq, web), then ``python -m workers.dlq``'s own flags, then
    variables read outside the Option tables."""
    lines = [row.markdown() for row in (*_option_rows(), *_dlq_only_rows())]
    for variable, default, reader, meaning in EXTRA_VARIABLES:
        lines.append(_Row(None, variable, default, "-", meaning, [reader]).markdown())
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
