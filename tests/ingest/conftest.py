"""Fixtures and set-up of the producer-side tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis caches (constants, examples) go to a temporary directory removed at the end, not to
# a .hypothesis/ of the repository: it writes them while collecting, before any fixture runs.
_HYPOTHESIS_HOME = Path(tempfile.mkdtemp(prefix="ingest-hypothesis-"))
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the Hypothesis caches."""
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)
