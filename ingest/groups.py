"""``python -m ingest.groups list|delete|repair``: see, delete and repair consumer groups.

* ``list``: each group on the stream with its backlog (:mod:`ingest.backlog`), undelivered and
  pending entries, consumers, and when a consumer was last active; a group nobody consumes
  any more holds the backlog (and blocks every producer) for ever.
* ``delete NAME``: ``XGROUP DESTROY`` after a confirmation (``--yes`` to skip it); its pending
  entries and position are forgotten, the entries stay in the stream for the other groups.
* ``repair``: set Redis' lag counter right where it is proven stale (``XGROUP SETID ...
  ENTRIESREAD``, through the admission library's ``ingest_backlog``), as the admission
  function does on its own; for whatever reads Redis' ``lag`` directly (KEDA's
  ``redis-streams`` scaler, dashboards).

Exit codes: 0 done; 1 nothing done (declined, no such group); 2 usage or configuration error;
3 Redis unreachable or an error reply.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from ingest.admission import BACKLOG_FUNCTION, LIBRARY_VERSION, Repair, parse_repairs
from ingest.blocked import group_line
from ingest.connection import sync_client, wait_until_reachable
from ingest.errors import IngestError
from ingest.groupstate import GroupState, read_state
from ingest.library import ensure_loaded
from ingest.settings import REDIS_OPTIONS, STREAM_OPTION, RedisSettings, add_options, resolve

OPTIONS = (*REDIS_OPTIONS, STREAM_OPTION)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One group as ``ingest_backlog`` sees it: undelivered entries by the Lua rule.

    Attributes:
        group: the consumer group.
        undelivered: entries not yet delivered to it.
        source: how that was found (:class:`ingest.backlog.Undelivered`).
        pending: its PEL size.
        stale: Redis' lag counter is proven wrong.
    """

    group: str
    undelivered: int
    source: str
    pending: int
    stale: bool


def group_backlogs(
    client: redis.Redis, stream: str, *, repair: bool = False
) -> tuple[int, list[GroupRow], tuple[Repair, ...]]:
    """Every group's undelivered entries by the server's rule (``FCALL ingest_backlog``).

    Returns ``(XLEN, rows, repairs)``; with ``repair``, stale counters are set right
    (``XGROUP SETID ... ENTRIESREAD``) and listed in ``repairs``.

    Raises:
        redis.ResponseError: the function is missing or outdated (``ensure_loaded`` first).
    """
    raw: Any = client.fcall(BACKLOG_FUNCTION, 1, stream, LIBRARY_VERSION, 1 if repair else 0)
    rows = [
        GroupRow(str(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4]) == 1) for r in raw[1] or ()
    ]
    return int(raw[0]), rows, parse_repairs(raw[2])


def shown(text: str) -> str:
    """``text`` safe for a terminal: control characters (newlines, escape sequences) as
    ``\\x..`` escapes; stream content is data, never a control sequence."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def group_dict(group: GroupState, now_ms: int) -> dict[str, Any]:
    """One group for ``list --json``."""
    idle = min((c.idle_ms for c in group.consumers), default=None)
    return {
        "name": group.name,
        "backlog": group.backlog,
        "backlog_exact": group.exact,
        "undelivered": group.undelivered,
        "pending": group.pending,
        "consumers": group.consumer_count,
        "last_active_ms": None if idle is None else now_ms - idle,
        "idle_s": None if idle is None else idle / 1000,
        "last_delivered_id": group.last_delivered_id,
        "redis_lag": group.lag,
        "lag_stale": group.lag_stale,
    }


def list_groups(client: redis.Redis, stream: str, as_json: bool, out: Any) -> int:
    """Print every group of ``stream`` (a line each, or one JSON object)."""
    state = read_state(client, stream, consumers=True)
    if as_json:
        rows = [group_dict(g, state.time_ms) for g in state.groups]
        print(json.dumps({"stream": stream, "length": state.length, "groups": rows}), file=out)
        return 0
    if not state.groups:
        print(f"no consumer group on {shown(stream)!r} ({state.length:,} entries)", file=out)
        return 0
    for group in state.groups:
        stale = f" (Redis' lag {group.lag:,} is stale)" if group.lag_stale and group.lag else ""
        print(shown(group_line(group)) + stale, file=out)
    return 0


def delete_group(
    client: redis.Redis, stream: str, name: str, yes: bool, ask: Callable[[str], str], out: Any
) -> int:
    """``XGROUP DESTROY`` ``name`` after ``ask`` confirms (or ``yes``)."""
    state = read_state(client, stream, groups=(name,), consumers=True)
    group = state.group(name)
    if group is None:
        print(f"error: no consumer group {shown(name)!r} on {shown(stream)!r}", file=sys.stderr)
        return 1
    print(shown(group_line(group)), file=out)
    if not yes:
        prompt = (
            f"Delete consumer group {shown(name)!r}? Its {group.pending:,} pending entries and "
            "its position are forgotten (the entries stay for other groups) [y/N] "
        )
        try:
            answer = ask(prompt)
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted (pass --yes to delete without asking)", file=out)
            return 1
    client.xgroup_destroy(stream, name)
    print(f"deleted consumer group {shown(name)!r} on {shown(stream)!r}", file=out)
    return 0


def repair_groups(client: redis.Redis, stream: str, out: Any) -> int:
    """Repair stale lag counters of ``stream``'s groups; print what was done."""
    ensure_loaded(client)
    _, _, repairs = group_backlogs(client, stream, repair=True)
    for r in repairs:
        done = "repaired" if r.repaired else "NOT repaired (this user lacks +xgroup|setid)"
        print(
            f"{shown(r.group)!r}: Redis' lag {r.redis_lag:,}, really {r.undelivered:,}: {done}",
            file=out,
        )
    if not repairs:
        print("no stale lag counter", file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.groups",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("list", "delete", "repair"))
    parser.add_argument("name", nargs="?", help="the group to delete")
    parser.add_argument("--yes", action="store_true", help="delete without asking")
    parser.add_argument("--json", action="store_true", help="list: one JSON object")
    add_options(parser, OPTIONS)
    return parser


def main(
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[str], str] = input,
    out: Any = None,
) -> int:
    """Run the command; returns the exit code (module docstring)."""
    out = out if out is not None else sys.stdout
    args = build_parser().parse_args(argv)
    if args.command == "delete" and not args.name:
        print("error: delete needs the group's NAME", file=sys.stderr)
        return 2
    try:
        values = resolve(OPTIONS, args, os.environ if environ is None else environ)
        settings = RedisSettings.from_values(values)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = sync_client(settings)
    try:
        wait_until_reachable(client, settings)
        stream = values["stream"]
        if args.command == "list":
            return list_groups(client, stream, args.json, out)
        if args.command == "delete":
            return delete_group(client, stream, args.name, args.yes, ask, out)
        return repair_groups(client, stream, out)
    except (redis.RedisError, IngestError) as exc:
        print(f"error: {settings.safe_url}: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
