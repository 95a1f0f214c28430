"""The benchmark harness still runs end to end (tiny sizes; figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TINY = ["--quick", "--json", "--events", "300", "--soak-events", "1000", "--latency-seconds", "0.5"]
RATES = [
    "floor",
    "e2e_noop",
    "e2e_sqlite",
    "e2e_traced",
    "e2e_traced_batch",
    "scale_1",
    "scale_2",
    "scale_4",
    "soak",
]


@pytest.mark.slow
def test_quick_run_at_tiny_size_reports_every_figure(subprocess_env):
    # When: every scenario runs at a few hundred events
    done = subprocess.run(
        [sys.executable, "-m", "bench", *TINY],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    # Then: one JSON object with the machine, every rate, every ratio to floor, all positive
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["cores"] >= 1
    assert figures["redis_version"].count(".") == 2
    assert figures["python_version"].startswith("3.")
    for prefix in RATES:
        assert figures[f"{prefix}_events_per_s"] > 0, prefix
        if prefix != "floor":
            assert figures[f"{prefix}_ratio"] > 0, prefix
            assert figures[f"{prefix}_cpu_ratio"] > 0, prefix
            assert figures[f"{prefix}_floor_baseline"] in figures["floor_runs"], prefix
            assert figures[f"{prefix}_acked"] == figures[f"{prefix}_events"], prefix
    # A floor run first and after each of the six rated scenarios; the best is the floor
    assert len(figures["floor_runs"]) == 7
    assert figures["floor_events_per_s"] == max(figures["floor_runs"])
    assert figures["e2e_sqlite_inserted"] == 300
    assert figures["e2e_traced_otlp_trace_requests"] > 0
    assert figures["e2e_traced_batch_otlp_trace_requests"] > 0
    assert figures["e2e_traced_otlp_trace_bytes"] > 0
    assert figures["latency_events"] == 1000
    assert figures["recovery_entries"] > 0
    assert 0 < figures["recovery_taken_over_s"] <= figures["recovery_handled_s"]
    for batch in (500, 50):
        assert figures[f"durable_vs_plain_ratio_{batch}"] > 0
        assert figures[f"durable_wait_eps_{batch}"] > 0
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p99_ms"] <= figures["latency_max_ms"]
    assert figures["soak_rss_first_mb"] > 0
    assert figures["soak_rss_last_mb"] > 0
    assert figures["admission_vs_plain_ratio"] > 0
    # The markdown table went to stderr, a row per scenario
    assert "| e2e-noop |" in done.stderr
    assert "| latency |" in done.stderr


def test_unknown_scenario_is_a_usage_error(subprocess_env):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scenarios", "floor,nope"],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 2
    assert "unknown scenario(s) nope" in done.stderr
