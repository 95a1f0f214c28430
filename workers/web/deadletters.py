"""The dead-letter pages: a filtered, paged list; one entry; replay and purge.

Filtering is :class:`workers.dlq_inspect.DeadLetterFilter` (reason, error type and event ID,
each a value or a shell pattern; age as ``30s``, ``15m``, ``2h``, ``7d``), as in
``python -m workers.dlq``. A page reads the dead-letter stream newest first from a cursor, in
pages of :data:`~workers.dlq_inspect.PAGE` entries, until it has :data:`PAGE_ROWS` matches or
has read :data:`PAGE_BUDGET` entries, and says where the next page starts: a filter that matches
little never makes one request read the whole stream.

Replay goes through :func:`workers.dlq.replay_entries` (the producer's admit-and-wait: the
cap and high-water mark hold; a dead letter is deleted only after its re-add was admitted), and
skips dead letters the worker refused before any handler ran (``decode``, ``too_large``)
unless asked, as the CLI does. Purge deletes by ID (XDEL) or by filter
(:func:`workers.dlq_inspect.purge`; everything with an empty filter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis

from ingest.codec import now_ms
from ingest.keys import StreamKeys
from ingest.settings import RedisSettings
from ingest.streams import parse_entries
from workers.dlq import ReplayBlocked, parse_duration_s, replay_entries
from workers.dlq_inspect import (
    PAGE,
    REFUSED_REASONS,
    DeadLetter,
    DeadLetterFilter,
    purge,
    select,
    split_replayable,
)

__all__ = [
    "PAGE_BUDGET",
    "PAGE_ROWS",
    "DeadPage",
    "ReplayOutcome",
    "count_matching",
    "parse_filter",
    "purge_ids",
    "read_page",
    "replay",
    "valid_ids",
]

PAGE_ROWS = 100
"""Dead letters listed per page."""
PAGE_BUDGET = 5000
"""Most dead-letter entries one page request reads while filtering."""
COUNT_BUDGET = 100_000
"""Most entries a confirmation page reads to count what a filter matches."""

_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


def valid_ids(ids: Sequence[str]) -> list[str]:
    """``ids`` that look like entry IDs (``<ms>-<seq>``), in order, once each."""
    return list(dict.fromkeys(i for i in ids if _ENTRY_ID.fullmatch(i)))


def parse_filter(params: Mapping[str, str]) -> tuple[DeadLetterFilter, str | None]:
    """The filter the form fields ``reason``, ``error_type``, ``event_id`` and ``older_than``
    give (blank ones ignored), and an error message for an age that does not parse."""

    def one(name: str) -> tuple[str, ...]:
        value = params.get(name, "").strip()
        return (value,) if value else ()

    older = params.get("older_than", "").strip()
    older_s, problem = None, None
    if older:
        try:
            older_s = parse_duration_s(older)
        except ValueError as exc:
            problem = f"age: {exc}"
    where = DeadLetterFilter(one("reason"), one("error_type"), one("event_id"), older_s)
    return where, problem


@dataclass(frozen=True, slots=True)
class DeadPage:
    """One page of the list.

    Attributes:
        entries: ``(ID, fields)``, newest first.
        next_before: the cursor of the next (older) page, ``None`` at the end.
        scanned: entries read to find these.
    """

    entries: list[DeadLetter]
    next_before: str | None
    scanned: int


def read_page(
    client: redis.Redis,
    keys: StreamKeys,
    where: DeadLetterFilter,
    before: str | None = None,
    rows: int = PAGE_ROWS,
    budget: int = PAGE_BUDGET,
) -> DeadPage:
    """Dead letters matching ``where``, newest first, older than the entry ID ``before``
    (exclusive; ``None``: from the newest), at most ``rows``, reading at most about
    ``budget`` entries (XREVRANGE ``COUNT`` :data:`~workers.dlq_inspect.PAGE`)."""
    cutoff = where.cutoff_ms(now_ms())
    high = f"({before}" if before else "+" if cutoff is None else f"({cutoff}-0"
    found: list[DeadLetter] = []
    scanned = 0
    while True:
        raw = client.xrevrange(keys.dead_letter_stream, max=high, min="-", count=PAGE)
        page = parse_entries(raw)
        for index, entry in enumerate(page):
            fields = entry.fields or {}
            if where.matches(fields):
                found.append((entry.entry_id, fields))
                if len(found) >= rows:
                    last = index == len(page) - 1 and len(page) < PAGE
                    return DeadPage(found, None if last else entry.entry_id, scanned + index + 1)
        scanned += len(page)
        if len(page) < PAGE:
            return DeadPage(found, None, scanned)
        high = f"({page[-1].entry_id}"
        if scanned >= budget:
            return DeadPage(found, page[-1].entry_id, scanned)


def count_matching(
    client: redis.Redis, keys: StreamKeys, where: DeadLetterFilter, budget: int = COUNT_BUDGET
) -> tuple[int, bool]:
    """How many dead letters match ``where``: ``(count, exact)``; ``exact`` is ``False`` when
    ``budget`` entries were read before the end (the count is then a lower bound). An empty
    filter is counted with XLEN."""
    if where.empty:
        return int(client.xlen(keys.dead_letter_stream)), True
    count, before = 0, None
    while True:
        page = read_page(client, keys, where, before, rows=budget, budget=budget)
        count += len(page.entries)
        if page.next_before is None:
            return count, True
        if page.scanned >= budget:
            return count, False
        before = page.next_before


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What a replay did.

    Attributes:
        replayed: ``(dead-letter ID, new entry ID)`` of those put back on the stream.
        not_replayed: left in the dead-letter stream because backpressure outlasted the wait.
        skipped: refused before any handler ran (``decode``, ``too_large``), not replayed.
        missing: IDs no longer in the dead-letter stream (replayed or purged meanwhile).
        blocked: the backpressure message, when ``not_replayed``.
    """

    replayed: list[tuple[str, str]] = field(default_factory=list)
    not_replayed: int = 0
    skipped: int = 0
    missing: list[str] = field(default_factory=list)
    blocked: str = ""


def _present(client: redis.Redis, keys: StreamKeys, ids: Sequence[str]) -> tuple[
    list[DeadLetter], list[str]
]:  # fmt: skip
    found: list[DeadLetter] = []
    missing: list[str] = []
    for entry_id in ids:
        try:
            found += select(client, keys, [entry_id])
        except KeyError:
            missing.append(entry_id)
    return found, missing


def replay(
    client: redis.Redis,
    keys: StreamKeys,
    ids: Sequence[str] | None,
    where: DeadLetterFilter,
    *,
    include_refused: bool,
    max_block_s: float,
    redis_settings: RedisSettings,
) -> ReplayOutcome:
    """Replay the dead letters ``ids`` (those still there), or every one matching ``where``
    when ``ids`` is ``None``, oldest first (see the module docstring).

    Raises:
        AdmissionUnavailable: the admission function is missing and may not be loaded.
        PermissionDenied: the Redis user may not replay (not the operator role).
    """
    missing: list[str] = []
    if ids is None:
        chosen = select(client, keys, None, where)
        include_refused = include_refused or bool(set(where.reasons) & REFUSED_REASONS)
    else:
        chosen, missing = _present(client, keys, sorted(ids, key=_id_order))
    entries, skipped = split_replayable(chosen, include_refused)
    try:
        done = replay_entries(
            client, keys, entries, cap=None, max_block_s=max_block_s, redis_settings=redis_settings
        )
    except ReplayBlocked as exc:
        return ReplayOutcome(exc.done, exc.left, len(skipped), missing, str(exc))
    return ReplayOutcome(done, 0, len(skipped), missing)


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def purge_ids(client: redis.Redis, keys: StreamKeys, ids: Sequence[str]) -> int:
    """XDEL the dead letters ``ids``; returns how many were there."""
    if not ids:
        return 0
    return int(client.xdel(keys.dead_letter_stream, *ids))


def purge_matching(client: redis.Redis, keys: StreamKeys, where: DeadLetterFilter) -> int:
    """Delete every dead letter matching ``where`` (all of them for an empty filter); returns
    how many were deleted."""
    return purge(client, keys, None if where.empty else where)
