"""The backlog rule in Lua (admission function) and in Python (stats, gauges) agree (real server).

Random streams (entries, groups at random positions, acknowledgements, XDEL ahead of a group,
XTRIM behind it, counters set too high or too low) are read both ways: the same undelivered
count, source and staleness per group, and the admission function's largest backlog is the
Python one.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import admission
from ingest.backlog import PROBE, stream_backlog
from ingest.groups import group_backlogs
from ingest.groupstate import read_state

pytestmark = pytest.mark.redis

STREAM = "agree:events"

group_plans = st.fixed_dictionaries(
    {
        "read": st.one_of(
            st.sampled_from([0, 1, PROBE - 1, PROBE, PROBE + 1]), st.integers(0, 400)
        ),
        "acked": st.floats(0, 1),
        "counter": st.sampled_from(["keep", "high", "low"]),
    }
)
streams = st.fixed_dictionaries(
    {
        "entries": st.sampled_from([0, 1, 5, PROBE - 1, PROBE, PROBE + 1, 150, 350]),
        "groups": st.lists(group_plans, min_size=1, max_size=3),
        "deleted": st.lists(st.integers(0, 349), max_size=3),
        "trim_to": st.one_of(st.none(), st.none(), st.integers(0, 350)),
    }
)


def build(client: redis.Redis, plan: dict[str, Any]) -> None:
    client.delete(STREAM)
    ids = [client.xadd(STREAM, {"n": str(n)}) for n in range(plan["entries"])]
    if not ids:
        client.xadd(STREAM, {"n": "x"})
        client.xtrim(STREAM, maxlen=0, approximate=False)  # an empty stream that exists
    for index, group in enumerate(plan["groups"]):
        name = f"g{index}"
        client.xgroup_create(STREAM, name, id="0")
        got: list[str] = []
        if group["read"]:
            reply: Any = client.xreadgroup(name, "c", {STREAM: ">"}, count=group["read"])
            got = [entry_id for entry_id, _ in reply[0][1]] if reply else []
        acked = got[: int(len(got) * group["acked"])]
        if acked:
            client.xack(STREAM, name, *acked)
        if group["counter"] != "keep" and got:
            info: Any = next(g for g in client.xinfo_groups(STREAM) if g["name"] == name)
            shift = 40 if group["counter"] == "high" else -40
            read = max(0, min(int(info["entries-read"] or 0) + shift, len(ids)))
            raw: Any = client
            raw.execute_command("XGROUP", "SETID", STREAM, name, got[-1], "ENTRIESREAD", read)
    for n in plan["deleted"]:
        if n < len(ids):
            client.xdel(STREAM, ids[n])
    if plan["trim_to"] is not None:
        client.xtrim(STREAM, maxlen=plan["trim_to"], approximate=False)


@settings(
    max_examples=100,
    deadline=None,
    database=None,  # no .hypothesis/ in the repo
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=streams)
def test_lua_and_python_agree_on_every_group(client, plan):
    admission.ensure_loaded(client)
    build(client, plan)
    # When read by both rules (the Lua one told not to repair)
    state = read_state(client, STREAM, consumers=False)
    length, rows, repairs = group_backlogs(client, STREAM)
    # Then: the same figures, group by group
    assert length == state.length
    assert repairs == ()
    python = [
        (g.name, g.undelivered, g.undelivered_source, g.pending, g.lag_stale) for g in state.groups
    ]
    lua = [(r.group, r.undelivered, r.source, r.pending, r.stale) for r in rows]
    assert lua == python
    # And: the admission function's largest backlog and its group are Python's
    result = admission.admit(client, STREAM, [], maxlen=10**6, limit=10**6)
    worst = max(state.groups, key=lambda g: g.backlog)
    assert (result.backlog, result.group, result.lag_source) == (
        stream_backlog([g.backlog for g in state.groups], state.length),
        worst.name,
        worst.undelivered_source,
    )
    # And: every repair it made leaves Redis' own lag equal to the rule's figure
    after = {g["name"]: g["lag"] for g in client.xinfo_groups(STREAM)}
    for repair in result.repairs:
        assert repair.repaired
        assert after[repair.group] == repair.undelivered
