"""Fixtures of the HA tests: producer child processes stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ha.producing import ProducerRun


@pytest.fixture
def produce(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., ProducerRun]]:
    """``produce(url, *args)``: start ``python -m ingest.produce --redis-url URL ARGS`` (text
    logs); every run still going at the end of the test is SIGKILLed."""
    runs: list[ProducerRun] = []

    def start(url: str, *args: str) -> ProducerRun:
        run = ProducerRun(["--redis-url", url, *args], subprocess_env, tmp_path)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()
