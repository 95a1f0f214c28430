"""``python -m bench [--quick] [--json] [--scenarios a,b] [--events N]``.

Starts a private ``redis-server`` (persistence off), runs the chosen scenarios in order with
the ``floor`` first and again after every scenario that has an events/s figure (each ratio is
taken against the faster of its two neighbouring floor runs, see :mod:`bench.runner`), prints a
markdown table, and with ``--json`` prints one JSON object with every figure instead (the table
then goes to stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import report
from bench.harness import FULL, QUICK, Context, Sizes, pick
from bench.runner import run_all
from bench.scenarios import SCENARIOS
from tests.redis_server import RedisServer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short version of each scenario")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--events", type=int, help="entries per throughput scenario")
    parser.add_argument("--soak-events", type=int, help="entries through the soak worker")
    parser.add_argument("--latency-seconds", type=float, help="length of the latency run, s")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy profiles of every producer and worker into DIR (pip install py-spy)",
    )
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    """The preset (full or ``--quick``) with any overrides applied."""
    sizes = QUICK if args.quick else FULL
    if args.events:
        sizes = dataclasses.replace(sizes, events=args.events)
    if args.soak_events:
        sizes = dataclasses.replace(
            sizes, soak_events=args.soak_events, soak_checkpoint=max(1, args.soak_events // 10)
        )
    if args.latency_seconds:
        sizes = dataclasses.replace(sizes, latency_s=args.latency_seconds)
    return sizes


def machine(ctx: Context, quick: bool) -> dict[str, Any]:
    """Versions and core count."""
    with ctx.client() as client:
        redis_version = client.info("server")["redis_version"]
    return {
        "quick": quick,
        "redis_version": redis_version,
        "python_version": platform.python_version(),
        "redis_py_version": version("redis"),
        "hiredis_version": version("hiredis"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit code 0, or 2 on a bad argument."""
    args = parse_args(argv)
    try:
        names = pick([n.strip() for n in args.scenarios.split(",") if n.strip()], list(SCENARIOS))
    except ValueError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2
    server = RedisServer()
    server.start()
    try:
        ctx = Context(server=server, sizes=sizes_from(args), profile_dir=args.profile)
        ctx.figures.update(machine(ctx, args.quick))
        run_all(ctx, names)
    finally:
        server.cleanup()
    text = report.table(ctx.figures)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(ctx.figures))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
