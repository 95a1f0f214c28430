"""Fixtures of the observability tests: a local OTLP receiver, a clean root logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.observability.otlp import OtlpReceiver


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A running OTLP/HTTP receiver on a free loopback port."""
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level back after a test configured logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
