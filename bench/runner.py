"""Running the chosen scenarios with floor runs around each rated one.

Load from other processes on a shared machine drifts over a run. So every scenario with an
events/s figure runs between two floor runs, and its ratio is taken against the faster of
those two neighbours (``<prefix>_floor_baseline`` holds that figure, events/s): a slow floor
cannot flatter a ratio, and a scenario is compared with the machine as it was at its time.
The figures ``floor_*`` are those of the fastest floor run; ``floor_runs`` lists every run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.harness import Context
from bench.report import BASELINE, RATE, cpu_per_event
from bench.scenarios import RATED, SCENARIOS


def _timed(ctx: Context, name: str) -> dict[str, Any]:
    started = time.monotonic()
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    figures = SCENARIOS[name](ctx)
    print(f"bench: {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return figures


def run_all(ctx: Context, names: Sequence[str]) -> None:
    """Run the floor, then each of ``names`` (floor excluded) in order, with a floor run after
    each rated scenario; leave every figure and ratio in ``ctx.figures``."""
    floors = [_timed(ctx, "floor")]
    for name in names:
        if name == "floor":
            continue
        figures = _timed(ctx, name)
        ctx.figures.update(figures)
        if name not in RATED:
            continue
        floors.append(_timed(ctx, "floor"))
        neighbour = max(floors[-2:], key=lambda f: f["floor" + RATE])
        for key in [k for k in figures if k.endswith(RATE)]:
            _add_ratios(ctx.figures, key[: -len(RATE)], neighbour)
    best = max(floors, key=lambda f: f["floor" + RATE])
    ctx.figures.update(best)
    ctx.figures["floor_runs"] = [f["floor" + RATE] for f in floors]


def _add_ratios(figures: dict[str, Any], prefix: str, floor: dict[str, Any]) -> None:
    base = floor["floor" + RATE]
    figures[prefix + BASELINE] = base
    figures[prefix + "_ratio"] = round(figures[prefix + RATE] / base, 3)
    cpu, floor_cpu = cpu_per_event(figures, prefix), cpu_per_event(floor, "floor")
    if cpu and floor_cpu:
        figures[prefix + "_cpu_ratio"] = round(floor_cpu / cpu, 3)
