"""``--rejects FILE``: the rejected records themselves, to fix and feed again, and why.

``FILE`` gets each rejected record's bytes as they were read (bytes that are not UTF-8
included, in the input's encoding), one record after another, each ending in ``\\n``; a CSV
record that spans lines stays whole, and the CSV header is written once before the first CSV
record, so ``FILE`` is an input of the same format. ``FILE.reasons`` gets one line per reject:

* ``FILE:2: in.csv:7: 3 columns, the header has 2``: the record is at line 2 of ``FILE``
  (``FILE:2-3`` when it spans lines) and came from line 7 of ``in.csv``; editors jump to the
  first place, which is where to fix it;
* ``in.log:9: line is 209,715,211 bytes, ... (not written to FILE)``: a reject with nothing
  to write (a line too long to be read whole, noted by its size; a read error).

Both files are created (emptied) when the run starts, so a run without rejects leaves them
empty rather than stale. A leading UTF-8 byte order mark of the input's first line is not
copied (it would sit in the middle of ``FILE``).
"""

from __future__ import annotations

import codecs
import os
import shlex
from typing import IO

from ingest.errors import ConfigError
from ingest.records import Reject
from ingest.settings import ProducerSettings
from ingest.sources import default_source

__all__ = ["RejectsFile", "open_rejects", "reasons_path", "refeed_hint"]


def reasons_path(path: str) -> str:
    """Where the reasons of ``path`` go: ``path + ".reasons"``."""
    return f"{path}.reasons"


class RejectsFile:
    """Writes rejected records to ``path`` and their reasons to :func:`reasons_path`.

    Attributes:
        path: the records' file, as given.
        written: records written to ``path``.
        noted: rejects noted in the reasons file without a record (nothing to write).

    Raises:
        ConfigError: ``path`` or its reasons file is the input itself (it would be emptied
            before being read).
        OSError: a file cannot be created.
    """

    def __init__(self, path: str, input: str | None = None) -> None:
        reasons = reasons_path(path)
        if input not in (None, "-"):
            for target in (path, reasons):
                if os.path.realpath(target) == os.path.realpath(input):
                    raise ConfigError(f"--rejects {path}: {target} is the input itself")
        self.path = path
        self.written = 0
        self.noted = 0
        self._line = 0  # lines written to path
        self._header_written = False
        self._records: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed by close())
        try:
            self._reasons: IO[str] = open(reasons, "w", encoding="utf-8")  # noqa: SIM115
        except OSError:
            self._records.close()
            raise

    def write(self, reject: Reject) -> None:
        """Write ``reject``'s record (if it has one) and its reason line."""
        if reject.raw is None:
            self.noted += 1
            self._reasons.write(f"{reject} (not written to {self.path})\n")
            return
        if reject.header is not None and not self._header_written:
            self._put(_without_bom(reject.header, 1))
            self._header_written = True
        first = self._line + 1
        self._put(_without_bom(reject.raw, reject.line))
        self.written += 1
        where = f"{first}-{self._line}" if self._line > first else f"{first}"
        self._reasons.write(f"{self.path}:{where}: {reject}\n")

    def _put(self, raw: bytes) -> None:
        self._records.write(raw + b"\n")
        self._line += raw.count(b"\n") + 1

    def flush(self) -> None:
        """Push what is written to the operating system."""
        self._records.flush()
        self._reasons.flush()

    def close(self) -> None:
        """Close both files."""
        try:
            self._records.close()
        finally:
            self._reasons.close()

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _without_bom(raw: bytes, line: int) -> bytes:
    """``raw`` without a UTF-8 byte order mark when it is the input's first line."""
    return raw[len(codecs.BOM_UTF8) :] if line == 1 and raw.startswith(codecs.BOM_UTF8) else raw


def open_rejects(settings: ProducerSettings) -> RejectsFile | None:
    """The ``--rejects`` files, created (emptied) now; ``None`` without ``--rejects``.

    Raises:
        ConfigError: ``--rejects`` names the input itself.
        OSError: a file cannot be created.
    """
    if settings.rejects is None:
        return None
    return RejectsFile(settings.rejects, settings.input)


def refeed_hint(rejects: RejectsFile, settings: ProducerSettings, fmt: str) -> str:
    """Where the rejected records are and the command that sends them again once fixed:
    the input options of this run (``fmt``: the format it was read in, after sniffing), with
    ``--input`` the rejects file.

    ``--source`` is kept only with ``--id-field``: ids from values then share the first run's
    namespace, as they should. Line-numbered ids are better off namespaced by the rejects file
    itself: a fixed record identical to a row the first run sent at the same line number would
    otherwise get that row's id and be dropped as a repeat.
    """
    flags = ["--input", rejects.path]
    if settings.id_field is not None:
        flags += ["--source", settings.source or default_source(settings.input or "-")]
    if fmt:
        flags += ["--format", fmt]
    for flag, value in (
        ("--type", settings.type if settings.type != "reading" else None),
        ("--id-field", settings.id_field),
        ("--csv-types", settings.csv_types),
        ("--encoding", settings.encoding if settings.encoding != "utf-8" else None),
    ):
        if value is not None:
            flags += [flag, value]
    if settings.raw_ids:
        flags.append("--raw-ids")
    count = "1 rejected record" if rejects.written == 1 else f"{rejects.written} rejected records"
    return (
        f"{count} written to {rejects.path} (why: {reasons_path(rejects.path)}); once fixed, "
        f"send them with: python -m ingest.produce {shlex.join(flags)}"
    )
