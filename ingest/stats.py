"""``python -m ingest.stats``: is the pipeline keeping up? One look at a stream and its groups.

Shows, for the stream: XLEN, the cap, the dead-letter stream's length and events/s added over
the last interval; for each consumer group: backlog, lag, pending, oldest
pending age, last-delivered ID and consumers (name, live or dead from the consumer's liveness
key, pending, idle, and inactive where the server reports it). ``--watch`` refreshes in
place on a terminal; ``--json`` prints one object (one per line with ``--watch``); ``--count N``
prints N snapshots (it implies ``--watch``).

Through Sentinel (a ``redis+sentinel://`` URL) the title and the JSON's ``redis_primary``
(``service``, ``primary`` as ``host:port``, ``sentinels``, ``failovers`` seen) say which primary
it reads; ``null`` for other URLs.

The cap is the one the producer recorded at start in the stream's config hash
(``{stream}:config``: maxlen, high_water, low_water, no_group, updated_at_ms; the last
producer to start wins); only when no producer has recorded one is it this command's own
``--maxlen``. The JSON says which in ``cap_source`` (``producer`` or ``option``) and carries
the recorded settings as ``producer_settings`` (``null`` when none).

Names and values read from Redis are data: tables show them escaped
(:mod:`ingest.display`), the JSON stays valid UTF-8.

Exit codes: 0 shown; 1 the key is not a stream; 2 usage or configuration error; 3 Redis
unreachable (the message names the URL with any password redacted).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import redis
from rich.console import Console

from ingest.connection import (
    CONNECTION_ERRORS,
    describe_primary,
    primary_label,
    sync_client,
    wait_until_reachable,
)
from ingest.display import json_text
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
from ingest.stats_view import Liveness, Snapshot, effective_cap, render
from ingest.streams import ConsumerInfo

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


def read_liveness(client: redis.Redis, state: StreamState) -> Liveness | None:
    """The liveness key of every consumer in ``state`` (``GET`` of
    :meth:`StreamKeys.consumer_alive`, one pipelined round trip): ``(group, consumer)`` ->
    its value (``host:pid``), ``None`` for a consumer whose key is gone (dead). Returns
    ``None`` when Redis refused a read (an ACL user without access to the keys): unknown.
    """
    keys = StreamKeys(state.stream)
    pairs = [(g.name, c.name) for g in state.groups for c in g.consumers]
    if not pairs:
        return {}
    pipe = client.pipeline(transaction=False)
    for group, consumer in pairs:
        pipe.get(keys.consumer_alive(group, consumer))
    values = pipe.execute(raise_on_error=False)
    if any(isinstance(v, redis.ResponseError) for v in values):
        return None
    return {pair: None if v is None else str(v) for pair, v in zip(pairs, values, strict=True)}


def _consumer_dict(group: str, consumer: ConsumerInfo, liveness: Liveness | None) -> dict[str, Any]:
    inactive = consumer.inactive_ms
    holder = None if liveness is None else liveness.get((group, consumer.name))
    return {
        "name": consumer.name,
        "live": None if liveness is None else holder is not None,
        "holder": holder,
        "pending": consumer.pending,
        "idle_s": consumer.idle_ms / 1000.0,
        "inactive_s": None if inactive is None else inactive / 1000.0,
    }


def _group_dict(group: GroupState, liveness: Liveness | None) -> dict[str, Any]:
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
        "consumers": [_consumer_dict(group.name, c, liveness) for c in group.consumers],
    }


def as_dict(snapshot: Snapshot, *, redis_url: str, maxlen: int) -> dict[str, Any]:
    """The ``--json`` object (see the README for its fields); the URL is redacted. Strings
    are as Redis gave them (:func:`ingest.display.json_text` makes them safe to print)."""
    state = snapshot.state
    cap, cap_source = effective_cap(snapshot, maxlen)
    return {
        "redis_url": redact_text(redis_url),
        "redis_primary": describe_primary(redis_url),
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
        "groups": [_group_dict(g, snapshot.liveness) for g in state.groups],
    }


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
    liveness = read_liveness(client, state)
    if previous is None:
        return Snapshot(state, None, None, recorded, liveness)
    interval = (state.time_ms - previous.time_ms) / 1000.0
    return Snapshot(state, rate(previous, state), interval, recorded, liveness)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.stats",
        description="Show a stream, its consumer groups, their backlog and consumers.",
    )
    add_options(parser, OPTIONS)
    return parser


def _where(url: str) -> str:
    """The URL for a table's title: through Sentinel, also the service and its primary."""
    label = primary_label(url)
    return f"{url} ({label})" if label else url


def _show(console: Console, snapshot: Snapshot, values: Mapping[str, Any]) -> None:
    url, maxlen = values["redis_url"], values["maxlen"]
    if values["json"]:
        report = as_dict(snapshot, redis_url=url, maxlen=maxlen)
        console.file.write(json_text(report, separators=(",", ":")) + "\n")
        console.file.flush()
    else:
        console.print(render(snapshot, redis_url=_where(url), maxlen=maxlen, width=console.width))


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
                url, maxlen = values["redis_url"], values["maxlen"]
                live.update(
                    render(snapshot, redis_url=_where(url), maxlen=maxlen, width=console.width)
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
