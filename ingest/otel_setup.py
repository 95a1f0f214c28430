"""OpenTelemetry SDK set-up for the CLIs, from the standard ``OTEL_*`` variables only.

Library code never calls this; only CLIs do, once, in the process that does the work (after
any fork: the SDK's batch processor and periodic reader run background threads, which a fork
does not copy).

Which variables do what (the SDK and the OTLP exporters read most of them themselves):

==========================================  ===================================================
``OTEL_SERVICE_NAME``                       service name in Jaeger; default: the CLI's own
                                            (``ingest-producer``, ``ingest-worker``)
``OTEL_RESOURCE_ATTRIBUTES``                extra resource attributes (``k=v,k2=v2``)
``OTEL_TRACES_EXPORTER``                    ``otlp``, ``console`` (stderr), ``none``, or a
                                            comma list. **Default: ``otlp`` when an OTLP
                                            endpoint variable is set, else ``none``** (the
                                            spec's default is ``otlp``; we do not send spans
                                            to a collector nobody configured)
``OTEL_METRICS_EXPORTER``                   ``otlp``, ``console``, ``prometheus``, ``none``;
                                            same default rule. ``prometheus`` adds nothing
                                            here: the worker serves ``/metrics`` on
                                            ``--http-port`` whenever that is set
``OTEL_EXPORTER_OTLP_ENDPOINT``             e.g. ``http://jaeger:4318`` (http) or
                                            ``http://jaeger:4317`` (grpc); per-signal
                                            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` too
``OTEL_EXPORTER_OTLP_PROTOCOL``             ``http/protobuf`` (default) or ``grpc`` (needs the
                                            ``grpc`` extra: ``pip install 'redis-ingest[grpc]'``)
``OTEL_EXPORTER_OTLP_HEADERS``, ``_TIMEOUT``, ``_COMPRESSION``, ``_CERTIFICATE``: read by the
                                            exporter
``OTEL_TRACES_SAMPLER``, ``_ARG``           e.g. ``parentbased_traceidratio`` and ``0.1``;
                                            read by the SDK's ``TracerProvider``
``OTEL_BSP_*``                              batch span processor queue, batch size, delay
``OTEL_METRIC_EXPORT_INTERVAL``             OTLP/console metric export period, ms (60000)
``OTEL_PROPAGATORS``                        default ``tracecontext,baggage``
``OTEL_SDK_DISABLED=true``                  install nothing at all
==========================================  ===================================================

With nothing configured, no provider is installed: the API's no-op tracer and meter stay in
place, spans are non-recording, and :func:`tracing_enabled` is ``False`` so callers can skip
per-entry span work altogether.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from ingest.errors import ConfigError

log = logging.getLogger(__name__)

TRACES_EXPORTERS = ("otlp", "console", "none")
METRICS_EXPORTERS = ("otlp", "console", "prometheus", "none")
PROTOCOLS = ("http/protobuf", "grpc")
FLUSH_TIMEOUT_MS = 5_000
SHUTDOWN_BUDGET_S = 8.0
"""Longest the CLIs wait at exit for spans and metrics to be flushed, seconds."""


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """``True`` when ``OTEL_SDK_DISABLED`` is ``true`` (any case)."""
    return _env(os.environ if environ is None else environ, "OTEL_SDK_DISABLED").lower() == "true"


def exporter_names(signal: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The exporters chosen for ``signal`` (``traces`` or ``metrics``), ``[]`` for none.

    Reads ``OTEL_<SIGNAL>_EXPORTER`` (comma list); unset means ``otlp`` when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` is set, else
    none.

    Raises:
        ConfigError: an unknown exporter name, naming the variable and value.
    """
    env = os.environ if environ is None else environ
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    raw = _env(env, variable)
    if not raw:
        endpoint = _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT") or _env(
            env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    allowed = TRACES_EXPORTERS if signal == "traces" else METRICS_EXPORTERS
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in allowed:
            raise ConfigError(f"{variable} = {raw!r}: {name!r} must be one of {', '.join(allowed)}")
    return [name for name in names if name != "none"]


def otlp_protocol(signal: str, environ: Mapping[str, str] | None = None) -> str:
    """``http/protobuf`` (default) or ``grpc``, from ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``
    or ``OTEL_EXPORTER_OTLP_PROTOCOL``.

    Raises:
        ConfigError: another value (``http/json`` has no Python exporter).
    """
    env = os.environ if environ is None else environ
    for variable in (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        value = _env(env, variable)
        if value:
            if value not in PROTOCOLS:
                raise ConfigError(f"{variable} = {value!r}: must be one of {', '.join(PROTOCOLS)}")
            return value
    return "http/protobuf"


def _grpc_missing(exc: ImportError) -> ConfigError:
    return ConfigError(
        "OTEL_EXPORTER_OTLP_PROTOCOL = 'grpc': the gRPC exporter is not installed "
        f"(pip install 'redis-ingest[grpc]'): {exc}"
    )


def _otlp_span_exporter() -> SpanExporter:
    # The exporters read OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, ...) themselves.
    if otlp_protocol("traces") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError as exc:
            raise _grpc_missing(exc) from None
        exporter: SpanExporter = GrpcSpanExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _otlp_metric_exporter() -> Any:
    if otlp_protocol("metrics") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as GrpcMetricExporter,
            )
        except ImportError as exc:
            raise _grpc_missing(exc) from None
        return GrpcMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


def build_resource(default_service_name: str) -> Resource:
    """Resource from ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME``, with
    ``service.name = default_service_name`` when neither names the service."""
    resource = Resource.create()
    name = str(resource.attributes.get(SERVICE_NAME, ""))
    if not name or name.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    return resource


def build_tracer_provider(resource: Resource) -> TracerProvider | None:
    """A ``TracerProvider`` with the exporters ``OTEL_TRACES_EXPORTER`` selects, or ``None``
    when there are none (the caller then leaves the no-op provider in place).

    OTLP goes through a ``BatchSpanProcessor`` (``OTEL_BSP_*``); console through a simple
    processor writing to stderr (stdout belongs to the CLIs' output). The sampler comes from
    ``OTEL_TRACES_SAMPLER`` via the SDK.

    Raises:
        ConfigError: unknown exporter or protocol, or grpc asked for but not installed.
    """
    names = exporter_names("traces")
    if not names or sdk_disabled():
        return None
    # The CLIs' bounded shutdown replaces the SDK's unbounded one at interpreter exit.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for name in names:
        if name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_span_exporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    return provider


def build_meter_provider(
    resource: Resource, metric_readers: Sequence[MetricReader] = ()
) -> MeterProvider | None:
    """A ``MeterProvider`` with ``metric_readers`` (say the worker's Prometheus reader) plus
    the exporters ``OTEL_METRICS_EXPORTER`` selects, or ``None`` when there are none.

    Raises:
        ConfigError: unknown exporter or protocol, or grpc asked for but not installed.
    """
    if sdk_disabled():
        return None
    readers: list[MetricReader] = list(metric_readers)
    for name in exporter_names("metrics"):
        if name == "otlp":
            readers.append(PeriodicExportingMetricReader(_otlp_metric_exporter()))
        elif name == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr)))
    if not readers:
        return None
    return MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)


def tracing_enabled(provider: trace.TracerProvider | None = None) -> bool:
    """``True`` when ``provider`` (default: the global one) is an SDK provider, i.e. spans
    can be recorded. Callers check it once at start to skip per-entry span work when off."""
    current = provider if provider is not None else trace.get_tracer_provider()
    return isinstance(current, TracerProvider)


def configure_otel(
    default_service_name: str, *, metric_readers: Iterable[MetricReader] = ()
) -> Callable[[], None]:
    """Install global tracer/meter providers per ``OTEL_*``; return a flush-and-shutdown callable.

    Args:
        default_service_name: ``service.name`` when ``OTEL_SERVICE_NAME`` (or
            ``OTEL_RESOURCE_ATTRIBUTES``) does not set one.
        metric_readers: readers to attach besides the env-selected exporters (the worker's
            ``PrometheusMetricReader`` for ``--http-port``). A meter provider is installed when
            there is at least one reader.

    Returns:
        ``shutdown()``: flushes pending spans and metrics (at most about 5 s each) and shuts the
        providers down. Idempotent; call it at exit, after SIGTERM's graceful stop too.

    Raises:
        ConfigError: an unknown exporter or protocol; grpc asked for but not installed.
    """
    resource = build_resource(default_service_name)
    tracer_provider = build_tracer_provider(resource)
    meter_provider = build_meter_provider(resource, list(metric_readers))
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)
    done = threading.Event()

    def flush_and_close() -> None:
        try:
            if tracer_provider is not None:
                tracer_provider.force_flush(FLUSH_TIMEOUT_MS)
                tracer_provider.shutdown()
            if meter_provider is not None:
                meter_provider.shutdown(timeout_millis=FLUSH_TIMEOUT_MS)
        except Exception:  # telemetry must never turn a clean exit into a crash
            log.warning("flushing telemetry at exit failed", exc_info=True)

    def shutdown() -> None:
        if done.is_set():
            return
        done.set()
        # An unreachable collector makes the exporters retry well past any supervisor's stop
        # timeout: bound the whole flush, then exit without what did not make it.
        worker = threading.Thread(target=flush_and_close, name="otel-shutdown", daemon=True)
        worker.start()
        worker.join(SHUTDOWN_BUDGET_S)
        if worker.is_alive():
            log.warning(
                "telemetry not flushed within %g s (collector unreachable?); exiting without it",
                SHUTDOWN_BUDGET_S,
            )

    return shutdown
