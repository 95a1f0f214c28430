"""The scenario registry: name -> function of the :class:`~bench.harness.Context`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import e2e, floor, recovery
from bench.admission import run_admission_bench
from bench.durable import BATCHES, run_durable_bench
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


def durable(ctx: Context) -> dict[str, Any]:
    """``durable``: the producer with ``--min-replicas 1`` vs without, against its own primary
    with one replica (:mod:`bench.durable`), at batch 500 and 50; ratios to plain produce."""
    result = run_durable_bench(min(ctx.sizes.events, 50_000))
    figures: dict[str, Any] = {"durable_events": result["events"]}
    for batch in BATCHES:
        figures[f"durable_plain_eps_{batch}"] = result[f"plain_eps_{batch}"]
        figures[f"durable_wait_eps_{batch}"] = result[f"durable_eps_{batch}"]
        figures[f"durable_vs_plain_ratio_{batch}"] = result[f"ratio_{batch}"]
    return figures


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
    "durable": durable,
}

RATED = frozenset({"e2e-noop", "e2e-sqlite", "e2e-traced", "e2e-traced-batch", "scale", "soak"})
"""Scenarios with events/s figures: each runs between two floor runs (see bench.runner)."""
