"""Helpers for worker tests: writing entries, in-process runners, subprocess workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import redis

from ingest.codec import Event, encode
from ingest.connection import async_client
from ingest.settings import RedisSettings
from workers.handlers import LoadedHandler, wrap
from workers.runner import Runner
from workers.settings import WorkerSettings

STREAM = "ingest:events"
GROUP = "workers"


def add_events(
    client: redis.Redis, count: int, *, prefix: str = "e", start: int = 0, stream: str = STREAM
) -> list[str]:
    """XADD ``count`` encoded events (pipelined); returns their entry IDs."""
    pipe = client.pipeline(transaction=False)
    for i in range(start, start + count):
        pipe.xadd(stream, encode(Event(f"{prefix}{i}", {"n": i}, source="test")))  # type: ignore[arg-type]
    return [str(x) for x in pipe.execute()]


def settings_for(url: str, **kwargs: Any) -> WorkerSettings:
    """Fast test settings (short block, min-idle 1 s, small retry waits), overridable."""
    base = WorkerSettings(
        redis=RedisSettings(url, connect_timeout_s=2.0, socket_timeout_s=5.0),
        consumer="test-consumer",
        block_ms=200,
        retry_initial_s=0.01,
        retry_max_s=0.02,
        claim_interval_s=0.1,
        min_idle_s=1.0,
        shutdown_timeout_s=2.0,
        consumer_ttl_s=5.0,
    )
    return replace(base, **kwargs)


@contextlib.asynccontextmanager
async def running(
    settings: WorkerSettings, target: Any, **runner_args: Any
) -> AsyncIterator[Runner]:
    """Run a worker in-process around ``target`` (handler object or callable); stops it
    gracefully on exit and asserts it returned 0. ``runner_args`` go to :class:`Runner`
    (``tracer_provider``, ``sleep``)."""
    executor = ThreadPoolExecutor(settings.concurrency)
    handler: LoadedHandler = wrap(target, executor)
    client = async_client(settings.redis)
    runner = Runner(settings, handler, client, executor, **runner_args)
    task = asyncio.create_task(runner.run())
    try:
        await wait_async(lambda: runner.health.joined or task.done(), what="worker joined")
        if task.done():
            task.result()
        yield runner
    finally:
        runner.request_stop()
        try:
            code = await asyncio.wait_for(task, 15)
        finally:
            await client.aclose()
            executor.shutdown(wait=False)
    assert code == 0


async def wait_async(predicate: Any, timeout_s: float = 10.0, what: str = "") -> Any:
    """Poll ``predicate`` (sync) on the event loop until truthy, or fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)  # polling interval, not a wait for an outcome


def worker_cmd(url: str, *args: str) -> list[str]:
    """``python -m workers`` against ``url`` with test-friendly defaults plus ``args``."""
    return [
        sys.executable,
        "-m",
        "workers",
        "--redis-url",
        url,
        "--block-ms",
        "300",
        "--retry-initial",
        "0.01",
        "--retry-max",
        "0.02",
        "--log-level",
        "WARNING",
        *args,
    ]


STARTED: list[subprocess.Popen[str]] = []
"""Every worker subprocess started, so a fixture can kill leftovers after a failed test."""


def start_worker(env: dict[str, str], url: str, *args: str) -> subprocess.Popen[str]:
    """Start a worker subprocess (stdout/stderr piped, text)."""
    proc = subprocess.Popen(
        worker_cmd(url, *args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    STARTED.append(proc)
    return proc


def kill_leftovers() -> None:
    """SIGKILL and reap workers a test left running (each by its own pid)."""
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def summary_of(stdout: str) -> dict[str, Any]:
    """The worker's one-line JSON summary (last JSON line of stdout)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise AssertionError(f"no summary in stdout: {stdout!r}")


def dead_letters(client: redis.Redis) -> list[tuple[str, dict[str, str]]]:
    """Every entry of the dead-letter stream."""
    return client.xrange("{ingest:events}:dead")  # type: ignore[return-value]


def iter_ids(client: redis.Redis, stream: str = STREAM) -> Iterable[str]:
    """Entry IDs of ``stream``."""
    return [str(e[0]) for e in client.xrange(stream)]  # type: ignore[union-attr]
