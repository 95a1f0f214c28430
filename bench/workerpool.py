"""``python -m workers`` child processes for the end-to-end scenarios."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import redis

from bench.harness import GROUP, ROOT, STREAM
from bench.rss import cpu_s, rss_mb
from ingest.streams import parse_consumers
from tests.redis_server import free_port


def worker_env(url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: our stream and group, metrics on, no OTEL unless ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INGEST_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            "INGEST_REDIS_URL": url,
            "INGEST_STREAM": STREAM,
            "INGEST_GROUP": GROUP,
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        }
    )
    env.update(extra or {})
    return env


class WorkerPool:
    """``count`` worker processes, each with its own consumer name and metrics port.

    Args:
        url: the private Redis.
        count: how many processes.
        args: extra ``python -m workers`` arguments (``--handler ...``, ``--sink ...``).
        env: extra environment (``OTEL_*``, ``BENCH_LATENCY_FILE``).
    """

    def __init__(
        self, url: str, count: int, args: list[str], env: Mapping[str, str] | None = None
    ) -> None:
        self.url = url
        self.names = [f"bench-{i}" for i in range(count)]
        self.args = args
        self.env = worker_env(url, env)
        self.logdir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.rss_max_mb = 0.0

    def start(self, timeout_s: float = 60.0) -> None:
        """Start every worker and wait until each has joined the group and read once."""
        for name in self.names:
            log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
            cmd = [sys.executable, "-m", "workers", "--consumer", name]
            cmd += ["--http-port", str(free_port()), *self.args]
            self.procs.append(
                subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            )
            log.close()
        with redis.Redis.from_url(self.url, decode_responses=True) as client:
            deadline = time.monotonic() + timeout_s
            while True:
                joined = {c.name for c in parse_consumers(client.xinfo_consumers(STREAM, GROUP))}
                if joined >= set(self.names):
                    return
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers did not join in time; logs in {self.logdir}")
                time.sleep(0.05)  # polling for start-up

    def check_alive(self) -> None:
        """Raise ``RuntimeError`` (with the log's tail) when a worker has exited."""
        for name, proc in zip(self.names, self.procs, strict=True):
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker {name} exited with {proc.returncode}:\n{tail}")

    def alive(self) -> bool:
        """True while every worker runs."""
        return all(proc.poll() is None for proc in self.procs)

    def sample_rss(self) -> float:
        """Sum of the workers' RSS now, MiB; also tracks the largest single worker's RSS."""
        each = [rss_mb(p.pid) for p in self.procs]
        self.rss_max_mb = max(self.rss_max_mb, *each)
        return sum(each)

    def cpu_s(self) -> float:
        """CPU seconds used by the workers so far."""
        return sum(cpu_s(p.pid) for p in self.procs)

    def summaries(self) -> list[dict[str, object]]:
        """Each stopped worker's one-line JSON summary (its last ``{...}`` output line)."""
        out = []
        for name in self.names:
            lines = (self.logdir / f"{name}.log").read_text(errors="replace").splitlines()
            for line in reversed(lines):
                if line.startswith('{"consumer"'):
                    out.append(json.loads(line))
                    break
        return out

    def cleanup(self) -> None:
        """Remove the workers' log directory."""
        shutil.rmtree(self.logdir, ignore_errors=True)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM every worker (graceful stop) and wait; kill what hangs."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
