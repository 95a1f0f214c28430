"""scripts/demo.py end to end on a small file: readable output, one labelled JSON summary; on a
shared server it stays out of the pipeline's stream and group and removes its keys; a deadline
and Ctrl-C stop it cleanly (workers and its Redis stopped, a summary of what was done)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import ROOT
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

DEMO = ROOT / "scripts" / "demo.py"
LABEL = "summary (JSON): "


def _command(tmp_path: Path, *extra: str) -> list[str]:
    data = tmp_path / "small.csv"
    data.write_text("time,temp\n2024-01-01,10.5\n2024-01-02,11.0\n2024-01-03,11.5\n")
    command = [sys.executable, str(DEMO), "--input", str(data), "--workers", "1"]
    return [*command, "--sink", str(tmp_path / "demo.db"), *extra]


def _summary(stdout: str) -> dict[str, Any]:
    last = stdout.splitlines()[-1]
    assert last.startswith(LABEL), stdout
    summary: dict[str, Any] = json.loads(last.removeprefix(LABEL))
    return summary


def _private_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in subprocess_env.items() if k != "INGEST_REDIS_URL"}


def test_demo_prints_its_lines_and_a_labelled_summary_without_log_records(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = _private_env(subprocess_env)
    result = subprocess.run(_command(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # No log record (JSON or text) among the demo's own lines
    assert "loaded admission library" not in result.stdout + result.stderr
    assert not any(line.lstrip().startswith("{") for line in lines), result.stdout
    assert re.fullmatch(
        r"demo: Redis redis://127\.0\.0\.1:\d+/0 \(private\), stream demo:[0-9a-f]{6}:events, "
        r"group demo, sink .*demo\.db",
        lines[0],
    )
    assert lines[1] == f"demo: 1 worker started; its log is in {ROOT}/run/demo-worker-1.log"
    assert "  events produced         3" in lines
    summary = _summary(result.stdout)
    assert summary["events_produced"] == 3
    assert summary["rows_inserted_this_run"] == 3
    assert summary["worker_exit_codes"] == [0]
    assert "stopped" not in summary


def _pipeline_state(client: redis.Redis) -> dict[str, Any]:
    """What the demo must leave alone on a shared server: every key, the pipeline's stream
    and its group."""
    return {
        "keys": sorted(client.keys("*")),
        "xlen": client.xlen("ingest:events"),
        "groups": client.xinfo_groups("ingest:events"),
        "pending": client.xpending("ingest:events", "workers"),
    }


def test_on_a_shared_server_the_demo_uses_its_own_stream_and_removes_its_keys(
    tmp_path: Path, subprocess_env: dict[str, str], redis_url: str, client: redis.Redis
) -> None:
    # Given: a shared server with a pipeline's stream and a group holding a backlog, and the
    # pipeline's own stream and group names in the environment
    for n in range(5):
        client.xadd("ingest:events", {"n": str(n)})
    client.xgroup_create("ingest:events", "workers", id="0")
    client.xreadgroup("workers", "w1", {"ingest:events": ">"}, count=2)
    before = _pipeline_state(client)
    env = dict(subprocess_env, INGEST_REDIS_URL=redis_url)
    env.update(INGEST_STREAM="ingest:events", INGEST_GROUP="workers")
    # When: the demo runs against it
    result = subprocess.run(_command(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    # Then: it did its job on a stream of its own, and left the pipeline as it found it
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(shared: its keys are removed at the end)" in result.stdout.splitlines()[0]
    assert re.search(
        r"demo: removed its \d+ keys \(demo:[0-9a-f]{6}:events, \.\.\.\)", result.stdout
    )
    summary = _summary(result.stdout)
    assert (summary["events_produced"], summary["rows_inserted_this_run"]) == (3, 3)
    assert _pipeline_state(client) == before


def _run_id(first_line: str) -> str:
    match = re.search(r"stream demo:([0-9a-f]{6}):events", first_line)
    assert match, first_line
    return match.group(1)


def _processes_of(run_id: str) -> list[str]:
    """Command lines of live processes that belong to demo run ``run_id`` (its workers)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"demo-{run_id}-" in cmdline:
            found.append(cmdline)
    return found


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _slow_demo(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    """The demo with a handler that hangs (60 s per event) and workers that stop within
    0.5 s of SIGTERM; returns once a handler has started."""
    mark = tmp_path / "handler-started"
    env = dict(env, INGEST_HANDLER="tests.deploy.slow_handler:handle")
    env.update(SLOW_HANDLER_MARK=str(mark), SLOW_HANDLER_S="60", INGEST_SHUTDOWN_TIMEOUT="0.5")
    demo = subprocess.Popen(
        _command(tmp_path, *extra), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for(mark.exists, timeout_s=30, what="a handler to start")
    return demo


def test_ctrl_c_stops_workers_and_redis_and_prints_what_was_done(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    # Given: a demo waiting on a handler that hangs
    demo = _slow_demo(tmp_path, _private_env(subprocess_env))
    # When: Ctrl-C reaches it (the terminal sends SIGINT to the demo's process group; its
    # children run in sessions of their own)
    demo.send_signal(signal.SIGINT)
    out, err = demo.communicate(timeout=60)
    # Then: exit 130 with a summary of what was done, no worker left, its Redis stopped
    assert demo.returncode == 130, out + err
    assert "demo: interrupted; stopping the producer and the workers" in out
    summary = _summary(out)
    assert summary["stopped"] == "interrupted"
    assert summary["events_produced"] == 3
    assert summary["worker_exit_codes"] == [0]
    first = out.splitlines()[0]
    assert _processes_of(_run_id(first)) == []
    port = int(re.search(r"127\.0\.0\.1:(\d+)/0", first).group(1))  # type: ignore[union-attr]
    assert _refuses(port)
    assert "Traceback" not in err


def test_deadline_ends_the_demo_cleanly_and_removes_its_keys_from_a_shared_server(
    tmp_path: Path, subprocess_env: dict[str, str], redis_url: str, client: redis.Redis
) -> None:
    # Given: a demo on a shared server whose handler hangs, with a 6 s deadline
    env = dict(subprocess_env, INGEST_REDIS_URL=redis_url)
    demo = _slow_demo(tmp_path, env, "--timeout", "6")
    # When: the deadline passes
    out, err = demo.communicate(timeout=60)
    # Then: it said how far it got while it waited; exit 3, "timed out" in the summary, its
    # workers gone, no key of its own left
    assert demo.returncode == 3, out + err
    progress = r"demo: \d+ s: 3 events in the stream, backlog \d+, 0 rows inserted"
    assert re.search(progress, out), out
    assert "demo: gave up after" in out
    summary = _summary(out)
    assert summary["stopped"].startswith("timed out after")
    assert _processes_of(_run_id(out.splitlines()[0])) == []
    assert client.keys("*") == []
