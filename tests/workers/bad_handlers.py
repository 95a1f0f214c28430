"""Handlers that cannot be loaded (and one factory that can), for the start-up checks."""

from __future__ import annotations

from typing import Any

from ingest.codec import Event
from workers.loading import HandlerContext, handler_factory

NOT_CALLABLE = 42


class NeedsArguments:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def __call__(self, event: Event) -> None:
        return None


def no_arguments() -> None:
    return None


def two_arguments(event: Event, other: Any) -> None:
    return None


class BatchWithoutArgument:
    def handle_batch(self) -> None:
        return None


@handler_factory
def failing_factory(context: HandlerContext) -> Any:
    raise ValueError("no DSN configured")


class _Configured:
    def __init__(self, stream: str) -> None:
        self.stream = stream

    def handle_batch(self, events: list[Event]) -> None:
        return None


@handler_factory
def make_handler(context: HandlerContext) -> Any:
    """Called once with the worker's settings: configure the handler from them."""
    return _Configured(context.settings.stream)
