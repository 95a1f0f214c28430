"""The backlog rule: how many entries a consumer group has not acknowledged (pure).

The one rule in Python; the admission function (``ingest/lua/admission.lua``, ``group_lag``)
applies the same one on the server, and tests hold the two to agreement. Shells that read
Redis (:mod:`ingest.groupstate` for the stats view and the gauges) feed it what it asks for.

For one group, ``backlog = undelivered + pending``: ``pending`` is the PEL size (exact, from
XINFO GROUPS); ``undelivered`` is the number of entries after the group's last-delivered ID,
because an entry the group has not been given can only be after that ID. XINFO GROUPS' ``lag``
(Redis >= 7) is a counter, ``entries-added - entries-read``, and it can be wrong:

* nil after an ``XDEL`` ahead of the group;
* too high after an ``XTRIM`` removed entries the group never read;
* too high for good after a restart that replays an AOF rewritten while the group was reading
  (Redis 7.0 restores ``entries-read`` from the rewrite's base and the replayed tail does not
  advance it: ``lag`` 50,000 with ``last-delivered-id == last-generated-id`` and nothing
  pending, forever, since every read moves both counters).

So ``lag`` is checked against the entries themselves, reading at most :data:`PROBE` entries
(never a scan of the backlog):

1. an empty stream: 0 (``empty``);
2. the last-delivered ID is below the first entry: every entry, XLEN (``before-first``);
3. read the entries after the last-delivered ID, ``XRANGE (<id> + COUNT k`` with
   ``k = min(lag + 1, PROBE)`` (``PROBE`` when ``lag`` is nil). Fewer than ``k`` came back:
   that many, exactly (``redis`` when it equals ``lag``, else ``caught-up`` when none and
   ``counted`` when some). ``lag + 1`` rather than ``lag`` so that a counter that says too little is
   caught too;
4. ``k`` came back and ``lag >= k``: Redis' lag, clamped to XLEN (``redis``): at least ``k``
   entries are really undelivered, so a phantom offset can only add to a real backlog of
   :data:`PROBE` or more, and it is repaired (below) once the group comes within
   :data:`PROBE` entries of the end;
5. otherwise (``lag`` nil, or below what was counted): read the entries at or before the
   last-delivered ID, ``XREVRANGE <id> - COUNT PROBE``; fewer than ``PROBE``: XLEN minus them,
   exactly (``counted``); else at least ``k`` (``counted-bound``, a lower bound).

A figure from steps 1-3 or 5 that differs from a non-nil ``lag`` proves the counter stale
(:attr:`Undelivered.stale`). The admission function then repairs it, ``XGROUP SETID <key>
<group> <last-delivered-id> ENTRIESREAD <n>`` with ``n = entries-read + lag - undelivered``
(:func:`repaired_entries_read`), so that Redis' own ``lag`` (and what reads it: KEDA's
``redis-streams`` scaler, ``XINFO``, dashboards) is right again from then on. The repair
keeps the group's position and is the value Redis itself computes for a group at the end of
the stream.

Across groups the largest backlog counts (:func:`stream_backlog`); a stream with no group
counts every entry in ``block`` mode (a group created later from ID ``0`` reads them all)
and none in ``trim`` mode.

Source for the fields: https://redis.io/docs/latest/commands/xinfo-groups/ ("lag" may be
nil); the counter: ``streamReplyWithCGLag`` in Redis 7.0's ``t_stream.c``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingest.streams import parse_entry_id

PROBE = 100
"""Most entries read on either side of a group's last-delivered ID to check ``lag``."""

MAX_ENTRY_ID = f"{2**64 - 1}-{2**64 - 1}"
"""The largest entry ID: nothing can follow it (and XRANGE refuses it as an exclusive start)."""

EXACT_SOURCES = frozenset({"empty", "before-first", "caught-up", "counted"})
"""Sources whose figure was found from the entries themselves (exact, repairable)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """Entries the rule needs read before it can decide.

    Attributes:
        side: ``after`` (``XRANGE (<last-delivered-id> + COUNT count``) or ``before``
            (``XREVRANGE <last-delivered-id> - COUNT count``).
        count: the COUNT to read, entries; the rule only needs how many came back.
    """

    side: str
    count: int


@dataclass(frozen=True, slots=True)
class Undelivered:
    """Entries not yet delivered to one group, and how that was found.

    Attributes:
        count: entries (exact, except ``counted-bound``: a lower bound; ``redis`` beyond
            :data:`PROBE`: Redis' figure, at least :data:`PROBE`).
        source: ``empty``, ``before-first``, ``caught-up``, ``redis``, ``counted`` or
            ``counted-bound`` (see the module docstring).
        stale: Redis' ``lag`` was not nil and is proven wrong.
    """

    count: int
    source: str
    stale: bool = False

    @property
    def lower_bound(self) -> bool:
        """``True`` when :attr:`count` is only a lower bound (``counted-bound``)."""
        return self.source == "counted-bound"

    @property
    def repairable(self) -> bool:
        """``True`` when the counter is stale and :attr:`count` is exact."""
        return self.stale and self.source in EXACT_SOURCES


def _lt(a: str, b: str) -> bool:
    return parse_entry_id(a) < parse_entry_id(b)


def after_count(lag: int | None) -> int:
    """COUNT of the first probe: ``min(lag + 1, PROBE)``, or :data:`PROBE` when ``lag`` is nil."""
    return PROBE if lag is None else min(lag + 1, PROBE)


def _result(count: int, source: str, lag: int | None) -> Undelivered:
    if source in ("counted", "caught-up") and count == lag:
        source = "redis"
    return Undelivered(count, source, lag is not None and lag != count)


def undelivered(
    *,
    lag: int | None,
    last_delivered_id: str,
    length: int,
    first_id: str | None,
    last_id: str | None = None,
    after: int | None = None,
    before: int | None = None,
) -> Undelivered | Probe:
    """Apply the rule (module docstring) to one group; pure.

    Args:
        lag: XINFO GROUPS ``lag`` (``None``: nil).
        last_delivered_id: the group's last-delivered ID.
        length: XLEN, entries.
        first_id: the first entry's ID, ``None`` when the stream is empty.
        last_id: the last entry's ID when known: a group at or past it has nothing after it
            (saves the first probe; the result is the same).
        after: how many entries the ``after`` probe returned (``None``: not read yet).
        before: how many entries the ``before`` probe returned (``None``: not read yet).

    Returns:
        The :class:`Undelivered` figure, or the :class:`Probe` to read first (call again
        with its result).
    """
    if length == 0 or first_id is None:
        return _result(0, "empty", lag)
    if _lt(last_delivered_id, first_id):
        return _result(length, "before-first", lag)
    wanted = after_count(lag)
    if after is None and (
        last_delivered_id == MAX_ENTRY_ID
        or (last_id is not None and not _lt(last_delivered_id, last_id))
    ):
        after = 0
    if after is None:
        return Probe("after", wanted)
    if after < wanted:
        return _result(after, "caught-up" if after == 0 else "counted", lag)
    if lag is not None and lag >= after:
        return Undelivered(min(lag, length), "redis", lag > length)
    if before is None:
        return Probe("before", PROBE)
    if before < PROBE:
        return _result(length - before, "counted", lag)
    return Undelivered(after, "counted-bound", lag is not None)


def repaired_entries_read(
    lag: int | None, entries_read: int | None, result: Undelivered
) -> int | None:
    """The ``ENTRIESREAD`` that makes Redis' ``lag`` equal ``result.count``, or ``None`` when
    there is nothing to repair (the counter is right, nil, or the count is not exact).

    Redis computes ``lag = entries-added - entries-read`` while no entry after the group's
    position was deleted, so ``entries-read + lag - count`` gives ``lag = count``.
    """
    if lag is None or entries_read is None or not result.repairable:
        return None
    return entries_read + lag - result.count


def stream_backlog(backlogs: Iterable[int], length: int, no_group: str = "block") -> int:
    """The stream's backlog: the largest group backlog; with no group, ``length`` (XLEN) in
    ``block`` mode and 0 in ``trim`` mode."""
    largest = max(backlogs, default=None)
    if largest is not None:
        return largest
    return length if no_group == "block" else 0
