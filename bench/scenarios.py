"""The scenario registry: name -> function of the :class:`~bench.harness.Context`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import floor
from bench.harness import Context

Scenario = Callable[[Context], dict[str, Any]]

SCENARIOS: dict[str, Scenario] = {
    "floor": floor.run,
}
