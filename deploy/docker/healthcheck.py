"""Container HEALTHCHECK: exit 0 when the worker's ``/livez`` answers 200, else 1.

The slim base image has no curl, so Docker's HEALTHCHECK runs this with the image's Python.
The port comes from ``INGEST_HTTP_PORT`` (the same variable the worker reads); the host from
``INGEST_HEALTHCHECK_HOST`` (default ``127.0.0.1``, the container's own loopback). Standard
library only, so it starts fast and cannot fail on an import of the worker's dependencies.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

LIVEZ_PATH = "/livez"
TIMEOUT_S = 3.0


def check(environ: dict[str, str] | os._Environ[str]) -> int:
    """Return 0 if ``GET http://HOST:INGEST_HTTP_PORT/livez`` answers 200, else 1."""
    port = environ.get("INGEST_HTTP_PORT", "")
    if not port.isdigit() or int(port) == 0:
        print(f"healthcheck: INGEST_HTTP_PORT is {port!r}; no HTTP port to probe", file=sys.stderr)
        return 1
    host = environ.get("INGEST_HEALTHCHECK_HOST", "127.0.0.1")
    url = f"http://{host}:{port}{LIVEZ_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(check(os.environ))
