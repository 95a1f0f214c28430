"""One run of the demo (scripts/demo.py): its Redis, stream, workers, producer and summary.

The demo's children (workers, producer, a private redis-server) run in sessions of their own,
so a Ctrl-C at the terminal reaches only the demo, which stops them in order: the producer
(SIGINT: it finishes its batch and prints its summary), then the workers (SIGTERM: they drain),
then counts what was done, removes its keys from a shared server and stops its own Redis.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from ingest.groupstate import read_state
from ingest.settings import redact_url
from tests.redis_server import RedisServer

GROUP = "demo"
POLL_S = 0.1
PROGRESS_S = 3.0
"""Seconds between progress lines while the demo waits."""
PRODUCER_STOP_S = 15.0
WORKER_STOP_S = 40.0
"""How long a stopped worker may take: its --shutdown-timeout (25 s by default) and a margin."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM; ``code`` is the exit code (128 + signal number)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def sink_rows(path: Path) -> int:
    """Rows in the sink's ``events`` table (0 when the table does not exist yet)."""
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def last_json(output: bytes) -> dict[str, Any]:
    """The last line of ``output`` that parses as a JSON object (a child's summary)."""
    for line in reversed(output.decode(errors="replace").splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


@dataclass
class DemoRun:
    """The state of one demo run; see the module docstring for the order of things."""

    root: Path
    input_path: str
    sink: Path
    workers: int
    deadline: float
    run_id: str
    shared_url: str | None
    keep: bool = False
    server: RedisServer | None = None
    client: redis.Redis | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    producer: subprocess.Popen[bytes] | None = None
    produced: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    rows_before: int = 0
    hurried: bool = False
    url: str = ""

    @property
    def stream(self) -> str:
        """The demo's own stream: ``demo:<run id>:events``."""
        return f"demo:{self.run_id}:events"

    def _env(self, url: str) -> dict[str, str]:
        env = dict(os.environ, INGEST_REDIS_URL=url, INGEST_STREAM=self.stream)
        env.update(INGEST_GROUP=GROUP, INGEST_SINK=f"sqlite:///{self.sink}", INGEST_HTTP_PORT="0")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> None:
        """Reach (or start) Redis, create the demo's group, start the workers."""
        url = self.shared_url
        if url is None:
            self.server = RedisServer(new_session=True)
            self.server.start()
            url = self.server.url
        self.url = url
        where = "shared: its keys are removed at the end" if url == self.shared_url else "private"
        print(
            f"demo: Redis {redact_url(url)} ({where}), stream {self.stream}, group {GROUP}, "
            f"sink {self.sink}",
            flush=True,
        )
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        self.rows_before = sink_rows(self.sink)
        self._start_workers(self._env(url))

    def _start_workers(self, env: dict[str, str]) -> None:
        logs = self.root / "run"
        logs.mkdir(exist_ok=True)
        for n in range(1, self.workers + 1):
            consumer = f"demo-{self.run_id}-{n}"
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "workers", "--consumer", consumer],
                    env=env,
                    cwd=self.root,
                    stdout=subprocess.PIPE,
                    stderr=(logs / f"demo-worker-{n}.log").open("wb"),
                    start_new_session=True,
                )
            )
        if self.workers == 1:
            print(f"demo: 1 worker started; its log is in {logs}/demo-worker-1.log", flush=True)
        else:
            print(
                f"demo: {self.workers} workers started; their logs are in {logs}/demo-worker-N.log",
                flush=True,
            )

    def produce_and_drain(self) -> tuple[str | None, int]:
        """Produce the file, then wait for the backlog to reach 0; returns ``(why it stopped
        early or None, exit code)``."""
        self.started = time.monotonic()
        remaining = max(self.deadline - time.monotonic(), 1.0)
        # The producer's INFO lines would land between the demo's own lines: warnings only.
        command = [sys.executable, "-m", "ingest.produce", "--input", self.input_path]
        command += ["--log-level", "WARNING", "--max-block", f"{remaining:.0f}"]
        self.producer = subprocess.Popen(
            command,
            env=self._env(self.url),
            cwd=self.root,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        producer = self.producer
        stopped = self._wait(lambda: producer.poll() is None)
        if stopped is not None:
            return stopped, 3 if stopped.startswith("timed out") else 1
        code = self._finish_producer()
        if code not in (0, 1):
            return f"producer exit {code}", code
        stopped = self._wait(lambda: not self._drained())
        if stopped is not None:
            return stopped, 3 if stopped.startswith("timed out") else 1
        return None, 0

    def _redis(self) -> redis.Redis:
        if self.client is None:
            raise RuntimeError("demo: not connected to Redis yet")
        return self.client

    def _finish_producer(self, *, stopping: bool = False) -> int:
        if self.producer is None:
            return 0
        out, _ = self.producer.communicate()
        self.produced = last_json(out or b"")
        code = self.producer.returncode
        self.producer = None
        if code not in (0, 1) and not stopping:
            print(f"demo: producer failed with exit code {code}", file=sys.stderr, flush=True)
        return code

    def _drained(self) -> bool:
        state = read_state(self._redis(), self.stream, groups=[GROUP], consumers=False)
        group = state.group(GROUP)
        return group is not None and group.backlog == 0

    def _wait(self, busy: Callable[[], bool]) -> str | None:
        """Poll while ``busy()``; print progress every :data:`PROGRESS_S`. Returns why it gave
        up (``timed out ...``, ``every worker exited``) or ``None`` when ``busy`` ended."""
        next_progress = time.monotonic() + PROGRESS_S
        while busy():
            now = time.monotonic()
            if now >= self.deadline:
                waited = now - self.started
                print(f"demo: gave up after {waited:.0f} s (--timeout)", flush=True)
                return f"timed out after {waited:.0f} s"
            if all(p.poll() is not None for p in self.procs):
                print("demo: every worker exited before the backlog reached 0", file=sys.stderr)
                return "every worker exited"
            if now >= next_progress:
                self._progress(now)
                next_progress = now + PROGRESS_S
            time.sleep(POLL_S)  # the polling period, not waiting for an outcome
        return None

    def _progress(self, now: float) -> None:
        state = read_state(self._redis(), self.stream, groups=[GROUP], consumers=False)
        group = state.group(GROUP)
        added = state.entries_added if state.entries_added is not None else state.length
        backlog = "?" if group is None else f"{group.backlog:,}"
        print(
            f"demo: {now - self.started:.0f} s: {added:,} events in the stream, backlog "
            f"{backlog}, {sink_rows(self.sink) - self.rows_before:,} rows inserted",
            flush=True,
        )

    def hurry(self) -> None:
        """A second Ctrl-C: kill what is still running instead of waiting for it."""
        self.hurried = True
        for proc in [*self.procs, *([self.producer] if self.producer else [])]:
            if proc.poll() is None:
                proc.kill()

    def _stop(self, proc: subprocess.Popen[bytes], sig: int, wait_s: float) -> int:
        if proc.poll() is None and not self.hurried:
            proc.send_signal(sig)
        deadline = time.monotonic() + wait_s
        while proc.poll() is None and time.monotonic() < deadline and not self.hurried:
            time.sleep(POLL_S)  # the polling period while the child stops
        if proc.poll() is None:
            proc.kill()
        return proc.wait()

    def stop_and_count(self, stopped: str | None) -> dict[str, Any]:
        """Stop the producer, then the workers; count what was done; clean up. Returns the
        summary (see the README)."""
        wall_s = time.monotonic() - self.started
        if self.producer is not None:
            self._stop(self.producer, signal.SIGINT, PRODUCER_STOP_S)
            self._finish_producer(stopping=True)
        codes = [self._stop(p, signal.SIGTERM, WORKER_STOP_S) for p in self.procs]
        counts = [last_json(p.stdout.read() if p.stdout else b"") for p in self.procs]
        result = self._result(wall_s, codes, counts)
        if stopped is not None:
            result["stopped"] = stopped
        self._clean_up()
        return result

    def _redis_counts(self) -> tuple[int | None, int]:
        """``(entries ever added to the demo's stream, dead letters)``; ``(None, 0)`` when
        Redis cannot tell (it went away)."""
        if self.client is None:
            return None, 0
        try:
            state = read_state(self.client, self.stream, groups=[GROUP], consumers=False)
        except redis.RedisError:
            return None, 0
        added = state.entries_added if state.entries_added is not None else state.length
        return added, state.dead_letter_length

    def _result(
        self, wall_s: float, codes: list[int], counts: list[dict[str, Any]]
    ) -> dict[str, Any]:
        added, dead = self._redis_counts()
        # The producer's own count; when it was killed before printing it, the stream's.
        produced = int(self.produced.get("produced", added or 0))
        inserted = sink_rows(self.sink) - self.rows_before
        return {
            "events_produced": produced,
            "rejected_lines": int(self.produced.get("rejected", 0)),
            "rows_in_sink": sink_rows(self.sink),
            "rows_inserted_this_run": inserted,
            "duplicates_skipped": sum(int(c.get("duplicates", 0)) for c in counts),
            "dead_letters": dead,
            "wall_s": round(wall_s, 2),
            "events_per_s": round(produced / wall_s) if wall_s else 0,
            "worker_exit_codes": codes,
        }

    def _clean_up(self) -> None:
        """Remove the demo's keys from a shared server (unless ``keep``); stop a private one."""
        try:
            if self.client is not None and self.server is None and not self.keep:
                keys = [self.stream, *self.client.scan_iter(match=f"{{{self.stream}}}:*")]
                self.client.delete(*keys)
                print(f"demo: removed its {len(keys)} keys ({self.stream}, ...)", flush=True)
            elif self.client is not None and self.server is None:
                print(f"demo: kept its stream {self.stream} and its keys (--keep)", flush=True)
        except redis.RedisError as exc:
            print(f"demo: could not remove its keys: {exc}", file=sys.stderr, flush=True)
        finally:
            if self.client is not None:
                self.client.close()
            if self.server is not None:
                self.server.cleanup()

    def print_summary(self, result: dict[str, Any]) -> None:
        """The table, then the same as one labelled JSON line, always the last line (the
        README's format)."""
        produced = result["events_produced"]
        if produced and result["duplicates_skipped"] == produced and "stopped" not in result:
            print("demo: every event was a duplicate: the sink already held them all (idempotent)")
        for key, value in result.items():
            print(f"  {key.replace('_', ' '):<24}{value}")
        print(f"summary (JSON): {json.dumps(result)}", flush=True)
