"""scripts/demo.py end to end on a small file: readable output, one labelled JSON summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

DEMO = ROOT / "scripts" / "demo.py"
LABEL = "summary (JSON): "


def test_demo_prints_its_lines_and_a_labelled_summary_without_log_records(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    data = tmp_path / "small.csv"
    data.write_text("time,temp\n2024-01-01,10.5\n2024-01-02,11.0\n2024-01-03,11.5\n")
    env = {k: v for k, v in subprocess_env.items() if k != "INGEST_REDIS_URL"}
    command = [sys.executable, str(DEMO), "--input", str(data), "--workers", "1"]
    command += ["--sink", str(tmp_path / "demo.db")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # No log record (JSON or text) among the demo's own lines
    assert "loaded admission library" not in result.stdout + result.stderr
    assert not any(line.lstrip().startswith("{") for line in lines), result.stdout
    assert lines[1] == f"demo: 1 worker started; its log is in {ROOT}/run/demo-worker-1.log"
    assert "  events produced         3" in lines
    assert lines[-1].startswith(LABEL)
    summary = json.loads(lines[-1].removeprefix(LABEL))
    assert summary["events_produced"] == 3
    assert summary["rows_inserted_this_run"] == 3
    assert summary["worker_exit_codes"] == [0]
