"""The consumer side: ``python -m workers`` reads a Redis stream in a consumer group.

Handlers raise :class:`PermanentError` for errors retrying cannot fix (dead-letter now) and
:class:`TransientError` (or any other ``Exception``) for errors worth retrying (retried in
process, then left pending and delivered again after ``--min-idle``; dead-lettered after
``--max-deliveries`` failed deliveries). A :func:`batch_handler` returns ``None`` or exactly
one outcome (``None`` or an exception instance) per event. A :func:`handler_factory` is called
once at start with a :class:`HandlerContext` (the worker's settings) and returns the handler.
"""

from __future__ import annotations

from ingest.codec import Event
from workers.errors import PermanentError, TransientError, WorkerError
from workers.handlers import batch_handler
from workers.loading import HandlerContext, handler_factory

__all__ = [
    "Event",
    "HandlerContext",
    "PermanentError",
    "TransientError",
    "WorkerError",
    "batch_handler",
    "handler_factory",
]
