"""End-to-end scenarios: :class:`ingest.producer.Producer` -> ``python -m workers`` processes.

Every guarantee stays on: the admission function, the heartbeat (idle-time refresh and
liveness key), the claim loop, metrics (``/metrics`` on a port). The worker runs with its
defaults (batch 100, concurrency 4, log level INFO) unless a scenario says otherwise.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import producer_child
from bench.handlers import LATENCY_FILE_ENV
from bench.harness import (
    Children,
    Context,
    acknowledged,
    cpu_figures,
    drain_timeout,
    rate,
    redis_cpu_s,
    wait_drained,
)
from bench.otlp import OtlpReceiver
from bench.profiling import Profiler
from bench.workerpool import WorkerPool

NOOP = ["--handler", "bench.handlers:Noop"]


def run_pipeline(
    ctx: Context,
    prefix: str,
    n: int,
    *,
    workers: int = 1,
    args: list[str] = NOOP,
    env: Mapping[str, str] | None = None,
    checkpoint: int | None = None,
    offered_rate: float | None = None,
) -> dict[str, Any]:
    """Start ``workers`` workers, produce ``n`` events, wait until all are acknowledged.

    Figures: ``<prefix>_events``, ``_seconds``, ``_events_per_s``, ``_worker_rss_mb`` (the
    largest per-worker RSS seen), ``_{worker,producer,redis}_cpu_us_per_event``;
    with ``checkpoint``, ``<prefix>_rss_first_mb`` is the worker RSS once that many entries
    were acknowledged. The pool is returned stopped.
    """
    ctx.reset()
    pool = WorkerPool(ctx.url, workers, args, env)
    pool.start()
    start_cpu = pool.cpu_s()
    first_rss: list[float] = []
    polls = 0

    def on_poll(info: Any) -> None:
        nonlocal polls
        polls += 1
        if checkpoint is not None and not first_rss and acknowledged(info) >= checkpoint:
            first_rss.append(pool.sample_rss())
        elif polls % 20 == 0:
            pool.sample_rss()

    children = Children()
    run_id = uuid.uuid4().hex[:8]
    children.spawn(producer_child.produce, ctx.url, n, run_id, dict(env or {}), offered_rate)
    profiler = Profiler(ctx.profile_dir)
    for name, proc in zip(pool.names, pool.procs, strict=True):
        profiler.attach(proc.pid, f"{prefix}-worker-{name}")
    profiler.attach(children.procs[0].pid, f"{prefix}-producer")
    try:
        with ctx.client() as client:
            redis_cpu = redis_cpu_s(client)
            t0 = children.start()
            t_end = wait_drained(
                client,
                n,
                timeout_s=drain_timeout(n),
                on_poll=on_poll,
                alive=lambda: children.alive() and pool.alive(),
            )
            redis_cpu = redis_cpu_s(client) - redis_cpu
        last_rss = pool.sample_rss()
        cpu = {
            "worker": pool.cpu_s() - start_cpu,
            "producer": children.report("producer_cpu"),
            "redis": redis_cpu,
        }
        children.join()
    finally:
        pool.stop()
        profiler.finish()
    summaries = pool.summaries()
    pool.cleanup()
    figures: dict[str, Any] = {
        f"{prefix}_events": n,
        f"{prefix}_seconds": round(t_end - t0, 3),
        f"{prefix}_events_per_s": round(rate(n, t0, t_end)),
        f"{prefix}_worker_rss_mb": round(pool.rss_max_mb, 1),
        **cpu_figures(prefix, n, cpu),
        f"{prefix}_acked": sum(int(str(s.get("acked", 0))) for s in summaries),
    }
    if any("inserted" in s for s in summaries):
        figures[f"{prefix}_inserted"] = sum(int(str(s.get("inserted", 0))) for s in summaries)
    if checkpoint is not None:
        figures[f"{prefix}_rss_first_mb"] = round(first_rss[0] if first_rss else 0.0, 1)
        figures[f"{prefix}_rss_last_mb"] = round(last_rss, 1)
    return figures


def noop(ctx: Context) -> dict[str, Any]:
    """``e2e-noop``: one worker, no-op batch handler, tracing off."""
    return run_pipeline(ctx, "e2e_noop", ctx.sizes.events)


def sqlite(ctx: Context) -> dict[str, Any]:
    """``e2e-sqlite``: one worker into the built-in SQLite sink (a fresh database file)."""
    path = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) / "bench.db"
    figures = run_pipeline(
        ctx, "e2e_sqlite", ctx.sizes.events, args=["--sink", f"sqlite:///{path}"]
    )
    shutil.rmtree(path.parent, ignore_errors=True)
    return figures


def traced(ctx: Context) -> dict[str, Any]:
    """``e2e-traced``: ``e2e-noop`` with every trace sampled and exported over OTLP/HTTP."""
    return _traced(ctx, "e2e_traced", [])


def traced_batch(ctx: Context) -> dict[str, Any]:
    """``e2e-traced-batch``: ``e2e-traced`` with ``--trace-spans batch`` (one process span per
    read batch of entries sharing a producer span)."""
    return _traced(ctx, "e2e_traced_batch", ["--trace-spans", "batch"])


def _traced(ctx: Context, prefix: str, extra: list[str]) -> dict[str, Any]:
    receiver = OtlpReceiver()
    receiver.start()
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_METRICS_EXPORTER": "none",
    }
    try:
        figures = run_pipeline(ctx, prefix, ctx.sizes.events, args=[*NOOP, *extra], env=env)
    finally:
        receiver.stop()
    figures[prefix + "_otlp_trace_requests"] = receiver.requests["/v1/traces"]
    figures[prefix + "_otlp_trace_bytes"] = receiver.bytes["/v1/traces"]
    return figures


def scale(ctx: Context) -> dict[str, Any]:
    """``scale``: the no-op pipeline with 1, 2 and 4 worker processes."""
    figures: dict[str, Any] = {}
    for count in ctx.sizes.scale_workers:
        figures.update(run_pipeline(ctx, f"scale_{count}", ctx.sizes.events, workers=count))
    return figures


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency(ctx: Context) -> dict[str, Any]:
    """``latency``: a steady ``latency_rate`` events/s for ``latency_s``; milliseconds from
    ``produced_at_ms`` to the handler's start, p50/p99/max."""
    n = int(ctx.sizes.latency_rate * ctx.sizes.latency_s)
    path = Path(tempfile.mkdtemp(prefix="bench-latency-")) / "latency.txt"
    path.touch()
    figures = run_pipeline(
        ctx,
        "latency_run",
        n,
        args=["--handler", "bench.handlers:Latency"],
        env={LATENCY_FILE_ENV: str(path)},
        offered_rate=ctx.sizes.latency_rate,
    )
    values = [float(v) for v in path.read_text().split()]
    shutil.rmtree(path.parent, ignore_errors=True)
    return {
        "latency_rate": ctx.sizes.latency_rate,
        "latency_events": len(values),
        "latency_seconds": figures["latency_run_seconds"],
        "latency_p50_ms": round(statistics.median(values), 2),
        "latency_p99_ms": round(percentile(values, 0.99), 2),
        "latency_max_ms": round(max(values), 2),
        "latency_worker_cpu_us_per_event": figures["latency_run_worker_cpu_us_per_event"],
    }


def soak(ctx: Context) -> dict[str, Any]:
    """``soak``: ``soak_events`` through one worker; its RSS at the checkpoint and the end."""
    n, checkpoint = ctx.sizes.soak_events, ctx.sizes.soak_checkpoint
    started = time.monotonic()
    figures = run_pipeline(ctx, "soak", n, checkpoint=checkpoint)
    first, last = figures["soak_rss_first_mb"], figures["soak_rss_last_mb"]
    figures["soak_checkpoint"] = checkpoint
    figures["soak_rss_growth"] = round((last - first) / first, 3) if first else 0.0
    figures["soak_wall_s"] = round(time.monotonic() - started, 1)
    return figures
