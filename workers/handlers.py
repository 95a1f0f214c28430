"""Loading a handler and giving every kind the same shape: a batch call returning outcomes.

Kinds of handler (``--handler module:callable``):

- a batch handler (preferred, e.g. a sink): an object with ``handle_batch(events)``, or a
  callable marked with :func:`batch_handler`. It takes ``list[Event]`` and returns ``None``
  (all succeeded) or one outcome per event (``None`` or the exception for that event);
  raising fails the whole batch (each event is then retried on its own).
- a per-event handler: a sync or async callable taking one :class:`~ingest.codec.Event`.

Sync callables run in the worker's thread pool so the event loop stays free (the refresher
keeps held entries from looking idle while a CPU-heavy handler runs). A batch handler is
called once per batch. A per-event handler (sync or async) takes one event per call: the
runner's ``--concurrency`` slots each take one entry from the local queue, so up to
``--concurrency`` calls run at once (sync ones in the thread pool), and each entry is
settled (queued for the coalesced XACK) as soon as its own call returns. A class is
instantiated without arguments. An optional ``close()`` on the handler is called at
shutdown.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from ingest.codec import Event
from ingest.errors import ConfigError

Outcomes = list[BaseException | None]
"""Per event of a batch: ``None`` (succeeded) or the exception it raised."""

F = TypeVar("F", bound=Callable[..., Any])


def batch_handler(func: F) -> F:
    """Mark ``func`` (sync or async, taking ``list[Event]``) as a batch handler."""
    func.__ingest_batch__ = True  # type: ignore[attr-defined]
    return func


@dataclass(frozen=True, slots=True)
class LoadedHandler:
    """A handler in the runner's shape.

    Attributes:
        call: ``await call(events)`` -> one outcome per event; never raises ``Exception``.
        batched: True when ``call`` takes many events at once; False for per-event handlers,
            sync or async (the runner then gives each concurrent slot one event at a time).
        name: for logs.
        target: the loaded object (``close()`` is called on it at shutdown when present).
    """

    call: Callable[[list[Event]], Awaitable[Outcomes]]
    batched: bool
    name: str
    target: Any

    def close(self) -> None:
        """Call the handler's ``close()``, if it has one."""
        close = getattr(self.target, "close", None)
        if callable(close):
            close()


def _outcomes(result: Any, size: int) -> Outcomes:
    if result is None:
        return [None] * size
    outcomes = list(result)
    if len(outcomes) != size:
        error = RuntimeError(f"batch handler returned {len(outcomes)} outcomes for {size} events")
        return [error] * size
    return outcomes


def _is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an object's async __call__ counts too
    )


def _in_thread(executor: Executor, func: Callable[[], Any]) -> Awaitable[Any]:
    # run_in_executor does not carry contextvars (the current span) into the thread.
    ctx = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(executor, ctx.run, func)


def _wrap_batch(func: Any, executor: Executor) -> Callable[[list[Event]], Awaitable[Outcomes]]:
    is_async = _is_async(func)

    async def call(events: list[Event]) -> Outcomes:
        try:
            if is_async:
                result = await func(events)
            else:
                result = await _in_thread(executor, lambda: func(events))
        except Exception as exc:
            return [exc] * len(events)
        return _outcomes(result, len(events))

    return call


def wrap(target: Any, executor: Executor, name: str = "") -> LoadedHandler:
    """Give ``target`` (a handler object or callable) the runner's shape."""
    name = name or getattr(target, "__qualname__", type(target).__name__)
    if hasattr(target, "handle_batch"):
        return LoadedHandler(_wrap_batch(target.handle_batch, executor), True, name, target)
    if getattr(target, "__ingest_batch__", False):
        return LoadedHandler(_wrap_batch(target, executor), True, name, target)
    if not callable(target):
        raise ConfigError(f"--handler / INGEST_HANDLER = {name!r}: not callable")
    if _is_async(target):

        async def call_one(events: list[Event]) -> Outcomes:
            outcomes: Outcomes = []
            for event in events:
                try:
                    await target(event)
                except Exception as exc:
                    outcomes.append(exc)
                else:
                    outcomes.append(None)
            return outcomes

        return LoadedHandler(call_one, False, name, target)

    async def call_sync(events: list[Event]) -> Outcomes:
        # The runner passes one event (batched=False); one thread hop per event, so the
        # pool runs up to --concurrency of them at once.
        outcomes: Outcomes = []
        for event in events:
            try:
                await _in_thread(executor, functools.partial(target, event))
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    return LoadedHandler(call_sync, False, name, target)


def load(ref: str, executor: Executor) -> LoadedHandler:
    """Import ``module:attribute`` and :func:`wrap` it (a class is instantiated first).

    Raises:
        ConfigError: the module or attribute cannot be found, naming ``--handler``.
    """
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
        target = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--handler / INGEST_HANDLER = {ref!r}: {exc}") from None
    if inspect.isclass(target):
        target = target()
    return wrap(target, executor, ref)
