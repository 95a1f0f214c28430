"""Command line of ``python -m workers.dlq``: the parser and the checks of its values.

Every bad value (entry ID, rate, count, duration) is refused by argparse before anything
talks to Redis, with a message naming the argument and the value; exit code 2.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn, cast

from ingest.settings import PRODUCER_OPTIONS, REDIS_OPTIONS, STREAM_OPTIONS, add_options
from workers.dlq_inspect import REFUSED_REASONS, DeadLetterFilter

REPLAY_OPTIONS = tuple(
    o
    for o in PRODUCER_OPTIONS
    if o.dest in {"maxlen", "high_water", "low_water", "no_group", "max_block_s"}
)
"""The producer's cap, marks and ``--max-block`` (same flags, variables and defaults): a
replay obeys the same admission. The cap and marks apply only when no producer recorded its
own in the stream's config hash."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FULL_ID = re.compile(r"(\d+)-(\d+)")
_VALUE_FLAGS = frozenset({"--older-than", "--rate", "--count", "--event-id"})


def parse_duration_s(text: str) -> float:
    """``30s``, ``15m``, ``2h``, ``7d`` or plain seconds -> seconds (> 0).

    Raises:
        ValueError: anything else, zero or negative included.
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration (use 30s, 15m, 2h or 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def entry_id_arg(text: str) -> str:
    """An entry ID argument, ``<ms>-<seq>`` as the dead-letter stream shows it.

    Raises:
        argparse.ArgumentTypeError: anything else (so Redis never sees it).
    """
    match = _FULL_ID.fullmatch(text)
    if match is None or any(int(part) >= 2**64 for part in match.groups()):
        raise argparse.ArgumentTypeError(
            f"not an entry ID: {text!r} (expected <ms>-<seq>, e.g. 1718000000000-0, "
            "as `list` shows them)"
        )
    return text


def _duration_arg(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0 (replays per second)")
    return value


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number, at least 1")
    return value


def keep_negative_values(argv: Sequence[str]) -> list[str]:
    """Join ``--older-than -5s`` into ``--older-than=-5s``.

    argparse takes ``-5s`` for an unknown option and answers "expected one argument";
    joined, the value reaches its check and the error says what is wrong with it.
    """
    out: list[str] = []
    for token in argv:
        if out and out[-1] in _VALUE_FLAGS and re.match(r"-\.?\d", token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


class UsageError(Exception):
    """A command line argparse refused: the text to print (usage and the error line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would sys.exit(2) itself
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


def _global_options(*, after_command: bool) -> _Parser:
    """The Redis and stream options and ``--json``, as a parent parser.

    Given twice: to the main parser (before the sub-command) and to each sub-command (after
    it). The sub-commands' copies default to ``SUPPRESS``, so an option given before the
    sub-command is not reset by the sub-command's default (argparse copies every attribute of
    the sub-command's namespace onto the main one).
    """
    common = _Parser(add_help=False)
    add_options(common, (*REDIS_OPTIONS, *STREAM_OPTIONS))
    common.add_argument(
        "--json",
        action="store_true",
        help="print JSON even on a terminal (output is already JSON when stdout is not a "
        "terminal: a pipe or a file)",
    )
    if after_command:
        # A separate parser each time: parents share their action objects. Not set_defaults,
        # which would also set parser-level defaults (copied onto the namespace as text).
        for action in common._actions:
            action.default = argparse.SUPPRESS
    return common


def _filters() -> _Parser:
    """The filters every sub-command takes, as a parent parser (one help text each, so the
    settings table lists each once)."""
    common = _Parser(add_help=False)
    group = common.add_argument_group(
        "filters",
        "Select dead letters by what they hold; every filter given must match. A value is "
        "compared as it is or as a shell pattern (*, ?, [...]); the escaped form the table "
        "shows matches too. --reason, --error-type and --event-id may be repeated (any of "
        "them matches).",
    )
    group.add_argument(
        "--reason", action="append", default=None, metavar="R",
        help="only dead letters with this dead_reason (decode, permanent, max-deliveries, ...)",
    )  # fmt: skip
    group.add_argument(
        "--error-type", action="append", default=None, metavar="T",
        help="only dead letters whose dead_error_type (the exception class) is T",
    )  # fmt: skip
    group.add_argument(
        "--event-id", action="append", default=None, metavar="E",
        help="only dead letters of event ID E",
    )  # fmt: skip
    group.add_argument(
        "--older-than", type=_duration_arg, default=None, metavar="D",
        help="only dead letters dead-lettered more than D ago (30s, 15m, 2h, 7d)",
    )  # fmt: skip
    return common


def build_parser() -> argparse.ArgumentParser:
    """Arguments: the Redis and stream options, ``--json``, and one sub-command; the options
    are accepted before or after the sub-command (``list --connect-timeout 2``).

    Its ``parse_args`` raises :class:`UsageError` instead of exiting (``--help`` exits 0).
    """
    parser = _Parser(
        prog="python -m workers.dlq",
        description="Look at, replay and purge the dead-letter stream.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(after_command=False)],
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parents = [_global_options(after_command=True), _filters()]
        return sub.add_parser(name, help=help_text, description=help_text, parents=parents)

    list_cmd = command("list", "list dead-letter entries, newest first")
    list_cmd.add_argument(
        "--count", type=_count_arg, default=50, help="how many entries to list (default 50)"
    )
    show = command("show", "every field of the given entries, or of those the filters match")
    show.add_argument(
        "ids", nargs="*", type=entry_id_arg, metavar="id",
        help="the dead-letter entry ID (<ms>-<seq>); several may be given",
    )  # fmt: skip
    show.add_argument(
        "--count", type=_count_arg, default=10,
        help="with filters: how many entries to show, newest first (default 10)",
    )  # fmt: skip
    rep = command("replay", "put events back on the main stream")
    rep.add_argument(
        "ids", nargs="*", type=entry_id_arg, metavar="id", help="dead-letter entry IDs to replay"
    )
    rep.add_argument("--all", action="store_true", help="replay every dead-letter entry")
    rep.add_argument(
        "--rate", type=_rate_arg, default=None, help="replays per second, above 0 (default: no cap)"
    )
    refused = ", ".join(sorted(REFUSED_REASONS))
    rep.add_argument(
        "--include-decode-failures",
        action="store_true",
        help=f"also replay dead letters with reason {refused} (skipped by default: the worker "
        "refuses them before any handler runs, so they would come straight back; --reason "
        "naming one of them includes it too)",
    )
    admission = rep.add_argument_group(
        "admission",
        "Replays go through the producer's atomic admission: the stream's cap and high-water "
        "mark are those the producer recorded in {stream}:config; these flags (or their "
        "variables) apply only when none is recorded. --max-block always applies.",
    )
    add_options(cast("argparse.ArgumentParser", admission), REPLAY_OPTIONS)
    pur = command("purge", "delete dead-letter entries (--all, or those the filters match)")
    pur.add_argument("--all", action="store_true", help="delete every dead-letter entry")
    return parser


_EPILOG = """commands:
  list     newest first: entry ID, reason, error type, deliveries, age; event ID and error
  show     every field of entries (by ID, or those the filters match)
  replay   put the original events back on the main stream (--all, IDs or filters)
  purge    delete dead letters (--all, or filters)
  Each takes the filters --reason, --error-type, --event-id, --older-than (see COMMAND --help).

output:
  A table when stdout is a terminal; JSON when it is not (piped or redirected) or with --json.
  Text from the stream is shown escaped: control characters as \\n, \\x1b, \\u202e, bytes
  that are not UTF-8 as \\xff.

exit codes:
  0  ok
  1  an entry ID was not found, or show matched nothing
  2  usage error (bad ID, rate or duration; replay or purge without --all, IDs or a filter)
  3  Redis unreachable for --connect-timeout
  4  replay: blocked by backpressure longer than --max-block (those not replayed stay in
     the dead-letter stream; the JSON on stdout lists those that were)"""


def selection(args: argparse.Namespace) -> DeadLetterFilter:
    """The filters of a parsed command line."""
    return DeadLetterFilter(
        reasons=tuple(args.reason or ()),
        error_types=tuple(args.error_type or ()),
        event_ids=tuple(args.event_id or ()),
        older_than_s=args.older_than,
    )


def check_selection(args: argparse.Namespace) -> str | None:
    """The usage error of a command line's selection (IDs, ``--all``, filters), if any."""
    filtered = not selection(args).empty
    ids = getattr(args, "ids", [])
    everything = getattr(args, "all", False)
    name = args.command
    if ids and filtered:
        return f"{name}: give entry IDs or filters, not both"
    if everything and ids:
        return f"{name}: give --all or entry IDs, not both"
    if everything and filtered:
        flag = selection(args).describe().split(" ")[0]
        return f"{name}: --all is not allowed with {flag} (give --all or filters, not both)"
    if name == "show" and not (ids or filtered):
        return "show: give one or more entry IDs, or a filter (--reason, --event-id, ...)"
    if name == "replay" and not (everything or ids or filtered):
        return (
            "replay: give --all or one or more entry IDs, or a filter (--reason, --error-type, "
            "--event-id, --older-than)"
        )
    if name == "purge" and not (everything or filtered):
        return "purge: give --all or a filter (--older-than D, --reason, --error-type, --event-id)"
    return None
