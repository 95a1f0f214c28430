"""The ``ingest`` Redis Functions library: its code, its version, and loading it.

The library is assembled from the Lua files of ``ingest/lua/`` in :data:`PARTS` order into
one ``#!lua name=ingest`` chunk (https://redis.io/docs/latest/develop/programmability/
functions-intro/): ``common.lua`` (version and helpers), ``admission.lua`` (``ingest_admit``),
``worker.lua`` (the worker's server-side steps), ``meta.lua`` (``ingest_version``).

A Function rather than EVALSHA: it survives restarts and failovers, is replicated, works in
cluster pipelines, and a least-privilege user can run it with ``+fcall`` and no ``+eval``.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import redis
import redis.asyncio

from ingest.errors import IngestError

log = logging.getLogger(__name__)

PARTS = ("common.lua", "admission.lua", "worker.lua", "meta.lua")
"""The library's source files, in the order they are concatenated."""


def _assemble() -> str:
    folder = resources.files("ingest").joinpath("lua")
    return "\n".join(folder.joinpath(name).read_text("utf-8") for name in PARTS)


LIBRARY_CODE: str = _assemble()
"""The whole library source as ``FUNCTION LOAD`` takes it."""
LIBRARY_VERSION = int(re.findall(r"^local VERSION = (\d+)$", LIBRARY_CODE, re.MULTILINE)[0])
"""Version of the library this build ships; also the call protocol version."""
VERSION_FUNCTION = "ingest_version"


class AdmissionUnavailable(IngestError):
    """The library is missing or outdated and this user may not load it.

    The message tells the operator the command that loads it.
    """


def library_code() -> str:
    """The Lua source of the ``ingest`` library (for ``FUNCTION LOAD``)."""
    return LIBRARY_CODE


def loaded_version(client: redis.Redis) -> int | None:
    """Version of the loaded ``ingest`` library (``FCALL_RO ingest_version 0``), or ``None``."""
    try:
        return int(client.fcall_ro(VERSION_FUNCTION, 0))
    except redis.ResponseError as exc:
        if "function not found" in str(exc).lower():
            return None
        raise


def _decide(version: int | None) -> bool:
    """True when this build must load its library over ``version`` (missing or older)."""
    if version is not None and version > LIBRARY_VERSION:
        log.warning("ingest library version %s is newer than ours (%s)", version, LIBRARY_VERSION)
    return version is None or version < LIBRARY_VERSION


def _unavailable(version: int | None, exc: Exception) -> AdmissionUnavailable:
    return AdmissionUnavailable(
        f"the Redis Functions library 'ingest' (version {LIBRARY_VERSION}) is "
        f"{'missing' if version is None else f'at version {version}'} and this Redis user "
        f"may not load it ({exc}); an operator loads it with: python -m ingest.admission "
        "load --redis-url <admin URL>"
    )


async def loaded_version_async(client: redis.asyncio.Redis) -> int | None:
    """:func:`loaded_version` for an asyncio client."""
    try:
        return int(await client.fcall_ro(VERSION_FUNCTION, 0))
    except redis.ResponseError as exc:
        if "function not found" in str(exc).lower():
            return None
        raise


async def ensure_loaded_async(client: redis.asyncio.Redis) -> int:
    """:func:`ensure_loaded` for an asyncio client (the worker: once at start, and again when
    a call answers that the function is missing, e.g. after a restart without persistence).

    Raises:
        AdmissionUnavailable: loading was needed and the user lacks permission (NOPERM).
    """
    version = await loaded_version_async(client)
    if not _decide(version):
        return version or LIBRARY_VERSION
    try:
        await client.function_load(LIBRARY_CODE, replace=True)
    except redis.exceptions.NoPermissionError as exc:
        raise _unavailable(version, exc) from None
    log.info("loaded the ingest library version %s", LIBRARY_VERSION)
    return LIBRARY_VERSION


def ensure_loaded(client: redis.Redis) -> int:
    """Load the library (``FUNCTION LOAD REPLACE``) when it is missing or older than this build.

    A newer loaded version is left in place (logged): its functions refuse callers of
    another protocol with a clear error. Returns the version now loaded.

    Raises:
        AdmissionUnavailable: loading was needed and the user lacks permission (NOPERM).
    """
    version = loaded_version(client)
    if version is not None and version >= LIBRARY_VERSION:
        if version > LIBRARY_VERSION:
            log.warning(
                "ingest library version %s is newer than ours (%s)", version, LIBRARY_VERSION
            )
        return version
    try:
        client.function_load(LIBRARY_CODE, replace=True)
    except redis.exceptions.NoPermissionError as exc:
        raise AdmissionUnavailable(
            f"the Redis Functions library 'ingest' (version {LIBRARY_VERSION}) is "
            f"{'missing' if version is None else f'at version {version}'} and this Redis user "
            f"may not load it ({exc}); an operator loads it with: python -m ingest.admission "
            "load --redis-url <admin URL>"
        ) from None
    log.info("loaded the ingest library version %s", LIBRARY_VERSION)
    return LIBRARY_VERSION
