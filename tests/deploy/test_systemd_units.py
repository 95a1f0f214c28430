"""The systemd units in deploy/systemd: `systemd-analyze verify` and an offline security
review on them, then the settings the worker's supervision depends on.

systemd-analyze comes with Debian's `systemd` package; CI must have it (.ci/run installs it
when missing), so its absence fails these tests rather than skipping them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import manifests as m

UNITS = (m.WORKER_UNIT, m.PRODUCE_UNIT)
INSTALL_PREFIX = "/opt/redis-ingest/bin/python"
MAX_EXPOSURE = 2.0


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, (
        "systemd-analyze not found: install Debian's systemd package "
        "(apt-get install -y systemd); .ci/run does this"
    )
    return found


def _instantiated_copy(unit: Path, tmp_path: Path) -> Path:
    """Copy ``unit`` into ``tmp_path`` with ExecStart's interpreter pointed at this Python
    (verify checks that the binary exists; the install prefix does not exist here) and return
    the path of an instance (``name@test.service``) for verify to load."""
    text = unit.read_text()
    assert INSTALL_PREFIX in text
    (tmp_path / unit.name).write_text(text.replace(INSTALL_PREFIX, sys.executable))
    return tmp_path / unit.name.replace("@.", "@test.")


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_is_clean(unit: Path, tmp_path: Path) -> None:
    instance = _instantiated_copy(unit, tmp_path)

    result = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(instance)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    # Unknown keys or sections are only warnings to verify, and still mistakes.
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_offline_security_review_rates_the_unit_ok(unit: Path, tmp_path: Path) -> None:
    instance = _instantiated_copy(unit, tmp_path)

    result = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", "--no-pager", str(instance)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)

    assert result.returncode == 0, result.stderr
    assert found, result.stdout[-500:]
    assert float(found.group(1)) <= MAX_EXPOSURE


def test_worker_unit_is_a_notify_service_named_after_its_instance() -> None:
    unit = m.parse_unit(m.WORKER_UNIT)

    assert m.unit_value(unit, "Service", "Type") == "notify"
    assert m.unit_value(unit, "Service", "NotifyAccess") == "main"
    assert "INGEST_CONSUMER=%i" in m.unit_values(unit, "Service", "Environment")
    assert m.unit_value(unit, "Service", "ExecStart").split()[1:] == ["-m", "workers"]


def test_the_env_file_does_not_override_the_consumer_name() -> None:
    # EnvironmentFile= beats Environment=: a shared file setting INGEST_CONSUMER would give
    # every instance the same consumer name.
    unit = m.parse_unit(m.WORKER_UNIT)
    shared, per_instance = m.unit_values(unit, "Service", "EnvironmentFile")

    assert Path(shared).name == m.ENV_EXAMPLE.name.removesuffix(".example")
    assert "INGEST_CONSUMER" not in m.parse_env_file(m.ENV_EXAMPLE)
    # The optional per-instance file ("-" prefix) carries what must differ between instances
    # on one host (INGEST_HTTP_PORT), never the consumer name, which the unit sets from %i.
    assert per_instance == "-/etc/redis-ingest/%i.env"
    assert "INGEST_HTTP_PORT" not in m.parse_env_file(m.ENV_EXAMPLE)


def test_stop_timeout_exceeds_the_shutdown_timeout() -> None:
    unit = m.parse_unit(m.WORKER_UNIT)
    stop_s = m.systemd_seconds(m.unit_value(unit, "Service", "TimeoutStopSec"))
    shutdown = m.option_for("INGEST_SHUTDOWN_TIMEOUT")
    configured_s = shutdown.parse(m.parse_env_file(m.ENV_EXAMPLE)["INGEST_SHUTDOWN_TIMEOUT"])

    assert m.unit_value(unit, "Service", "KillSignal") == "SIGTERM"
    assert m.unit_value(unit, "Service", "KillMode") == "mixed"
    # Ten seconds of slack for acking, releasing, and flushing telemetry after the drain.
    assert stop_s >= max(configured_s, shutdown.default) + 10


def test_restart_and_watchdog_settings() -> None:
    unit = m.parse_unit(m.WORKER_UNIT)
    watchdog_s = m.systemd_seconds(m.unit_value(unit, "Service", "WatchdogSec"))
    block_s = m.option_for("INGEST_BLOCK_MS").default / 1000

    stop_s = m.systemd_seconds(m.unit_value(unit, "Service", "TimeoutStopSec"))

    assert m.unit_value(unit, "Service", "Restart") == "on-failure"
    assert m.unit_value(unit, "Service", "RestartPreventExitStatus") == "2"
    # A Redis outage longer than any start limit must not leave the worker dead afterwards.
    assert m.unit_value(unit, "Unit", "StartLimitIntervalSec") == "0"
    assert m.systemd_seconds(m.unit_value(unit, "Service", "RestartSec")) >= 1
    # The worker stops pinging when its read loop is silent for max(10 s, 3 x block time),
    # and during a drain; neither may trip the watchdog on a healthy worker.
    assert watchdog_s > max(10.0, 3 * block_s)
    assert watchdog_s > stop_s


def test_hardening_settings() -> None:
    unit = m.parse_unit(m.WORKER_UNIT)
    expected = {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }

    for key, value in expected.items():
        assert m.unit_value(unit, "Service", key) == value, key


def test_sqlite_sink_lives_in_the_state_directory() -> None:
    unit = m.parse_unit(m.WORKER_UNIT)
    state = m.unit_value(unit, "Service", "StateDirectory")
    sink = next(
        value.partition("=")[2]
        for value in m.unit_values(unit, "Service", "Environment")
        if value.startswith("INGEST_SINK=")
    )

    assert m.option_for("INGEST_SINK").parse(sink) == sink
    assert Path(sink.removeprefix("sqlite:///")).parent == Path("/var/lib") / state


def test_produce_unit_is_a_oneshot_on_the_instance_path() -> None:
    unit = m.parse_unit(m.PRODUCE_UNIT)
    argv = m.unit_value(unit, "Service", "ExecStart").split()

    assert m.unit_value(unit, "Service", "Type") == "oneshot"
    assert argv[1:3] == ["-m", "ingest.produce"]
    assert argv[argv.index("--input") + 1] == "%f"
    shared, own = m.unit_values(unit, "Service", "EnvironmentFile")
    assert shared == m.unit_values(m.parse_unit(m.WORKER_UNIT), "Service", "EnvironmentFile")[0]
    assert own == "/etc/redis-ingest/producer.env"  # its own ACL user's URL, read last


@pytest.mark.parametrize("path", [m.WORKER_UNIT, m.PRODUCE_UNIT], ids=lambda p: p.name)
def test_the_redis_password_is_a_credential_file(path: Path) -> None:
    unit = m.parse_unit(path)
    name, _, source = m.unit_value(unit, "Service", "LoadCredential").partition(":")

    assert source.startswith("/etc/redis-ingest/")
    assert f"INGEST_REDIS_PASSWORD_FILE=%d/{name}" in m.unit_values(unit, "Service", "Environment")
    assert "@" in m.parse_env_file(m.ENV_EXAMPLE)["INGEST_REDIS_URL"]
    assert ":" not in m.parse_env_file(m.ENV_EXAMPLE)["INGEST_REDIS_URL"].split("@")[0][8:]
