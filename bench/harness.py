"""What every scenario shares: the private Redis, child processes, timing, the drain poll.

Timing is the same for every scenario, so ratios compare like with like: the clock starts in the
producer process right before its first XADD (``time.time()``, reported back through a queue)
and stops when the parent sees, polling ``XINFO GROUPS`` every few milliseconds, that the group
has read all ``n`` entries and has none pending (every one acknowledged).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.synchronize
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from ingest.streams import GroupInfo, parse_groups
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
STREAM = "bench:events"
GROUP = "workers"
POLL_S = 0.005
SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each scenario runs.

    Attributes:
        events: entries per throughput scenario (floor, e2e-*, each scale step).
        latency_rate: events/s offered in the latency scenario.
        latency_s: seconds the latency scenario offers that rate.
        soak_events: entries through one worker in the soak scenario.
        soak_checkpoint: entries acknowledged when the first RSS sample is taken.
        scale_workers: worker counts of the scale scenario.
    """

    events: int
    latency_rate: int
    latency_s: float
    soak_events: int
    soak_checkpoint: int
    scale_workers: tuple[int, ...] = (1, 2, 4)


FULL = Sizes(
    events=200_000,
    latency_rate=2_000,
    latency_s=10.0,
    soak_events=1_000_000,
    soak_checkpoint=100_000,
)
QUICK = Sizes(
    events=20_000, latency_rate=2_000, latency_s=3.0, soak_events=100_000, soak_checkpoint=10_000
)


@dataclass
class Context:
    """One benchmark invocation: the server, its URL, the sizes, the figures so far, and where
    py-spy profiles go (``--profile``; None: no profiling)."""

    server: RedisServer
    sizes: Sizes
    figures: dict[str, Any] = field(default_factory=dict)
    profile_dir: Path | None = None

    @property
    def url(self) -> str:
        """The private server's URL."""
        return self.server.url

    def client(self) -> redis.Redis:
        """A fresh ``redis.Redis`` (``decode_responses=True``) on the private server."""
        return redis.Redis.from_url(self.url, decode_responses=True)

    def reset(self) -> None:
        """Empty the database and create the group at ``0`` (functions stay loaded)."""
        with self.client() as client:
            client.flushall()
            client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)


def group_info(client: redis.Redis, stream: str = STREAM, group: str = GROUP) -> GroupInfo:
    """The group's ``XINFO GROUPS`` row. Raises ``LookupError`` when it does not exist."""
    for info in parse_groups(client.xinfo_groups(stream)):
        if info.name == group:
            return info
    raise LookupError(f"no group {group!r} on {stream!r}")


def acknowledged(info: GroupInfo) -> int:
    """Entries the group has read and acknowledged (``entries-read`` minus pending)."""
    return (info.entries_read or 0) - info.pending


def wait_drained(
    client: redis.Redis,
    n: int,
    *,
    timeout_s: float,
    on_poll: Callable[[GroupInfo], None] | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> float:
    """Poll until the group has read ``n`` entries and acknowledged all; return ``time.time()``.

    ``on_poll`` sees every sample (the soak scenario samples RSS there). Raises
    ``TimeoutError`` after ``timeout_s`` and ``RuntimeError`` when ``alive()`` turns false.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        info = group_info(client)
        now = time.time()
        if on_poll is not None:
            on_poll(info)
        if (info.entries_read or 0) >= n and info.pending == 0:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError(f"{acknowledged(info)} of {n} entries acknowledged in time")
        if not alive():
            raise RuntimeError(f"a process died after {acknowledged(info)} of {n} entries")
        time.sleep(POLL_S)


@dataclass
class Children:
    """Child processes that connect, say ready, and wait for one shared go signal."""

    ready: list[multiprocessing.synchronize.Event] = field(default_factory=list)
    procs: list[multiprocessing.context.SpawnProcess] = field(default_factory=list)
    go: multiprocessing.synchronize.Event = field(default_factory=SPAWN.Event)
    times: Any = field(default_factory=SPAWN.Queue)
    reports: dict[str, float] = field(default_factory=dict)

    def spawn(self, target: Callable[..., None], *args: Any) -> None:
        """Start ``target(ready, go, times, *args)`` in a fresh interpreter."""
        ready = SPAWN.Event()
        proc = SPAWN.Process(target=target, args=(ready, self.go, self.times, *args), daemon=True)
        proc.start()
        self.ready.append(ready)
        self.procs.append(proc)

    def start(self, timeout_s: float = 30.0) -> float:
        """Wait until every child is ready, release them; return the producer's start time
        (the child that reports ``("t0", time.time())`` first)."""
        deadline = time.monotonic() + timeout_s
        for ready, proc in zip(self.ready, self.procs, strict=True):
            while not ready.wait(0.1):
                if proc.exitcode is not None:
                    raise RuntimeError(f"a benchmark child exited with {proc.exitcode} at start")
                if time.monotonic() > deadline:
                    raise TimeoutError("a benchmark child did not get ready in time")
        self.go.set()
        return self.report("t0", timeout_s)

    def report(self, name: str, timeout_s: float = 30.0) -> float:
        """The value a child reported as ``(name, value)`` on the ``times`` queue."""
        while name not in self.reports:
            key, value = self.times.get(timeout=timeout_s)
            self.reports[key] = float(value)
        return self.reports[name]

    def alive(self) -> bool:
        """False once any child exited with a non-zero code."""
        return not any(p.exitcode not in (None, 0) for p in self.procs)

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for the children; kill any that hang."""
        for proc in self.procs:
            proc.join(timeout_s)
            if proc.is_alive():
                proc.kill()
                proc.join()


def redis_cpu_s(client: redis.Redis) -> float:
    """CPU seconds the Redis server has used (``INFO cpu``: user plus system)."""
    info: Any = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def cpu_figures(prefix: str, n: int, seconds: dict[str, float]) -> dict[str, float]:
    """``<prefix>_<who>_cpu_us_per_event`` for each ``who -> CPU seconds`` spent on ``n``."""
    return {f"{prefix}_{who}_cpu_us_per_event": round(s / n * 1e6, 1) for who, s in seconds.items()}


def rate(n: int, t0: float, t_end: float) -> float:
    """Events per second over ``[t0, t_end]``."""
    return n / max(t_end - t0, 1e-9)


def drain_timeout(n: int) -> float:
    """A generous drain deadline: 60 s plus 1 ms per event (a stuck run still ends)."""
    return 60.0 + n / 1000


def pick(names: Sequence[str], known: Sequence[str]) -> list[str]:
    """Validate scenario names against ``known``; return them in ``known``'s order, the floor
    first (it always runs)."""
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return ["floor", *[n for n in known if n in names and n != "floor"]]
