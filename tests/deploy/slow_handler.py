"""A handler for worker subprocess tests: marks that it started, then awaits a long time.

``INGEST_HANDLER=tests.deploy.slow_handler:handle``; ``SLOW_HANDLER_MARK`` names a file touched
when a call starts; ``SLOW_HANDLER_S`` is how long each call takes (default 60 s). Async, so a
shutdown can cancel it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ingest.codec import Event


async def handle(event: Event) -> None:
    """Touch the mark file, then sleep ``SLOW_HANDLER_S`` seconds."""
    await asyncio.to_thread(Path(os.environ["SLOW_HANDLER_MARK"]).touch)
    await asyncio.sleep(float(os.environ.get("SLOW_HANDLER_S", "60")))
