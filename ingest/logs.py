"""Logging set-up for the CLIs (standard ``logging``). Library modules only get loggers.

STUB: the observability work replaces the body (JSON lines off a terminal, readable lines on
one, redaction, rate-limited repeats); the signature stays.
"""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Configure the root logger for a CLI process at ``level`` (``DEBUG``, ``INFO``, ...)."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
