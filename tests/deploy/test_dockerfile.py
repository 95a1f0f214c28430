"""The worker image's Dockerfile, checked without a Docker engine (none runs on dev or CI):
hadolint lints it, and these tests parse it and check what it points at."""

from __future__ import annotations

import fnmatch
import importlib.util
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.deploy import manifests as m


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint not found: it comes with the test extra (pip install -e '.[test]')"
    return found


def _instructions() -> list[m.Instruction]:
    return m.parse_dockerfile(m.DOCKERFILE.read_text())


def _one(keyword: str) -> m.Instruction:
    found = [ins for ins in m.final_stage(_instructions()) if ins.keyword == keyword]
    assert len(found) == 1, f"final stage has {len(found)} {keyword} instructions"
    return found[0]


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in m.final_stage(_instructions()):
        if ins.keyword == "ENV":
            env.update(m.env_pairs(ins.args))
    return env


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(m.DOCKERFILE)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_every_instruction_is_a_known_keyword() -> None:
    instructions = _instructions()

    assert instructions, "no instructions parsed"
    assert {ins.keyword for ins in instructions} <= m.DOCKER_INSTRUCTIONS
    assert instructions[0].keyword in {"ARG", "FROM"}


def test_two_stages_and_the_runtime_copies_only_the_venv_from_the_builder() -> None:
    stages = [ins.args.split() for ins in _instructions() if ins.keyword == "FROM"]
    copies_from_build = [
        ins.args for ins in m.final_stage(_instructions()) if ins.args.startswith("--from=")
    ]

    assert [stage[-1] for stage in stages] == ["build", "runtime"]
    assert copies_from_build == ["--from=build /opt/venv /opt/venv"]


def test_runtime_stage_installs_no_build_tools() -> None:
    runs = " ".join(ins.args for ins in m.final_stage(_instructions()) if ins.keyword == "RUN")

    for tool in ("apt-get install", "gcc", "build-essential", "pip install"):
        assert tool not in runs


def test_runs_as_a_non_root_user() -> None:
    user = _one("USER").args.split(":")[0]

    assert user not in {"0", "root"}
    assert user.isdigit(), "numeric UID so Kubernetes can verify runAsNonRoot"


def test_entrypoint_is_exec_form_and_runs_the_worker_module() -> None:
    entrypoint = m.exec_form(_one("ENTRYPOINT").args)
    cmd = m.exec_form(_one("CMD").args)

    assert entrypoint[:2] == ["python", "-m"]
    module = entrypoint[2]
    assert module == "workers"
    assert importlib.util.find_spec(f"{module}.__main__") is not None
    assert cmd == []


def test_the_worker_module_imports_and_answers_help(subprocess_env: dict[str, str]) -> None:
    entrypoint = m.exec_form(_one("ENTRYPOINT").args)

    result = subprocess.run(
        [sys.executable, *entrypoint[1:], "--help"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert "--http-port" in result.stdout


def test_healthcheck_is_exec_form_running_the_copied_script() -> None:
    options, _, command = _one("HEALTHCHECK").args.partition("CMD ")
    argv = m.exec_form(command)
    copies = [ins.args.split() for ins in _instructions() if ins.keyword == "COPY"]

    assert "--interval=" in options
    assert "--timeout=" in options
    assert argv[0] == "python"
    assert [str(m.HEALTHCHECK_SCRIPT.relative_to(m.ROOT)), argv[1]] in copies


def test_http_port_is_set_exposed_and_read_by_the_worker() -> None:
    port = _image_env()["INGEST_HTTP_PORT"]

    assert _one("EXPOSE").args == port
    assert m.option_for("INGEST_HTTP_PORT").parse(port) > 0


def test_sink_path_is_the_writable_volume_owned_by_the_user() -> None:
    sink = _image_env()["INGEST_SINK"]
    volume = m.exec_form(_one("VOLUME").args)[0]
    runs = " ".join(ins.args for ins in m.final_stage(_instructions()) if ins.keyword == "RUN")

    assert m.option_for("INGEST_SINK").parse(sink) == sink
    assert Path(sink.removeprefix("sqlite:///")).parent == Path(volume)
    assert f"chown ingest:ingest {volume}" in runs


def test_bundled_data_is_copied_to_app_data() -> None:
    copies = [ins.args.split() for ins in _instructions() if ins.keyword == "COPY"]

    assert ["data/", "/app/data/"] in copies
    assert (m.ROOT / "data" / "sea_surface_temperature.csv.gz").is_file()


def _included_by_dockerignore(path: str) -> bool:
    # Docker applies .dockerignore patterns in order, the last match wins; "!" re-includes.
    included = True
    for raw in m.DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if pattern == "**" or fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            included = negate
    return included


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    sources = [
        source
        for ins in _instructions()
        if ins.keyword == "COPY" and not ins.args.startswith("--from=")
        for source in ins.args.split()[:-1]
    ]

    assert sources
    for source in sources:
        assert (m.ROOT / source).exists(), source
        assert _included_by_dockerignore(source.rstrip("/")), f"{source} is .dockerignored"
    assert not _included_by_dockerignore("tests/conftest.py")
    assert not _included_by_dockerignore(".venv")


# ---- the healthcheck script itself, against a local HTTP server ----------------------------


@pytest.fixture
def livez_server() -> Iterator[tuple[int, list[int]]]:
    """A local HTTP server answering ``/livez`` with the status in ``statuses[0]``."""
    statuses = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = statuses[0] if self.path == "/livez" else 404
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], statuses
    server.shutdown()
    server.server_close()


def _run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(m.HEALTHCHECK_SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=15,
    )


def test_healthcheck_passes_on_200_and_fails_on_503(livez_server: tuple[int, list[int]]) -> None:
    port, statuses = livez_server
    env = {"INGEST_HTTP_PORT": str(port)}

    healthy = _run_healthcheck(env)
    statuses[0] = 503
    unhealthy = _run_healthcheck(env)

    assert healthy.returncode == 0, healthy.stderr
    assert unhealthy.returncode == 1
    assert "503" in unhealthy.stderr


def test_healthcheck_fails_without_a_port_or_a_listener() -> None:
    no_port = _run_healthcheck({})
    closed = _run_healthcheck({"INGEST_HTTP_PORT": "1"})

    assert no_port.returncode == 1
    assert "INGEST_HTTP_PORT" in no_port.stderr
    assert closed.returncode == 1
