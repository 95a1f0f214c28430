"""``python -m ingest.stats``: is the pipeline keeping up? One look at a stream and its groups.

Shows, for the stream: XLEN, the cap, the dead-letter stream's length and events/s added over
the last interval; for each consumer group: backlog, lag, pending, oldest
pending age, last-delivered ID and consumers (name, pending, idle). ``--watch`` refreshes in
place on a terminal; ``--json`` prints one object (one per line with ``--watch``); ``--count N``
prints N snapshots (it implies ``--watch``).

The cap is the one the producer recorded at start in the stream's config hash
(``{stream}:config``: maxlen, high_water, low_water, no_group, updated_at_ms; the last
producer to start wins); only when no producer has recorded one is it this command's own
``--maxlen``. The JSON says which in ``cap_source`` (``producer`` or ``option``) and carries
the recorded settings as ``producer_settings`` (``null`` when none).

Exit codes: 0 shown; 1 the key is not a stream; 2 usage or configuration error; 3 Redis
unreachable (the message names the URL with any password redacted).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ingest.codec import dumps
from ingest.connection import CONNECTION_ERRORS, sync_client, wait_until_reachable
from ingest.errors import ConfigError, IngestError, RedisUnavailable
from ingest.groupstate import GroupState, StreamState, read_state
from ingest.keys import StreamKeys
from ingest.logs import configure_logging, redact_text
from ingest.settings import (
    LOG_FORMAT_OPTION,
    PRODUCER_OPTIONS,
    REDIS_OPTIONS,
    STREAM_OPTIONS,
    Option,
    RedisSettings,
    add_options,
    boolean,
    non_negative_float,
    non_negative_int,
    resolve,
)

MAXLEN_OPTION = replace(
    next(o for o in PRODUCER_OPTIONS if o.dest == "maxlen"),
    help="cap to show when no producer has recorded its own in the stream's config hash",
)

STATS_OPTIONS: tuple[Option, ...] = (
    MAXLEN_OPTION,
    Option("interval_s", "--interval", "INGEST_STATS_INTERVAL", non_negative_float, 1.0,
           "seconds between the two samples events/s is computed from, and between refreshes "
           "with --watch; 0 takes one sample (no events/s)", "s"),
    Option("watch", "--watch", None, boolean, False, "refresh until Ctrl-C", is_flag=True),
    Option("json", "--json", None, boolean, False, "print JSON instead of tables", is_flag=True),
    Option("count", "--count", None, non_negative_int, 0,
           "show this many snapshots, --interval apart, then stop (implies --watch; 0 with "
           "--watch: until Ctrl-C)"),
)  # fmt: skip

OPTIONS = (*REDIS_OPTIONS, *STREAM_OPTIONS[:1], *STATS_OPTIONS, LOG_FORMAT_OPTION)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stream state plus what needs two samples: events/s added, over ``interval_s``; and
    the settings the producer recorded (``None`` when none were)."""

    state: StreamState
    events_per_s: float | None
    interval_s: float | None
    producer_settings: Mapping[str, Any] | None = None


def rate(before: StreamState, after: StreamState) -> float | None:
    """Entries added per second between two samples (server clock); ``None`` if unknown."""
    if before.entries_added is None or after.entries_added is None:
        return None
    elapsed_ms = after.time_ms - before.time_ms
    if elapsed_ms <= 0:
        return None
    return (after.entries_added - before.entries_added) * 1000.0 / elapsed_ms


def parse_producer_settings(fields: Mapping[str, str]) -> dict[str, Any] | None:
    """The recorded producer settings with integers parsed; ``None`` when absent or unusable."""
    try:
        parsed: dict[str, Any] = {
            name: int(fields[name]) for name in ("maxlen", "high_water", "low_water")
        }
        parsed["updated_at_ms"] = int(fields["updated_at_ms"])
    except (KeyError, ValueError):
        return None
    parsed["no_group"] = fields.get("no_group")
    return parsed


def effective_cap(snapshot: Snapshot, maxlen: int) -> tuple[int, str]:
    """``(cap, source)``: the producer's recorded cap (``producer``), else ``maxlen``
    (``option``)."""
    if snapshot.producer_settings is not None:
        return int(snapshot.producer_settings["maxlen"]), "producer"
    return maxlen, "option"


def _group_dict(group: GroupState) -> dict[str, Any]:
    age = group.oldest_pending_age_ms
    return {
        "name": group.name,
        "backlog": group.backlog,
        "backlog_exact": group.exact,
        "lag": group.undelivered,
        "lag_source": group.undelivered_source,
        "redis_lag": group.lag,
        "pending": group.pending,
        "oldest_pending_id": group.oldest_pending_id,
        "oldest_pending_age_s": None if age is None else age / 1000.0,
        "last_delivered_id": group.last_delivered_id,
        "entries_read": group.entries_read,
        "consumer_count": group.consumer_count,
        "consumers": [
            {"name": c.name, "pending": c.pending, "idle_s": c.idle_ms / 1000.0}
            for c in group.consumers
        ],
    }


def as_dict(snapshot: Snapshot, *, redis_url: str, maxlen: int) -> dict[str, Any]:
    """The ``--json`` object (see the README for its fields); the URL is redacted."""
    state = snapshot.state
    cap, cap_source = effective_cap(snapshot, maxlen)
    return {
        "redis_url": redact_text(redis_url),
        "stream": state.stream,
        "exists": state.exists,
        "time_ms": state.time_ms,
        "length": state.length,
        "cap": cap,
        "cap_source": cap_source,
        "producer_settings": snapshot.producer_settings,
        "first_entry_id": state.first_entry_id,
        "last_generated_id": state.last_generated_id,
        "entries_added": state.entries_added,
        "events_per_s": snapshot.events_per_s,
        "interval_s": snapshot.interval_s,
        "dead_letter_stream": StreamKeys(state.stream).dead_letter_stream,
        "dead_letter_length": state.dead_letter_length,
        "groups": [_group_dict(g) for g in state.groups],
    }


def human_age(ms: int | None) -> str:
    """``None`` -> ``-``; 850 -> ``0.8 s``; 75_000 -> ``1 m 15 s``; 7_500_000 -> ``2 h 5 m``."""
    if ms is None:
        return "-"
    seconds = ms / 1000.0
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} m"


def _lag_text(group: GroupState) -> str:
    if group.undelivered_source == "counted-bound":
        return f">={group.undelivered}"
    if group.undelivered_source == "counted":
        return f"{group.undelivered} (counted)"
    return str(group.undelivered)


def render(snapshot: Snapshot, *, redis_url: str, maxlen: int) -> Group:
    """Tables for the stream, its groups and their consumers (rich renderables)."""
    state = snapshot.state
    title = f"stream {state.stream} on {redact_text(redis_url)}"
    if not state.exists:
        return Group(Text(title, style="bold"), Text("the stream does not exist (yet)"))
    cap, cap_source = effective_cap(snapshot, maxlen)
    stream = Table(title=title, title_justify="left", caption=_cap_caption(snapshot, cap_source))
    stream.caption_justify = "left"
    for column in ("XLEN", "cap", "dead letters", "events/s", "last entry id"):
        stream.add_column(column, justify="right")
    speed = "-" if snapshot.events_per_s is None else f"{snapshot.events_per_s:,.1f}"
    stream.add_row(
        f"{state.length:,}",
        f"{cap:,}",
        f"{state.dead_letter_length:,}",
        speed,
        state.last_generated_id,
    )
    groups = Table(title="consumer groups", title_justify="left")
    for column in ("group", "backlog", "lag", "pending", "oldest pending", "last delivered id"):
        groups.add_column(column, justify="left" if column == "group" else "right")
    groups.add_column("consumers", justify="right")
    consumers = Table(title="consumers", title_justify="left")
    for column in ("group", "consumer", "pending", "idle"):
        consumers.add_column(column, justify="left" if column in ("group", "consumer") else "right")
    for g in state.groups:
        backlog = f"{g.backlog:,}" if g.exact else f">={g.backlog:,}"
        groups.add_row(
            g.name,
            backlog,
            _lag_text(g),
            f"{g.pending:,}",
            human_age(g.oldest_pending_age_ms),
            g.last_delivered_id,
            str(g.consumer_count),
        )
        for c in g.consumers:
            consumers.add_row(g.name, c.name, f"{c.pending:,}", human_age(c.idle_ms))
    parts: list[Any] = [stream, groups if state.groups else Text("no consumer groups")]
    if consumers.row_count:
        parts.append(consumers)
    return Group(*parts)


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


def take_snapshot(
    client: redis.Redis,
    stream: str,
    interval_s: float,
    previous: StreamState | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Sample the stream; events/s comes from ``previous`` or from a second sample taken
    ``interval_s`` after the first (none when ``interval_s`` is 0)."""
    if previous is None and interval_s > 0:
        previous = read_state(client, stream, consumers=False)
        sleep(interval_s)
    state = read_state(client, stream)
    recorded = parse_producer_settings(client.hgetall(StreamKeys(stream).config))  # type: ignore[arg-type]
    if previous is None:
        return Snapshot(state, None, None, recorded)
    interval = (state.time_ms - previous.time_ms) / 1000.0
    return Snapshot(state, rate(previous, state), interval, recorded)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.stats",
        description="Show a stream, its consumer groups, their backlog and consumers.",
    )
    add_options(parser, OPTIONS)
    return parser


def _show(console: Console, snapshot: Snapshot, values: Mapping[str, Any]) -> None:
    url, maxlen = values["redis_url"], values["maxlen"]
    if values["json"]:
        console.file.write(dumps(as_dict(snapshot, redis_url=url, maxlen=maxlen)) + "\n")
        console.file.flush()
    else:
        console.print(render(snapshot, redis_url=url, maxlen=maxlen))


def _watch(console: Console, client: redis.Redis, values: Mapping[str, Any]) -> int:
    from rich.live import Live

    stream, interval, count = values["stream"], max(values["interval_s"], 0.1), values["count"]
    live_mode = console.is_terminal and not values["json"]
    previous: StreamState | None = None
    shown = 0
    with Live(console=console, auto_refresh=False) if live_mode else _Null() as live:
        while count == 0 or shown < count:
            try:
                snapshot = take_snapshot(client, stream, interval, previous)
            except CONNECTION_ERRORS as exc:
                message = f"redis unreachable: {type(exc).__name__}; retrying"
                print(redact_text(message), file=sys.stderr)
                time.sleep(interval)  # the refresh period, not waiting for an outcome
                continue
            previous = snapshot.state
            if live is not None:
                live.update(
                    render(snapshot, redis_url=values["redis_url"], maxlen=values["maxlen"])
                )
                live.refresh()
            else:
                _show(console, snapshot, values)
            shown += 1
            if count == 0 or shown < count:
                time.sleep(interval)  # the refresh period
    return 0


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the stats view; returns the exit code (0, 1, 2 or 3; see the module docstring)."""
    env = os.environ if environ is None else environ
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        values = resolve(OPTIONS, args, env)
        configure_logging("WARNING", fmt=values["log_format"], environ=env)
        settings = RedisSettings.from_values(values)
        StreamKeys(values["stream"])
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = Console()
    client = sync_client(settings)
    try:
        wait_until_reachable(client, settings)
        if values["watch"] or values["count"]:
            return _watch(console, client, values)
        _show(console, take_snapshot(client, values["stream"], values["interval_s"]), values)
    except RedisUnavailable as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 3
    except ConfigError as exc:  # Redis refused the credentials or the database index
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except CONNECTION_ERRORS as exc:
        print(
            f"error: redis {settings.safe_url} unreachable: {redact_text(str(exc))}",
            file=sys.stderr,
        )
        return 3
    except IngestError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()
    return 0


def run() -> None:
    """Console-script entry point (``ingest-stats``)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
