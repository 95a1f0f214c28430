"""The probes the image and the manifests declare, run against a real worker process: the
Dockerfile's HEALTHCHECK script and the Deployment's liveness/readiness paths and port."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy import manifests as m
from tests.helpers import wait_for
from tests.redis_server import free_port


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 (http://127.0.0.1)
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _answers_200(url: str) -> Callable[[], bool]:
    return lambda: _status(url) == 200


@pytest.mark.slow
def test_declared_probes_answer_on_a_running_worker(
    redis_url: str, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    worker = m.container(m.k8s_object("Deployment", "ingest-worker"), "worker")
    paths = {
        probe: worker[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    port = free_port()
    env = {
        **subprocess_env,
        "INGEST_REDIS_URL": redis_url,
        "INGEST_HTTP_PORT": str(port),
        "INGEST_SINK": f"sqlite:///{tmp_path / 'sink.db'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for path in paths.values():
            wait_for(_answers_200(base + path), 15, what=f"{path} -> 200")
        healthcheck = subprocess.run(
            [sys.executable, str(m.HEALTHCHECK_SCRIPT)],
            env={"INGEST_HTTP_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=15,
        )
        metrics = _status(base + "/metrics")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert paths == {
        "startupProbe": "/livez",
        "livenessProbe": "/livez",
        "readinessProbe": "/readyz",
    }
    assert healthcheck.returncode == 0, healthcheck.stderr
    assert metrics == 200
    assert proc.returncode == 0, stderr[-2000:]
