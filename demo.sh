#!/usr/bin/env bash
# The main job end to end on the bundled buoy data: installs what it needs (a .venv with the
# package; Debian's redis-server when none is on PATH and INGEST_REDIS_URL is unset), then runs
# scripts/demo.py. Extra args go to it (--input FILE, --sink FILE, --workers N, --timeout S,
# --keep); Ctrl-C stops it cleanly (exec: the demo gets the signal, not this shell).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
