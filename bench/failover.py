"""``python -m bench.failover``: what a Sentinel failover loses, with and without durable produce.

For each fault and producer setting it starts a fresh primary with two replicas and three
sentinels (``tests/sentinel.py``, loopback), runs ``python -m ingest.produce --synthetic N``
through a ``redis+sentinel://`` URL at ``--rate`` events/s, strikes once the stream holds
``N / 8`` entries, lets the run finish, and counts: events the producer reported produced,
events in the stream on the new primary, lost (produced but not there), duplicates. Faults:

* ``kill``: the primary SIGKILLed, a replica promoted;
* ``promote``: ``SENTINEL FAILOVER``, a replica promoted while the old primary lives and takes
  writes until the sentinels demote it (a partition looks the same to the producer).

Prints a markdown table (the README's), and with ``--json`` one JSON object per row. About
two minutes at the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ingest.streams import parse_entries
from tests.ha.producing import ProducerRun
from tests.helpers import wait_for
from tests.redis_server import command
from tests.sentinel import SentinelDeployment

ROOT = Path(__file__).resolve().parent.parent
STREAM = "ingest:events"
SETTINGS = {
    "without": [],
    "min-replicas 1": ["--min-replicas", "1", "--replica-timeout", "30"],
    "min-replicas 2": ["--min-replicas", "2", "--replica-timeout", "30"],
}


def _strike(deployment: SentinelDeployment, fault: str) -> None:
    old = deployment.current_primary()
    if fault == "kill":
        deployment.kill_primary()
    else:
        with deployment.sentinel_nodes[0].client() as sentinel:
            command(sentinel, "SENTINEL", "FAILOVER", deployment.service)
    deployment.wait_for_promotion(old)


def run_once(fault: str, setting: str, events: int, rate: int) -> dict[str, Any]:
    """One fault under one producer setting; the row's figures."""
    deployment = SentinelDeployment(replicas=2)
    deployment.start()
    try:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in deployment.sentinel_nodes)
        url = f"redis+sentinel://{hosts}/{deployment.service}/0"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = ["--redis-url", url, "--synthetic", str(events), "--batch-size", "50"]
        args += ["--rate", str(rate), "--connect-timeout", "60", *SETTINGS[setting]]
        producer = ProducerRun(args, env, ROOT)
        with deployment.current_primary().client(decode_responses=True) as first:
            wait_for(lambda: first.xlen(STREAM) >= events // 8, 60, what="the run under way")
        _strike(deployment, fault)
        done = producer.finish(timeout_s=600)
        with deployment.current_primary().client(decode_responses=True) as check:
            entries = parse_entries(check.xrange(STREAM))
        ids = Counter(e.fields["event_id"] for e in entries if e.fields)
    finally:
        deployment.stop()
    produced = done.summary["produced"] if done.summary else 0
    return {
        "fault": fault,
        "setting": setting,
        "exit_code": done.code,
        "produced": produced,
        "in_stream": len(ids),
        "lost": max(0, produced - len(ids)),
        "duplicates": sum(n - 1 for n in ids.values()),
        "failovers": done.summary["failovers"] if done.summary else None,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    head = "| fault | producer | exit | produced | in stream | lost | duplicates | failovers |"
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['fault']} | {r['setting']} | {r['exit_code']} | {r['produced']:,} | "
            f"{r['in_stream']:,} | {r['lost']:,} | {r['duplicates']:,} | {r['failovers']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every fault under every setting; print the table (or JSON lines)."""
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--events", type=int, default=12_000)
    parser.add_argument("--rate", type=int, default=800, help="events/s offered")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    rows = [
        run_once(fault, setting, args.events, args.rate)
        for fault in ("kill", "promote")
        for setting in SETTINGS
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
