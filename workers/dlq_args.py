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
_VALUE_FLAGS = frozenset({"--older-than", "--rate", "--count"})


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
        return sub.add_parser(name, help=help_text, parents=[_global_options(after_command=True)])

    list_cmd = command("list", "list dead-letter entries, newest first")
    list_cmd.add_argument(
        "--count", type=_count_arg, default=50, help="how many entries to list (default 50)"
    )
    show = command("show", "every field of one entry")
    show.add_argument("id", type=entry_id_arg, help="the dead-letter entry ID (<ms>-<seq>)")
    rep = command("replay", "put events back on the main stream")
    rep.add_argument(
        "ids", nargs="*", type=entry_id_arg, metavar="id", help="dead-letter entry IDs to replay"
    )
    rep.add_argument("--all", action="store_true", help="replay every dead-letter entry")
    rep.add_argument(
        "--rate", type=_rate_arg, default=None, help="replays per second, above 0 (default: no cap)"
    )
    admission = rep.add_argument_group(
        "admission",
        "Replays go through the producer's atomic admission: the stream's cap and high-water "
        "mark are those the producer recorded in {stream}:config; these flags (or their "
        "variables) apply only when none is recorded. --max-block always applies.",
    )
    add_options(cast("argparse.ArgumentParser", admission), REPLAY_OPTIONS)
    pur = command("purge", "delete dead-letter entries (--all or --older-than D)")
    which = pur.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="delete every dead-letter entry")
    which.add_argument(
        "--older-than",
        type=_duration_arg,
        default=None,
        metavar="D",
        help="delete only entries dead-lettered more than D ago (30s, 15m, 2h, 7d)",
    )
    return parser


_EPILOG = """output:
  A table when stdout is a terminal; JSON when it is not (piped or redirected) or with --json.

exit codes:
  0  ok
  1  an entry ID was not found
  2  usage error (bad ID, rate or duration; replay or purge without --all or a selection)
  3  Redis unreachable for --connect-timeout
  4  replay: blocked by backpressure longer than --max-block (those not replayed stay in
     the dead-letter stream; the JSON on stdout lists those that were)"""


def check_replay(args: argparse.Namespace) -> str | None:
    """The usage error of a replay command line, if any."""
    if args.command != "replay":
        return None
    if not args.all and not args.ids:
        return "replay: give --all or one or more entry IDs"
    if args.all and args.ids:
        return "replay: give --all or entry IDs, not both"
    return None
