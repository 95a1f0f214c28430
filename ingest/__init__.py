"""Producer side of the pipeline, and the wire contract the workers import.

Contract modules (I/O-free, importable by ``workers``): :mod:`ingest.keys`,
:mod:`ingest.codec` (with :mod:`ingest.jsontext`), :mod:`ingest.streams`, :mod:`ingest.settings`,
:mod:`ingest.telemetry`, :mod:`ingest.errors`; for operators, :mod:`ingest.pause` (the pause
flag a worker polls) and :mod:`ingest.workerinfo` (what a worker publishes about itself).
Producer modules: :mod:`ingest.producer` (buffers and encodes), :mod:`ingest.admitting` (the one
admit-and-wait), :mod:`ingest.admission` (the Function call), :mod:`ingest.backpressure`,
:mod:`ingest.blocked`, :mod:`ingest.preflight`; input: :mod:`ingest.lines`,
:mod:`ingest.records`, :mod:`ingest.sources` (with :mod:`ingest.csvinput`,
:mod:`ingest.csvtypes`, :mod:`ingest.sniff`, :mod:`ingest.fieldpath`), :mod:`ingest.rejects`;
the CLI :mod:`ingest.produce` with :mod:`ingest.feeding`. The backlog rule:
:mod:`ingest.backlog` (pure), read by :mod:`ingest.groupstate`. CLIs: :mod:`ingest.produce`,
:mod:`ingest.stats`, :mod:`ingest.groups`, :mod:`ingest.admission`.
"""

from ingest.codec import Event
from ingest.errors import BackpressureTimeout, ConfigError, DecodeError, IngestError

__all__ = ["BackpressureTimeout", "ConfigError", "DecodeError", "Event", "IngestError"]
