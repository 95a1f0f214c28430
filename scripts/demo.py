"""The main job end to end: the bundled buoy CSV -> capped stream -> 2 workers -> SQLite.

Run by ./demo.sh. Starts a private redis-server unless INGEST_REDIS_URL is set. Either way
the demo uses a stream and consumer group of its own (stream demo:<run id>:events, group
demo; INGEST_STREAM and INGEST_GROUP are not used), so it never mixes its events into a
pipeline on a shared server. Starts two worker processes, produces the file, waits until the
group's backlog is 0 (printing progress every few seconds), stops the workers with SIGTERM,
prints what happened (a table, then the same as one line "summary (JSON): {...}"), removes its
keys from a shared server (unless --keep) and stops its private Redis.

It gives up after --timeout seconds (exit 3). Ctrl-C (or SIGTERM) stops it cleanly: the
producer finishes its batch, the workers drain, its keys and Redis are cleaned up and the
summary says what was done (exit 130, or 143). A second Ctrl-C kills what is still running.
The producer runs with --log-level WARNING so its log lines do not interleave with the demo's.
The sink (./demo.db by default, --sink to change) persists across runs: a second run inserts
nothing and reports every event as a duplicate.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_run import DemoRun, Interrupted  # noqa: E402

EXIT_TIMED_OUT = 3


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line (plain-text help)."""
    parser = argparse.ArgumentParser(
        prog="./demo.sh",
        description=(
            "The main job end to end: the bundled buoy CSV -> a capped stream of its own -> "
            "workers -> SQLite, with a summary at the end. Uses INGEST_REDIS_URL when set "
            "(its own stream and group there, removed at the end), else a private redis-server."
        ),
        epilog="exit codes: 0 done, 1 a worker or the producer failed, 3 --timeout passed, "
        "130/143 stopped by Ctrl-C/SIGTERM (the summary says what was done)",
    )
    parser.add_argument(
        "--input",
        default=str(ROOT / "data" / "sea_surface_temperature.csv.gz"),
        help="file to produce (default: the bundled buoy recording)",
    )
    parser.add_argument("--sink", default=str(ROOT / "demo.db"), help="SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="give up after this many seconds, stopping everything cleanly (default 300)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="on a shared server (INGEST_REDIS_URL), keep the demo's stream and keys",
    )
    return parser


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code (see ``build_parser``'s epilog)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: must be at least 1")
    if not args.timeout > 0:
        parser.error(f"--timeout {args.timeout:g}: must be above 0 seconds")
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    run = DemoRun(
        root=ROOT,
        input_path=args.input,
        sink=Path(args.sink).resolve(),
        workers=args.workers,
        deadline=time.monotonic() + args.timeout,
        run_id=secrets.token_hex(3),
        shared_url=os.environ.get("INGEST_REDIS_URL") or None,
        keep=args.keep,
    )
    stopped: str | None = None
    code = 0
    try:
        run.start()
        stopped, code = run.produce_and_drain()
    except Interrupted as exc:
        stopped, code = "interrupted", exc.code
        print("demo: interrupted; stopping the producer and the workers", flush=True)
    finally:
        # A second Ctrl-C while stopping: kill what is left instead of waiting for it.
        signal.signal(signal.SIGINT, lambda *_: run.hurry())
        signal.signal(signal.SIGTERM, lambda *_: run.hurry())
        result = run.stop_and_count(stopped)
    run.print_summary(result)
    if code == 0 and any(c != 0 for c in result["worker_exit_codes"]):
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
