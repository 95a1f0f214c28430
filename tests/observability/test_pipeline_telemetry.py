"""Telemetry across processes: a producer process and a worker process exporting OTLP/HTTP to a
local receiver; the worker's /metrics after a known run; spans flushed on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for
from tests.observability.otlp import OtlpReceiver, ReceivedSpan

pytestmark = [pytest.mark.redis, pytest.mark.slow]

STREAM = "ingest:events"
PROCESS = f"process {STREAM}"
SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 4, 5
STATUS_ERROR = 2


def write_events(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "celsius": 20.5}) + "\n" for i in ids))
    return path


@pytest.fixture
def env(subprocess_env: dict[str, str], redis_url: str, otlp_receiver: OtlpReceiver):
    out = {k: v for k, v in subprocess_env.items() if not k.startswith(("OTEL_", "INGEST_"))}
    out.update(
        INGEST_REDIS_URL=redis_url,
        INGEST_PYTHON=sys.executable,
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_METRIC_EXPORT_INTERVAL="600000",  # only the flush at exit exports metrics
    )
    return out


def produce(env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest.produce",
            "--input",
            str(path),
            "--id-field",
            "id",
            "--raw-ids",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result


@dataclass
class Workers:
    """Worker processes started by a test; killed (if still running) and closed after it."""

    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    files: list[IO[str]] = field(default_factory=list)


@pytest.fixture
def workers() -> Iterator[Workers]:
    started = Workers()
    yield started
    for process in started.processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    for file in started.files:
        file.close()


def start_worker(
    started: Workers, env: dict[str, str], log: Path, *args: str
) -> subprocess.Popen[str]:
    """``python -m workers`` with stderr (the JSON log) to ``log``, stdout next to it."""
    err, out = log.open("w"), log.with_suffix(".out").open("w")
    started.files += [err, out]
    process = subprocess.Popen(
        [sys.executable, "-m", "workers", "--block-ms", "200", *args],
        env=env,
        stdout=out,
        stderr=err,
        text=True,
    )
    started.processes.append(process)
    return process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            text = reply.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return {}
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def probe(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_spans(receiver: OtlpReceiver, name: str, count: int) -> list[ReceivedSpan]:
    """The spans called ``name`` once there are at least ``count`` of them."""

    def enough() -> list[ReceivedSpan] | None:
        spans = receiver.spans_named(name)
        return spans if len(spans) >= count else None

    found = wait_for(enough, 10, what=f"{count} spans {name!r}")
    assert found is not None
    return found


def wait_metrics(port: int, want: dict[str, float]) -> dict[str, float]:
    """The scraped samples once every name in ``want`` has its value."""

    def reached() -> dict[str, float] | None:
        values = scrape(port)
        return values if all(values.get(k) == v for k, v in want.items()) else None

    found = wait_for(reached, 20, what=f"/metrics reading {want}")
    assert found is not None
    return found


def json_records(log: Path) -> list[dict[str, Any]]:
    records = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def test_one_trace_from_producer_through_worker_to_the_sink(
    env, otlp_receiver: OtlpReceiver, client: redis.Redis, tmp_path: Path, workers
):
    # Given: 20 events produced by one process, exporting to the receiver
    ids = [f"e-{i}" for i in range(20)]
    produce(env, write_events(tmp_path / "in.jsonl", ids))
    entry_ids = {str(entry[0]) for entry in client.xrange(STREAM) or ()}
    # When: a worker process handles them into the SQLite sink, logging at DEBUG
    log = tmp_path / "worker.log"
    worker = start_worker(
        workers, env, log, "--burst", "--log-level", "DEBUG", "--sink", f"sqlite:///{tmp_path}/s.db"
    )
    assert worker.wait(30) == 0, log.read_text()
    # Then: one producer span, and 20 process spans in its trace, each its child
    [sent] = wait_spans(otlp_receiver, "ingest.produce", 1)
    assert sent.service == "ingest-producer"
    assert sent.kind == SPAN_KIND_PRODUCER
    assert sent.attributes["messaging.destination.name"] == STREAM
    assert sent.attributes["messaging.batch.message_count"] == 20
    processed = wait_spans(otlp_receiver, PROCESS, 20)
    assert len(processed) == 20
    assert {s.trace_id for s in processed} == {sent.trace_id}
    assert {s.parent_span_id for s in processed} == {sent.span_id}
    assert {s.attributes["ingest.event_id"] for s in processed} == set(ids)
    assert {s.attributes["messaging.message.id"] for s in processed} == entry_ids
    for span in processed:
        assert span.service == "ingest-worker"
        assert span.kind == SPAN_KIND_CONSUMER
        assert span.attributes["messaging.system"] == "redis"
        assert span.attributes["messaging.operation.type"] == "process"
        assert span.attributes["messaging.destination.name"] == STREAM
        assert span.attributes["messaging.consumer.group.name"] == "workers"
        assert span.attributes["messaging.client.id"]
        assert span.attributes["ingest.delivery_count"] == 1
        assert span.attributes["ingest.outcome"] == "acked"
    # ... and the sink's write is a child of a process span of the same trace
    writes = [s for s in otlp_receiver.spans if s.attributes.get("db.system.name") == "sqlite"]
    assert writes
    assert {w.trace_id for w in writes} == {sent.trace_id}
    assert {w.parent_span_id for w in writes} <= {s.span_id for s in processed}
    # ... and a JSON log record per event carries its event id, entry id and trace id
    per_event = {r["event_id"]: r for r in json_records(log) if "event_id" in r}
    assert set(per_event) == set(ids)
    assert {r["trace_id"] for r in per_event.values()} == {sent.trace_id}
    assert {r["entry_id"] for r in per_event.values()} == entry_ids
    # ... and the producer exported its counters at exit
    produced = [
        point.as_int
        for request in otlp_receiver.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "ingest.producer.produced"
        for point in metric.sum.data_points
    ]
    assert produced == [20]


def test_counters_after_a_known_run(
    env, otlp_receiver: OtlpReceiver, client: redis.Redis, tmp_path: Path, workers
):
    # Given: N good events, K of them failing once with a transient error, and one poison event
    n, k = 30, 4
    ids = [f"flaky-{i}" for i in range(k)] + [f"ok-{i}" for i in range(n - k)] + ["poison"]
    produce(env, write_events(tmp_path / "in.jsonl", ids))
    port = free_port()
    # When: one worker handles them
    log = tmp_path / "worker.log"
    worker = start_worker(
        workers,
        env,
        log,
        "--handler",
        "tests.observability.pipeline_handlers:flaky",
        "--http-port",
        str(port),
        "--retry-initial",
        "0.01",
        "--retry-max",
        "0.05",
    )
    # Then: /metrics (parsed as Prometheus text) reads exactly N acked, K retried, 1 dead letter
    values = wait_metrics(
        port, {"ingest_worker_acked_total": n, "ingest_worker_dead_lettered_total": 1}
    )
    assert values["ingest_worker_retried_total"] == k
    assert values["ingest_worker_failed_total"] == 0
    assert values["ingest_worker_lost_total"] == 0
    assert 1 <= values["ingest_worker_end_to_end_latency_seconds_count"] <= n  # sampled
    assert values["ingest_worker_handler_duration_seconds_count"] >= 1
    assert probe(port, "/livez") == 200
    assert probe(port, "/readyz") == 200
    assert client.xlen("{ingest:events}:dead") == 1
    # When: stopped with SIGTERM
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log.read_text()
    # Then: the poison's span is an error, and each flaky event's span records its retry
    spans = wait_spans(otlp_receiver, PROCESS, n + 1)
    [poison] = [s for s in spans if s.attributes["ingest.event_id"] == "poison"]
    assert poison.status_code == STATUS_ERROR
    assert poison.attributes["ingest.outcome"] == "dead-lettered"
    assert "exception" in [name for name, _ in poison.events]
    flaky = [s for s in spans if str(s.attributes["ingest.event_id"]).startswith("flaky-")]
    assert len(flaky) == k
    for span in flaky:
        assert [name for name, _ in span.events].count("retry") == 1
        assert span.attributes["ingest.outcome"] == "acked"


def test_spans_of_the_last_events_are_flushed_on_sigterm(
    env, otlp_receiver: OtlpReceiver, client: redis.Redis, tmp_path: Path, workers
):
    # Given: a worker whose span processor would export only every 10 minutes
    env = dict(env, OTEL_BSP_SCHEDULE_DELAY="600000")
    log = tmp_path / "worker.log"
    worker = start_worker(workers, env, log, "--sink", f"sqlite:///{tmp_path}/s.db")
    produce(env, write_events(tmp_path / "in.jsonl", [f"e-{i}" for i in range(10)]))
    # When: it has handled all 10 events (nothing pending, nothing undelivered)
    wait_for(
        lambda: any(
            g["name"] == "workers" and g["pending"] == 0 and g["lag"] == 0 and g["entries-read"]
            for g in client.xinfo_groups(STREAM)
        ),
        20,
        what="10 events acknowledged",
    )
    assert otlp_receiver.spans_named(PROCESS) == []  # held in the processor's queue so far
    worker.send_signal(signal.SIGTERM)
    # Then: it exits 0 and its spans reached the receiver before exit
    assert worker.wait(30) == 0, log.read_text()
    processed = otlp_receiver.spans_named(PROCESS)
    assert len(processed) == 10
    [sent] = otlp_receiver.spans_named("ingest.produce")
    assert {s.trace_id for s in processed} == {sent.trace_id}


def test_a_replayed_dead_letter_links_to_the_original_trace(
    env, otlp_receiver: OtlpReceiver, client: redis.Redis, tmp_path: Path, workers
):
    # Given: a poison event dead-lettered by a worker, in the producer's trace
    produce(env, write_events(tmp_path / "in.jsonl", ["poison", "fine"]))
    first = start_worker(
        workers,
        env,
        tmp_path / "w1.log",
        "--burst",
        "--handler",
        "tests.observability.pipeline_handlers:flaky",
    )
    assert first.wait(30) == 0
    [sent] = wait_spans(otlp_receiver, "ingest.produce", 1)
    [dead] = [
        s
        for s in wait_spans(otlp_receiver, PROCESS, 2)
        if s.attributes["ingest.event_id"] == "poison"
    ]
    assert dead.trace_id == sent.trace_id
    assert dead.status_code == STATUS_ERROR
    # When: it is replayed and handled by a worker that accepts it
    replay = subprocess.run(
        [sys.executable, "-m", "workers.dlq", "replay", "--all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert replay.returncode == 0, replay.stderr
    second = start_worker(
        workers, env, tmp_path / "w2.log", "--burst", "--sink", f"sqlite:///{tmp_path}/s.db"
    )
    assert second.wait(30) == 0
    # Then: its process span starts a trace of its own with a link to the original one
    spans = wait_spans(otlp_receiver, PROCESS, 3)
    [replayed] = [s for s in spans if "ingest.replayed_from" in s.attributes]
    assert replayed.attributes["ingest.event_id"] == "poison"
    assert replayed.attributes["ingest.outcome"] == "acked"
    assert (sent.trace_id, sent.span_id) in replayed.links
    assert replayed.trace_id != sent.trace_id
    assert replayed.parent_span_id == ""


def test_batch_spans_keep_one_trace_from_producer_through_worker_to_the_sink(
    env, otlp_receiver: OtlpReceiver, client: redis.Redis, tmp_path: Path, workers
):
    # Given: 20 events produced in one batch by one process
    ids = [f"e-{i}" for i in range(20)]
    produce(env, write_events(tmp_path / "in.jsonl", ids))
    # When: a worker with --trace-spans batch handles them, 10 to a read
    log = tmp_path / "worker.log"
    worker = start_worker(
        workers,
        env,
        log,
        "--burst",
        "--trace-spans",
        "batch",
        "--batch",
        "10",
        "--sink",
        f"sqlite:///{tmp_path}/s.db",
    )
    assert worker.wait(30) == 0, log.read_text()
    # Then: fewer process spans than events, all children of the producer span, naming every
    # event once, and the sink writes are their children in the same trace
    [sent] = wait_spans(otlp_receiver, "ingest.produce", 1)
    processed = wait_spans(otlp_receiver, PROCESS, 2)
    assert 2 <= len(processed) < 20
    assert {s.parent_span_id for s in processed} == {sent.span_id}
    named = [e for s in processed for e in s.attributes["ingest.event_ids"]]
    assert sorted(named) == sorted(ids)
    assert sum(s.attributes["messaging.batch.message_count"] for s in processed) == 20
    assert {s.attributes["ingest.outcome"] for s in processed} == {"acked"}
    writes = [s for s in otlp_receiver.spans if s.attributes.get("db.system.name") == "sqlite"]
    assert {w.parent_span_id for w in writes} <= {s.span_id for s in processed}
    assert {w.trace_id for w in writes} == {sent.trace_id}
