"""python -m ingest.stats shows the cap the producer recorded, and --count implies --watch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest import produce, stats

pytestmark = pytest.mark.usefixtures("restore_logging")


def stats_json(capsys, redis_url: str, *extra: str) -> list[dict[str, Any]]:
    code = stats.main(["--json", "--interval", "0", *extra], {"INGEST_REDIS_URL": redis_url})
    out = capsys.readouterr()
    assert code == 0, out.err
    return [json.loads(line) for line in out.out.splitlines()]


def test_cap_is_the_producers_not_the_stats_default(redis_url, capsys, monkeypatch):
    # Given: a producer that ran with --maxlen 1000
    argv = ["--synthetic", "5", "--maxlen", "1000", "--high-water", "600"]
    assert produce.main([*argv, "--redis-url", redis_url], {}) == 0
    capsys.readouterr()
    # When stats looks, with its own default and with another --maxlen
    [report] = stats_json(capsys, redis_url)
    [explicit] = stats_json(capsys, redis_url, "--maxlen", "5000")
    # Then: the producer's cap, said to be the producer's
    for shown in (report, explicit):
        assert (shown["cap"], shown["cap_source"]) == (1000, "producer")
        settings = shown["producer_settings"]
        assert (settings["maxlen"], settings["high_water"], settings["low_water"]) == (
            1000,
            600,
            480,
        )
        assert settings["no_group"] == "block"
    monkeypatch.setenv("COLUMNS", "200")
    assert stats.main(["--interval", "0"], {"INGEST_REDIS_URL": redis_url}) == 0
    table = capsys.readouterr().out
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in table.splitlines()]
    assert ["5", "1,000"] in [row[:2] for row in rows]  # XLEN, cap
    assert "recorded by the producer" in table


def test_without_a_recorded_cap_the_option_is_shown_as_such(client, redis_url, capsys):
    client.xadd("ingest:events", {"n": "1"})
    [report] = stats_json(capsys, redis_url, "--maxlen", "5000")
    assert (report["cap"], report["cap_source"], report["producer_settings"]) == (
        5000,
        "option",
        None,
    )


def test_count_without_watch_prints_that_many_snapshots(client, redis_url, capsys):
    client.xadd("ingest:events", {"n": "1"})
    reports = stats_json(capsys, redis_url, "--count", "2")
    assert len(reports) == 2
    assert all(r["length"] == 1 for r in reports)
