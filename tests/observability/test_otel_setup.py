"""OpenTelemetry set-up from OTEL_* variables: what gets installed, and export over the wire."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import sampling

from ingest.errors import ConfigError
from ingest.otel_setup import (
    build_meter_provider,
    build_resource,
    build_tracer_provider,
    exporter_names,
    otlp_protocol,
    tracing_enabled,
)
from tests.helpers import wait_for
from tests.observability.otlp import OtlpReceiver

OTEL_VARS = (
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
)


@pytest.fixture(autouse=True)
def clean_otel_env(monkeypatch):
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://j:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318"}, []),
    ],
)
def test_traces_exporter_default_is_none_unless_an_endpoint_is_set(environ, expected):
    assert exporter_names("traces", environ) == expected


def test_unknown_exporter_or_protocol_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER = 'zipkin'"):
        exporter_names("traces", {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json'"):
        otlp_protocol("traces", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert otlp_protocol("traces", {}) == "http/protobuf"
    assert otlp_protocol("traces", {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}) == "grpc"


def test_nothing_configured_installs_nothing():
    resource = build_resource("svc")
    assert build_tracer_provider(resource) is None
    assert build_meter_provider(resource) is None
    assert not tracing_enabled()  # the test process never sets a global provider


def test_sdk_disabled_installs_nothing(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert build_tracer_provider(build_resource("svc")) is None


def test_service_name_default_and_overrides(monkeypatch):
    assert build_resource("ingest-worker").attributes["service.name"] == "ingest-worker"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=data")
    assert build_resource("ingest-worker").attributes["service.name"] == "from-attrs"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    resource = build_resource("ingest-worker")
    assert resource.attributes["service.name"] == "from-env"
    assert resource.attributes["team"] == "data"


def test_sampler_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    provider = build_tracer_provider(build_resource("svc"))
    assert provider is not None
    assert isinstance(provider.sampler, sampling.TraceIdRatioBased)
    assert provider.sampler.rate == 0.25
    assert tracing_enabled(provider)
    provider.shutdown()


def test_grpc_without_the_extra_is_a_config_error(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://j:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    # Make the import fail whether or not the grpc exporter happens to be installed.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"redis-ingest\[grpc\]"):
        build_tracer_provider(build_resource("svc"))


def test_extra_metric_reader_alone_makes_a_meter_provider():
    reader = InMemoryMetricReader()
    provider = build_meter_provider(build_resource("svc"), [reader])
    assert provider is not None
    provider.get_meter("m").create_counter("c").add(2)
    data = reader.get_metrics_data()
    assert data is not None
    [metric] = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert metric.name == "c"
    provider.shutdown()


CHILD = textwrap.dedent(
    """
    from opentelemetry import metrics, trace
    from ingest.otel_setup import configure_otel, tracing_enabled

    shutdown = configure_otel("otel-setup-test")
    assert tracing_enabled()
    with trace.get_tracer("t").start_as_current_span("hello") as span:
        span.set_attribute("answer", 42)
    metrics.get_meter("t").create_counter("things").add(3)
    shutdown()
    shutdown()  # idempotent
    """
)


def test_spans_and_metrics_configured_by_env_reach_an_otlp_http_receiver(
    otlp_receiver: OtlpReceiver, subprocess_env
):
    # Given: only the standard variables, pointing at a local receiver
    env = {k: v for k, v in subprocess_env.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_receiver.endpoint
    # When: a process configures OTel, records a span and a counter, and shuts down
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    # Then: the span and the metric were exported before exit (shutdown flushes)
    [span] = wait_for(lambda: otlp_receiver.spans_named("hello"), 5, what="span")
    assert span.service == "otel-setup-test"
    assert span.attributes["answer"] == 42
    names = {
        m.name
        for request in otlp_receiver.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert "things" in names
