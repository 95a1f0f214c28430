"""The consumer side: ``python -m workers`` reads a Redis stream in a consumer group.

Handlers raise :class:`PermanentError` for errors retrying cannot fix (dead-letter now) and
:class:`TransientError` (or any other ``Exception``) for errors worth retrying.
"""

from __future__ import annotations

from ingest.codec import Event
from workers.errors import PermanentError, TransientError, WorkerError
from workers.handlers import batch_handler

__all__ = ["Event", "PermanentError", "TransientError", "WorkerError", "batch_handler"]
