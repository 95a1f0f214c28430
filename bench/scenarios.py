"""The scenario registry: name -> function of the :class:`~bench.harness.Context`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import e2e, floor, recovery
from bench.admission import run_admission_bench
from bench.harness import Context

Scenario = Callable[[Context], dict[str, Any]]


def admission(ctx: Context) -> dict[str, Any]:
    """``admission``: the admission function vs plain pipelined ``XADD MAXLEN ~`` at batch 500
    (:mod:`bench.admission`); its ratio is to plain XADD, not to the floor."""
    ctx.reset()
    result = run_admission_bench(ctx.url, min(ctx.sizes.events, 100_000))
    return {
        "admission_events": result["events"],
        "admission_fcall_eps": result["admission_eps"],
        "admission_plain_xadd_eps": result["plain_eps"],
        "admission_vs_plain_ratio": result["ratio"],
    }


SCENARIOS: dict[str, Scenario] = {
    "floor": floor.run,
    "e2e-noop": e2e.noop,
    "e2e-sqlite": e2e.sqlite,
    "e2e-traced": e2e.traced,
    "e2e-traced-batch": e2e.traced_batch,
    "scale": e2e.scale,
    "latency": e2e.latency,
    "soak": e2e.soak,
    "admission": admission,
    "recovery": recovery.run,
}

RATED = frozenset({"e2e-noop", "e2e-sqlite", "e2e-traced", "e2e-traced-batch", "scale", "soak"})
"""Scenarios with events/s figures: each runs between two floor runs (see bench.runner)."""
