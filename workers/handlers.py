"""Giving every kind of handler the same shape: a batch call returning outcomes.

Kinds of handler (``--handler module:callable``):

- a batch handler (preferred, e.g. a sink): an object with ``handle_batch(events)``, or a
  callable marked with :func:`batch_handler`. It takes ``list[Event]`` and returns ``None``
  (all succeeded) or a sequence of exactly ``len(events)`` outcomes, each ``None`` (that
  event succeeded) or an exception instance (that event failed, classified like a raised
  one). Anything else (``[True, True]``, a list of the wrong length, a generator) is a
  handler bug: it is logged at ERROR once per batch and treated like an exception raised
  by the batch. A batch that raises (any exception, :class:`~workers.PermanentError`
  included) or breaks the contract names no culprit, so its events are re-run one by one,
  each with its own retry state; only an error for a single event settles that event.
- a per-event handler: a sync or async callable taking one :class:`~ingest.codec.Event`.

Sync callables run in the worker's thread pool so the event loop stays free (the refresher
keeps held entries from looking idle while a CPU-heavy handler runs). A batch handler is
called once per batch. A per-event handler (sync or async) takes one event per call: the
runner's ``--concurrency`` slots each take one entry from the local queue, so up to
``--concurrency`` calls run at once (sync ones in the thread pool), and each entry is
settled (queued for the coalesced XACK) as soon as its own call returns. An optional
``close()`` on the handler is called at shutdown.

Loading a handler (``--handler``, classes, factories) is :mod:`workers.loading`'s.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import reprlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from ingest.codec import Event
from ingest.errors import ConfigError

Outcomes = list[BaseException | None]
"""Per event of a batch: ``None`` (succeeded) or the exception it raised."""


class BatchContractError(TypeError):
    """A batch handler returned something other than ``None`` or one outcome per event.

    A handler bug: handled like an exception raised by the whole batch (retryable).
    """


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """A batch call that failed as a whole: no outcome can be pinned on any one event.

    Attributes:
        cause: the exception the batch raised, or a :class:`BatchContractError` describing
            what it returned instead of its outcomes.
    """

    cause: BaseException

    @property
    def contract_broken(self) -> bool:
        """True when the handler returned a bad value (rather than raising)."""
        return isinstance(self.cause, BatchContractError)


BatchResult = Outcomes | BatchFailure
"""What :attr:`LoadedHandler.call` returns: one outcome per event, or a whole-batch failure."""

F = TypeVar("F", bound=Callable[..., Any])


def batch_handler(func: F) -> F:
    """Mark ``func`` (sync or async, taking ``list[Event]``) as a batch handler.

    The handler returns ``None`` when every event succeeded, or a sequence of exactly
    ``len(events)`` items, each ``None`` or an exception instance (that event's outcome:
    :class:`~workers.PermanentError` dead-letters it, any other exception is retried).
    Any other return value is a handler bug, logged at ERROR and treated like an
    exception raised by the batch: the events are then re-run one by one.
    """
    func.__ingest_batch__ = True  # type: ignore[attr-defined]
    return func


@dataclass(frozen=True, slots=True)
class LoadedHandler:
    """A handler in the runner's shape.

    Attributes:
        call: ``await call(events)`` -> one outcome per event, or a :class:`BatchFailure`
            when a batch handler raised or broke its return contract; never raises
            ``Exception``.
        batched: True when ``call`` takes many events at once; False for per-event handlers,
            sync or async (the runner then gives each concurrent slot one event at a time).
        name: for logs.
        target: the loaded object (``close()`` is called on it at shutdown when present).
        is_async: the handler's own code runs on the event loop (a timed-out call can be
            cancelled); False when it runs in the thread pool (it can only be abandoned).
    """

    call: Callable[[list[Event]], Awaitable[BatchResult]]
    batched: bool
    name: str
    target: Any
    is_async: bool = False

    def close(self) -> None:
        """Call the handler's ``close()``, if it has one."""
        close = getattr(self.target, "close", None)
        if callable(close):
            close()


def check_outcomes(result: Any, size: int, name: str) -> BatchResult:
    """``result`` of a batch handler called with ``size`` events, as outcomes.

    Returns ``[None] * size`` for ``None``; the items of a sequence of exactly ``size``
    items, each ``None`` or an exception instance; otherwise a :class:`BatchFailure` whose
    :class:`BatchContractError` names the handler ``name`` and what it returned.
    """
    if result is None:
        return [None] * size
    if (
        isinstance(result, Sequence)
        and not isinstance(result, str | bytes | bytearray | Mapping)
        and len(result) == size
        and all(o is None or isinstance(o, BaseException) for o in result)
    ):
        return list(result)
    shown = reprlib.repr(result)
    if isinstance(result, Sequence) and not isinstance(result, str | bytes | bytearray):
        shown += f" ({len(result)} items)"
    return BatchFailure(
        BatchContractError(
            f"batch handler {name} returned {shown} for {size} events: a batch handler "
            f"returns None (all succeeded) or a sequence of exactly {size} items, each None "
            "or an exception instance"
        )
    )


def _is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an object's async __call__ counts too
    )


def _in_thread(executor: Executor, func: Callable[[], Any]) -> Awaitable[Any]:
    # run_in_executor does not carry contextvars (the current span) into the thread.
    ctx = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(executor, ctx.run, func)


def _wrap_batch(
    func: Any, executor: Executor, name: str
) -> Callable[[list[Event]], Awaitable[BatchResult]]:
    is_async = _is_async(func)

    async def call(events: list[Event]) -> BatchResult:
        try:
            if is_async:
                result = await func(events)
            else:
                result = await _in_thread(executor, lambda: func(events))
        except Exception as exc:
            return BatchFailure(exc)
        return check_outcomes(result, len(events), name)

    return call


def _check_takes_one(func: Any, name: str, what: str) -> None:
    """Refuse a callable whose signature cannot take one positional argument."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: accept
        return
    try:
        signature.bind(object())
    except TypeError as exc:
        raise ConfigError(
            f"--handler / INGEST_HANDLER = {name!r}: {what} cannot take one argument "
            f"(the {'list of events' if 'batch' in what else 'event'}): {exc}"
        ) from None


def wrap(target: Any, executor: Executor, name: str = "") -> LoadedHandler:
    """Give ``target`` (a handler object or callable) the runner's shape.

    Raises:
        ConfigError: ``target`` is not callable, or cannot take one event (or one list of
            events, for a batch handler).
    """
    name = name or getattr(target, "__qualname__", type(target).__name__)
    if hasattr(target, "handle_batch"):
        _check_takes_one(target.handle_batch, name, "its handle_batch method")
        call = _wrap_batch(target.handle_batch, executor, name)
        return LoadedHandler(call, True, name, target, _is_async(target.handle_batch))
    if getattr(target, "__ingest_batch__", False):
        _check_takes_one(target, name, "the batch handler")
        return LoadedHandler(
            _wrap_batch(target, executor, name), True, name, target, _is_async(target)
        )
    if not callable(target):
        raise ConfigError(f"--handler / INGEST_HANDLER = {name!r}: not callable")
    _check_takes_one(target, name, "the handler")
    is_async = _is_async(target)
    if is_async:
        invoke: Callable[[Event], Awaitable[Any]] = target
    else:
        # The runner passes one event (batched=False); one thread hop per event, so the
        # pool runs up to --concurrency of them at once.
        async def invoke(event: Event) -> Any:
            return await _in_thread(executor, functools.partial(target, event))

    async def call_each(events: list[Event]) -> BatchResult:
        outcomes: Outcomes = []
        for event in events:
            try:
                await invoke(event)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    return LoadedHandler(call_each, False, name, target, is_async)
