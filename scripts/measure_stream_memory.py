"""Measure Redis memory per stream entry on the bundled buoy CSV (for sizing maxmemory).

    .venv/bin/python scripts/measure_stream_memory.py [--csv PATH] [--traceparent]

Starts a private ``redis-server`` (from PATH, persistence off) on a free loopback port, XADDs
every row of the CSV with exactly the fields :func:`ingest.codec.encode` writes (event id
``<file name>:<line>``, as the producer makes them), then reads MEMORY USAGE of the stream
(``SAMPLES 0``: every node counted), the ``used_memory`` delta from INFO memory, and XLEN. It
then reads every entry through one consumer group without acknowledging, so the pending
entries list's own cost per entry shows too. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis

from ingest.codec import Event, encode

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "data" / "sea_surface_temperature.csv.gz"
STREAM = "ingest:events"
# A W3C traceparent as the producer writes it when tracing is on (55 characters).
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _events(path: Path) -> Iterator[Event]:
    with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open() as text:
        reader = csv.reader(text)
        header = next(reader)
        for line, row in enumerate(reader, start=2):
            payload = dict(zip(header, row, strict=True))
            yield Event(f"{path.name}:{line}", payload, source=path.name)


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def measure(client: redis.Redis, path: Path, traceparent: bool) -> dict[str, float | int | str]:
    """XADD every row, then read it all into a group; return the numbers (bytes, entries)."""
    trace = {"traceparent": TRACEPARENT} if traceparent else {}
    before = _used_memory(client)
    with client.pipeline(transaction=False) as pipe:
        for n, event in enumerate(_events(path), start=1):
            pipe.xadd(STREAM, encode(event, trace=trace))  # type: ignore[arg-type]
            if n % 500 == 0:
                pipe.execute()
        pipe.execute()
    after_add = _used_memory(client)
    entries = int(client.xlen(STREAM))
    usage = int(client.memory_usage(STREAM, samples=0) or 0)
    client.xgroup_create(STREAM, "workers", id="0")
    client.xreadgroup("workers", "measure", {STREAM: ">"}, count=entries + 1)
    after_read = _used_memory(client)
    first: list[tuple[str, dict[str, str]]] = client.xrange(STREAM, count=1)  # type: ignore[assignment]
    sample = first[0][1]
    return {
        "csv": path.name,
        "traceparent": traceparent,
        "entries": entries,
        "sample_entry_fields_bytes": sum(len(k) + len(str(v)) for k, v in sample.items()),
        "memory_usage_stream_bytes": usage,
        "memory_usage_per_entry_bytes": round(usage / entries, 1),
        "used_memory_delta_per_entry_bytes": round((after_add - before) / entries, 1),
        "pending_per_entry_bytes": round((after_read - after_add) / entries, 1),
        "redis_version": str(client.info("server")["redis_version"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Start a private server, measure, print JSON, stop the server. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--traceparent", action="store_true", help="add a traceparent field")
    args = parser.parse_args(argv)
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server not found on PATH", file=sys.stderr)
        return 2
    port, workdir = _free_port(), tempfile.mkdtemp(prefix="measure-redis-")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", workdir, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, decode_responses=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        print(json.dumps(measure(client, args.csv, args.traceparent), indent=2))
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
