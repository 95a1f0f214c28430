"""No Redis password in any CLI output: --help, errors when Redis is unreachable, logs."""

from __future__ import annotations

import subprocess
import sys

import pytest

PASSWORD = "Sw0rdfish-pw"  # noqa: S105 (a test password that must never be printed)
URL = f"redis://app:{PASSWORD}@127.0.0.1:1/0"

CLIS = (
    ["ingest.produce", "--synthetic", "5"],
    ["workers"],
    ["ingest.stats"],
    ["workers.dlq", "list"],
)


def run(
    module_args: list[str], env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *module_args, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return dict(subprocess_env, INGEST_REDIS_URL=URL, INGEST_CONNECT_TIMEOUT="0.3")


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_help_shows_no_password(cli, env):
    result = run(cli[:1], env, "--help")
    assert result.returncode == 0
    assert "--redis-url" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_unreachable_redis_exits_3_without_the_password(cli, env):
    result = run(cli, env)
    assert result.returncode == 3, result.stderr
    assert "app:***@127.0.0.1:1" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
