"""Integration fixtures: no worker subprocess outlives its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workers.util import kill_leftovers


@pytest.fixture(autouse=True)
def _reap_workers() -> Iterator[None]:
    yield
    kill_leftovers()
