"""Entries over the size limit never reach the worker's memory: ten 20 MB entries leave its
peak RSS within a few MB of a run of ten small ones (``ru_maxrss`` of the worker process,
read by a wrapper process that ran only the worker). Today's failure: 544 MB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.workers.hostile import good_fields, raw_client, xadd
from tests.workers.util import dead_letters, worker_cmd

pytestmark = pytest.mark.slow

WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _peak_rss_kb(url: str, env: dict[str, str], db: Path) -> tuple[int, int]:
    cmd = worker_cmd(url, "--burst", "--sink", f"sqlite:///{db}")
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd], env=env, capture_output=True, text=True, timeout=120
    )
    code, rss = out.stdout.split()
    return int(code), int(rss)


def test_ten_twenty_megabyte_entries_stay_out_of_the_workers_memory(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given: a baseline run over ten small entries
    raw = raw_client(redis_url)
    for i in range(10):
        xadd(raw, good_fields(f"small{i}"))
    code, normal_kb = _peak_rss_kb(redis_url, subprocess_env, tmp_path / "a.db")
    assert code == 0
    client.flushall()

    # When: ten entries of 20 MB each (and two good ones) are consumed
    big = b'"' + b"x" * (20 * 1024 * 1024) + b'"'
    xadd(raw, good_fields("first"))
    for i in range(10):
        xadd(raw, [(k, big if k == b"data" else v) for k, v in good_fields(f"big{i}")])
    xadd(raw, good_fields("last"))
    raw.close()
    code, big_kb = _peak_rss_kb(redis_url, subprocess_env, tmp_path / "b.db")

    # Then: all ten are dead-lettered too_large, and the peak RSS stayed within 15 MB of the
    # baseline (one 20 MB entry read whole would exceed it)
    assert code == 0
    reasons = [fields["dead_reason"] for _, fields in dead_letters(client)]
    assert reasons == ["too_large"] * 10
    assert big_kb - normal_kb < 15 * 1024, (normal_kb, big_kb)
    print(f"peak RSS: {normal_kb} KB small, {big_kb} KB big")
