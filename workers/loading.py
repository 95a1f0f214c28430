"""Loading the handler ``--handler module:attribute`` names, checked at start.

What ``--handler module:attribute`` may name:

- a handler (a callable, or an object with ``handle_batch``);
- a class, instantiated once without arguments;
- a factory marked with :func:`handler_factory`, called once with a :class:`HandlerContext`
  (the worker's settings, among others) and returning a handler: the way to configure one.

Anything that cannot be loaded (an import error, a constructor that needs arguments, a factory
that fails, a callable that cannot take one event) is a :class:`~ingest.errors.ConfigError`
at start naming ``--handler``, never a failure on every event.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from ingest.errors import ConfigError
from workers.handlers import LoadedHandler, wrap

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a :func:`handler_factory` is called with, once at start.

    Attributes:
        settings: the worker's settings (``workers.settings.WorkerSettings``: stream, group,
            consumer, concurrency, ...).
        executor: the worker's thread pool (where sync handlers run).
    """

    settings: Any
    executor: Executor


def handler_factory(func: F) -> F:
    """Mark ``func`` as a handler factory: ``--handler module:func`` calls it once at start
    with a :class:`HandlerContext` and uses what it returns as the handler (a callable, a batch
    handler, or an object with ``handle_batch``)."""
    func.__ingest_factory__ = True  # type: ignore[attr-defined]
    return func


def _import(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--handler / INGEST_HANDLER = {ref!r}: {exc}") from None
    except Exception as exc:  # the module itself failed while importing
        raise ConfigError(
            f"--handler / INGEST_HANDLER = {ref!r}: importing it failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def load(ref: str, executor: Executor, context: HandlerContext | None = None) -> LoadedHandler:
    """Import ``module:attribute`` and :func:`wrap` it: a class is instantiated first without
    arguments, a :func:`handler_factory` called with ``context``.

    Raises:
        ConfigError: naming ``--handler``: the module or attribute cannot be found or fails
            to import; the class needs arguments or its constructor fails; the factory
            fails; what results cannot take one event.
    """
    target = _import(ref)
    make: Any = None
    args: tuple[Any, ...] = ()
    if inspect.isclass(target):
        make, args = target, ()
    elif getattr(target, "__ingest_factory__", False):
        make, args = target, (context or HandlerContext(None, executor),)
    if make is not None:
        try:
            target = make(*args)
        except Exception as exc:
            what = "the class" if inspect.isclass(make) else "the factory"
            raise ConfigError(
                f"--handler / INGEST_HANDLER = {ref!r}: {what} failed: {type(exc).__name__}: {exc}"
            ) from None
    return wrap(target, executor, ref)
