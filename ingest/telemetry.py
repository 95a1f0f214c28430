"""Telemetry names and trace-context propagation (contract module: opentelemetry-api only).

Library code never sets global providers: functions take an optional provider and fall back
to the global one, which only the CLIs configure (see :mod:`ingest.otel_setup`).

Attribute names follow the OpenTelemetry messaging semantic conventions
(https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/, status Development),
kept here in one place so a rename touches one module.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

INSTRUMENTATION_NAME = "redis-ingest"

# Messaging semantic conventions.
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_SYSTEM_VALUE = "redis"  # no registered value for Redis Streams; see README
MESSAGING_OPERATION_TYPE = "messaging.operation.type"  # send | receive | process | settle
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_DESTINATION_NAME = "messaging.destination.name"
MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"  # the entry ID
MESSAGING_BATCH_MESSAGE_COUNT = "messaging.batch.message_count"
MESSAGING_CLIENT_ID = "messaging.client.id"  # the consumer name
# Our own attributes (no semantic convention covers them).
INGEST_EVENT_ID = "ingest.event_id"
INGEST_DELIVERY_COUNT = "ingest.delivery_count"
INGEST_CONSUMER = "ingest.consumer"
INGEST_REPLAYED_FROM = "ingest.replayed_from"  # the dead-letter entry ID a replay came from
# Database client spans of sinks (https://opentelemetry.io/docs/specs/semconv/database/).
DB_SYSTEM_NAME = "db.system.name"
DB_NAMESPACE = "db.namespace"
DB_OPERATION_NAME = "db.operation.name"
DB_COLLECTION_NAME = "db.collection.name"
DB_OPERATION_BATCH_SIZE = "db.operation.batch.size"

_TRACECONTEXT = TraceContextTextMapPropagator()


def get_tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """Tracer from ``provider``, or from the global provider (a no-op until a CLI sets one)."""
    if provider is not None:
        return provider.get_tracer(INSTRUMENTATION_NAME)
    return trace.get_tracer(INSTRUMENTATION_NAME)


def get_meter(provider: metrics.MeterProvider | None = None) -> metrics.Meter:
    """Meter from ``provider``, or from the global provider."""
    if provider is not None:
        return provider.get_meter(INSTRUMENTATION_NAME)
    return metrics.get_meter(INSTRUMENTATION_NAME)


def inject_context(
    carrier: MutableMapping[str, str], ctx: otel_context.Context | None = None
) -> None:
    """Write W3C ``traceparent``/``tracestate`` of ``ctx`` (default: current) into ``carrier``.

    Uses the global propagator when one is set, else W3C trace context. Writes nothing when
    there is no valid span (tracing off), so untraced entries carry no trace fields.
    """
    get_global_textmap().inject(carrier, context=ctx)


def extract_context(fields: Mapping[str, str]) -> otel_context.Context:
    """Context carried by entry ``fields`` (``traceparent``/``tracestate``); empty if none."""
    if "traceparent" not in fields:
        return otel_context.Context()
    return _TRACECONTEXT.extract(fields)
