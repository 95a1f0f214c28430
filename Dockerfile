# syntax=docker/dockerfile:1
# redis-ingest worker image. Build: docker build -t redis-ingest .
#
# Two stages: the builder turns the checkout into a wheel and installs it into a virtualenv; the
# runtime stage copies only that virtualenv, so no compiler, pip cache or source tree ships.
# Every runtime dependency (redis, hiredis, OpenTelemetry, rich) has a manylinux wheel for
# CPython 3.11, so the builder needs no compiler either.
#
# PID 1: ENTRYPOINT is in exec form, so `python -m workers` IS process 1 and receives SIGTERM
# from `docker stop` or the kubelet directly (no shell in between that would swallow it). The
# worker installs its own SIGTERM/SIGINT handlers (graceful drain up to INGEST_SHUTDOWN_TIMEOUT)
# and spawns no children, so it needs no init; zombie reaping does not arise.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY workers ./workers
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install /wheels/*.whl \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INGEST_HTTP_PORT=9464 \
    INGEST_HTTP_HOST=0.0.0.0 \
    INGEST_SINK=sqlite:////var/lib/ingest/ingest.db
RUN groupadd --system --gid 10001 ingest \
    && useradd --system --uid 10001 --gid ingest --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin ingest \
    && mkdir -p /var/lib/ingest \
    && chown ingest:ingest /var/lib/ingest
COPY --from=build /opt/venv /opt/venv
COPY data/ /app/data/
COPY deploy/docker/healthcheck.py /app/healthcheck.py
WORKDIR /app
USER 10001:10001
VOLUME ["/var/lib/ingest"]
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]
ENTRYPOINT ["python", "-m", "workers"]
CMD []
