"""The handler slots and their queue, pure (no Redis): read-ahead bounded by free slots, a
suspect run alone, the wait bound, stuck slots. Time is an injected clock."""

from __future__ import annotations

import asyncio

from ingest.streams import EntryId
from workers.delivery import Delivery, History
from workers.slots import Dispatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _d(n: int, crashes: int = 0) -> Delivery:
    history = History(1 + crashes) if crashes else History()
    return Delivery(EntryId(f"{n}-0"), {}, None, None, history)


async def test_room_is_what_the_free_slots_take() -> None:
    per_event = Dispatch(concurrency=4, per_slot=1)
    batched = Dispatch(concurrency=2, per_slot=100)
    assert (per_event.room(), batched.room()) == (4, 200)
    await per_event.put([_d(1), _d(2), _d(3)])
    assert per_event.room() == 1
    work = await per_event.take(per_event.slots[0])
    assert work is not None and [d.entry_id for d in work.items] == ["1-0"]
    assert per_event.room() == 1  # three slots free, two entries waiting


async def test_a_suspect_waits_for_the_other_slots_then_runs_alone() -> None:
    dispatch = Dispatch(concurrency=2, per_slot=10)
    await dispatch.put([_d(1)])
    first = await dispatch.take(dispatch.slots[0])
    assert first is not None
    # Given: a suspect queued ahead of a normal entry while slot 0 runs
    await dispatch.put([_d(2, crashes=1), _d(3)])
    taker = asyncio.create_task(dispatch.take(dispatch.slots[1]))
    await asyncio.sleep(0)  # let it wait: it must not start the suspect yet
    assert not taker.done()
    # When: slot 0 finishes
    await dispatch.done(dispatch.slots[0])
    work = await asyncio.wait_for(taker, 1)
    # Then: the suspect runs alone, the rest waits (and counts as interrupted meanwhile), and
    # nothing is read while it runs
    assert work is not None and work.isolated
    assert [d.entry_id for d in work.items] == ["2-0"]
    assert [d.entry_id for d in work.waiting] == ["3-0"]
    assert dispatch.room() == 0
    await dispatch.done(dispatch.slots[1])
    assert dispatch.room() > 0


async def test_entries_waiting_past_the_bound_are_handed_back() -> None:
    clock = Clock()
    dispatch = Dispatch(concurrency=1, per_slot=1, clock=clock)
    await dispatch.put([_d(1)])
    clock.now += 5
    await dispatch.put([_d(2)])
    clock.now += 6
    expired = await dispatch.expired(10.0)
    assert [d.entry_id for d in expired] == ["1-0"]
    assert len(dispatch) == 1


async def test_stuck_slots_are_those_past_the_timeout_or_waiting_for_an_abandoned_call() -> None:
    clock = Clock()
    dispatch = Dispatch(concurrency=2, per_slot=1, clock=clock)
    dispatch.slots[0].calling(clock())
    clock.now += 200
    assert not dispatch.all_stuck(180)
    assert [s.index for s in dispatch.calling_longer(60)] == [0]
    abandoned: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    waiter = asyncio.create_task(dispatch.abandon(dispatch.slots[1], abandoned))
    await asyncio.sleep(0)
    assert dispatch.all_stuck(180)
    assert dispatch.abandoned_count() == 1
    abandoned.set_result(None)
    await waiter
    assert dispatch.abandoned_count() == 0
