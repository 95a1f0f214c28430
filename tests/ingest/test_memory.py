"""The producer reads a 200 MB line with bounded memory (real redis-server, child processes).

Peak RSS (``ru_maxrss`` of the child, from ``os.wait4``) of ``python -m ingest.produce`` on an
input holding one 200 MB line stays within a few MB of the same run without it: the line is
skipped as it streams past, never held whole. (Reading it whole took about 1 GB.)
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

HUGE_MB = 200


def write_input(path: Path, huge: bool) -> None:
    chunk = b"x" * (1024 * 1024)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b'{"n": 1}\n')
        if huge:
            out.write(b'{"blob": "')
            for _ in range(HUGE_MB):
                out.write(chunk)
            out.write(b'"}\n')
        out.write(b'{"n": 3}\n')


def peak_rss_kb(path: Path, redis_url: str, env: dict[str, str]) -> tuple[int, int, dict[str, int]]:
    """Exit code, peak RSS (KiB) and summary of one producer child on ``path``."""
    argv = [sys.executable, "-m", "ingest.produce", "--input", str(path), "--redis-url", redis_url]
    with open(path.with_suffix(".err"), "wb") as err:
        proc = subprocess.Popen(
            [*argv, "--log-level", "WARNING"], env=env, stdout=subprocess.PIPE, stderr=err
        )
        assert proc.stdout is not None
        with proc.stdout:
            out = proc.stdout.read()
    # os.wait4 rather than proc.wait(): it also returns the child's resource usage.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(out.decode().strip().splitlines()[-1])
    return proc.returncode, usage.ru_maxrss, report


def test_a_200_mb_line_costs_no_more_memory_than_a_normal_run(tmp_path, redis_url, subprocess_env):
    small, big = tmp_path / "small.jsonl.gz", tmp_path / "big.jsonl.gz"
    write_input(small, huge=False)
    write_input(big, huge=True)
    # When: both are produced by child processes
    small_code, small_kb, small_report = peak_rss_kb(small, redis_url, subprocess_env)
    big_code, big_kb, big_report = peak_rss_kb(big, redis_url, subprocess_env)
    # Then: the huge line is one reject, the others land, and the peak RSS barely moves
    assert (small_code, small_report["produced"], small_report["rejected"]) == (0, 2, 0)
    assert (big_code, big_report["produced"], big_report["rejected"]) == (1, 2, 1)
    grown_mb = (big_kb - small_kb) / 1024
    print(f"peak RSS: {small_kb / 1024:.1f} MB normal, {big_kb / 1024:.1f} MB with the line")
    assert grown_mb < 5, f"peak RSS grew by {grown_mb:.1f} MB for a {HUGE_MB} MB line"
