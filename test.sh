#!/usr/bin/env bash
# Run the test suite: installs what a fresh machine lacks (see scripts/bootstrap.sh), then
# pytest against private redis-server processes the fixtures start. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
BOOTSTRAP_EXTRAS=test scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
