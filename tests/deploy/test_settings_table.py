"""scripts/settings_table.py: the README's settings table, generated from the Option tables."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from tests.deploy import manifests as m

SCRIPT = m.ROOT / "scripts" / "settings_table.py"
README = m.ROOT / "README.md"
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30
    )


def test_table_has_a_row_for_every_variable_and_flag(subprocess_env: dict[str, str]) -> None:
    result = _run(env=subprocess_env)
    lines = result.stdout.splitlines()

    assert result.returncode == 0, result.stderr
    assert lines[0].startswith("| Flag | Variable | Default | Unit |")
    for variable in m.code_variables():
        assert sum(f"| `{variable}` |" in line for line in lines) == 1, variable
    flags = {option.flag for option in m.ALL_OPTIONS if option.flag}
    for flag in flags:
        assert any(line.startswith(f"| `{flag}` |") for line in lines), flag
    assert (
        "| `--maxlen` | `INGEST_MAXLEN` | 1,000,000 | entries | producer, stats, dlq |"
        in result.stdout
    )
    assert "| `--shutdown-timeout` | `INGEST_SHUTDOWN_TIMEOUT` | 25 | s | worker |" in (
        result.stdout
    )


def _row(stdout: str, variable: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if f"| `{variable}` |" in line)
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_read_by_names_each_command(subprocess_env: dict[str, str]) -> None:
    stdout = _run(env=subprocess_env).stdout

    assert _row(stdout, "INGEST_REDIS_URL")[4] == "producer, worker, stats, dlq, web"
    assert _row(stdout, "INGEST_GROUP")[4] == "worker, dlq"  # not the producer's
    assert _row(stdout, "INGEST_STATS_INTERVAL")[4] == "stats"
    assert _row(stdout, "INGEST_HIGH_WATER")[4] == "producer, dlq"
    assert _row(stdout, "INGEST_LOG_FORMAT")[4] == "producer, worker, stats, web"
    assert _row(stdout, "INGEST_WEB_TOKEN_FILE")[4] == "web"
    filters = "dlq list, dlq show, dlq replay, dlq purge"
    assert f"| `--older-than` | - | - | - | {filters} |" in stdout


CODE_DIRS = ("ingest", "workers")
VARIABLE = re.compile(r"\bINGEST_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")


def variables_in_code() -> set[str]:
    """``INGEST_*`` names inside string literals (messages, docstrings, Option tables) of the
    packages; identifiers such as ``telemetry.INGEST_EVENT_ID`` are not variables."""
    found: set[str] = set()
    for directory in CODE_DIRS:
        for path in sorted((m.ROOT / directory).rglob("*.py")):
            tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
            for token in tokens:
                if token.type == tokenize.STRING:
                    found.update(VARIABLE.findall(token.string))
    return found


def test_every_variable_the_code_names_is_in_the_table(subprocess_env: dict[str, str]) -> None:
    stdout = _run(env=subprocess_env).stdout
    variables = variables_in_code()

    assert {"INGEST_STATS_INTERVAL", "INGEST_LOG_FORMAT", "INGEST_REDIS_URL"} <= variables
    missing = sorted(v for v in variables if f"| `{v}` |" not in stdout)
    assert missing == []


def test_write_then_check_round_trip(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(f"# Settings\n\n{BEGIN}\n| old |\n{END}\n\nAfter.\n")

    stale = _run("--check", str(document), env=subprocess_env)
    written = _run("--write", str(document), env=subprocess_env)
    fresh = _run("--check", str(document), env=subprocess_env)
    text = document.read_text()

    assert stale.returncode == 1
    assert "stale" in stale.stderr
    assert written.returncode == 0, written.stderr
    assert fresh.returncode == 0, fresh.stderr
    assert "| old |" not in text
    assert text.startswith("# Settings\n\n") and text.endswith(f"{END}\n\nAfter.\n")


def test_a_file_without_markers_is_a_usage_error(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    document = tmp_path / "doc.md"
    document.write_text("no table here\n")

    result = _run("--check", str(document), env=subprocess_env)

    assert result.returncode == 2
    assert BEGIN in result.stderr


def test_readme_settings_table_is_current(subprocess_env: dict[str, str]) -> None:
    result = _run("--check", str(README), env=subprocess_env)

    assert result.returncode == 0, (
        f"{result.stderr.strip()}; fix with: python scripts/settings_table.py --write README.md"
    )
