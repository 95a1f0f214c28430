"""OpenTelemetry SDK set-up for the CLIs, from the standard ``OTEL_*`` variables only.

STUB: the observability work replaces the body; the signature stays. Library code never calls
this; only CLIs do, after any fork.
"""

from __future__ import annotations

from collections.abc import Callable


def configure_otel(default_service_name: str) -> Callable[[], None]:
    """Install global tracer/meter providers per ``OTEL_*``; return a flush-and-shutdown callable.

    ``default_service_name`` is used when ``OTEL_SERVICE_NAME`` is unset.
    """

    def shutdown() -> None:
        return None

    return shutdown
