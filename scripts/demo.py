"""The main job end to end: the bundled buoy CSV -> capped stream -> 2 workers -> SQLite.

Run by ``./demo.sh``. Starts a private ``redis-server`` unless ``INGEST_REDIS_URL`` is set,
starts two worker processes, produces the file, waits until the consumer group's backlog is 0,
stops the workers with SIGTERM, prints what happened (a table, then the same as one line
``summary (JSON): {...}``), and stops its Redis. The producer runs with ``--log-level WARNING``
so its log lines do not interleave with the demo's. The sink
(``./demo.db`` by default, ``--sink`` to change) persists across runs: a second run inserts
nothing and reports every event as a duplicate.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.keys import StreamKeys  # noqa: E402
from ingest.settings import redact_url  # noqa: E402
from ingest.streams import parse_groups  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402


def sink_rows(path: Path) -> int:
    """Rows in the sink's ``events`` table (0 when the table does not exist yet)."""
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def drained(client: redis.Redis, stream: str, group: str) -> bool:
    """True when ``group`` has no undelivered and no pending entries on ``stream``."""
    groups = {g.name: g for g in parse_groups(client.xinfo_groups(stream))}
    info = groups.get(group)
    if info is None or info.pending:
        return False
    if info.lag is not None:
        return info.lag == 0
    last = client.xrevrange(stream, count=1)
    return not last or last[0][0] == info.last_delivered_id


def wait_drained(
    client: redis.Redis, stream: str, group: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    """Poll until drained; fail if every worker died first."""
    while not drained(client, stream, group):
        if all(w.poll() is not None for w in workers):
            raise SystemExit("demo: every worker exited before the backlog reached 0")
        time.sleep(0.1)


def last_json(output: bytes) -> dict[str, Any]:
    """The last line of ``output`` that parses as a JSON object (a worker's exit summary)."""
    for line in reversed(output.decode(errors="replace").splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "data" / "sea_surface_temperature.csv.gz"))
    parser.add_argument("--sink", default=str(ROOT / "demo.db"), help="SQLite file")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: must be at least 1")
    sink = Path(args.sink).resolve()

    server = None
    url = os.environ.get("INGEST_REDIS_URL")
    if not url:
        server = RedisServer()
        server.start()
        url = server.url
    stream = os.environ.get("INGEST_STREAM", "ingest:events")
    group = os.environ.get("INGEST_GROUP", "workers")
    env = dict(
        os.environ, INGEST_REDIS_URL=url, INGEST_SINK=f"sqlite:///{sink}", PYTHONUNBUFFERED="1"
    )
    print(f"demo: Redis {redact_url(url)}, stream {stream}, group {group}, sink {sink}")
    client = redis.Redis.from_url(url, decode_responses=True)
    rows_before = sink_rows(sink)
    dead_before = client.xlen(StreamKeys(stream).dead_letter_stream)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        logs = ROOT / "run"
        logs.mkdir(exist_ok=True)
        workers.extend(
            subprocess.Popen(
                [sys.executable, "-m", "workers", "--consumer", f"demo-{n + 1}"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=(logs / f"demo-worker-{n + 1}.log").open("wb"),
            )
            for n in range(args.workers)
        )
        if args.workers == 1:
            print(f"demo: 1 worker started; its log is in {logs}/demo-worker-1.log")
        else:
            print(
                f"demo: {args.workers} workers started; their logs are in {logs}/demo-worker-N.log"
            )
        started = time.monotonic()
        # The producer's INFO lines would land between the demo's own lines: warnings only.
        produce = subprocess.run(
            [
                sys.executable,
                "-m",
                "ingest.produce",
                "--input",
                args.input,
                "--log-level",
                "WARNING",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        summary = (
            json.loads(produce.stdout.strip().splitlines()[-1]) if produce.stdout.strip() else {}
        )
        if produce.returncode not in (0, 1):
            print(f"demo: producer failed with exit code {produce.returncode}", file=sys.stderr)
            return produce.returncode
        wait_drained(client, stream, group, workers)
        wall_s = time.monotonic() - started
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=60) for w in workers]
        sink_counts = [last_json(w.stdout.read() if w.stdout else b"") for w in workers]
        produced = int(summary.get("produced", 0))
        inserted = sink_rows(sink) - rows_before
        dead = client.xlen(StreamKeys(stream).dead_letter_stream) - dead_before
        result = {
            "events_produced": produced,
            "rejected_lines": int(summary.get("rejected", 0)),
            "rows_in_sink": sink_rows(sink),
            "rows_inserted_this_run": inserted,
            "duplicates_skipped": sum(int(c.get("duplicates", 0)) for c in sink_counts),
            "dead_letters": dead,
            "wall_s": round(wall_s, 2),
            "events_per_s": round(produced / wall_s) if wall_s else 0,
            "worker_exit_codes": codes,
        }
        for key, value in result.items():
            print(f"  {key.replace('_', ' '):<24}{value}")
        print(f"summary (JSON): {json.dumps(result)}")
        if produced and result["duplicates_skipped"] == produced:
            print("demo: every event was a duplicate: the sink already held them all (idempotent)")
        return 0 if all(c == 0 for c in codes) else 1
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        client.close()
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
