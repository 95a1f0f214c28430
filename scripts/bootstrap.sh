#!/usr/bin/env bash
# Make this checkout runnable on a fresh Debian-like machine: a virtualenv in .venv with the
# package (and its test extras when BOOTSTRAP_EXTRAS=test, with Debian's chromium for the
# dashboard's browser test), and Debian's redis-server when no redis-server is on PATH and
# INGEST_REDIS_URL is not set. Idempotent and quiet when done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=${BOOTSTRAP_EXTRAS:-}
stamp=".venv/.installed${extras:+-$extras}"

if [ -z "${INGEST_REDIS_URL:-}" ] || [ "$extras" = test ]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "bootstrap: installing redis-server (Debian package)" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
    # Debian's package starts a system service on 6379; we run our own private servers.
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

# The cluster fixture creates clusters with `redis-cli` (redis-tools; redis-server's package
# depends on it). Sentinels are `redis-server --sentinel`, so no redis-sentinel package.
if [ "$extras" = test ] && ! command -v redis-cli >/dev/null 2>&1; then
  echo "bootstrap: installing redis-tools (redis-cli, for the cluster fixture)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools >/dev/null
fi

# The deployment tests run `systemd-analyze verify` on the units: Debian's systemd package has it.
if [ "$extras" = test ] && ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "bootstrap: installing systemd (for systemd-analyze in the tests)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null
fi

# The dashboard's browser test (tests/web/test_browser.py) drives Debian's chromium through
# Playwright; Playwright never downloads a browser here.
if [ "$extras" = test ] && ! command -v chromium >/dev/null 2>&1; then
  echo "bootstrap: installing chromium (for the dashboard's browser test)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the package into .venv${extras:+ with [$extras]}" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
