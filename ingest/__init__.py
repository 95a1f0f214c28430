"""Producer side of the pipeline, and the wire contract the workers import.

Contract modules (I/O-free, importable by ``workers``): :mod:`ingest.keys`,
:mod:`ingest.codec` (with :mod:`ingest.jsontext`), :mod:`ingest.streams`, :mod:`ingest.settings`,
:mod:`ingest.telemetry`, :mod:`ingest.errors`.
Producer modules: :mod:`ingest.producer`, :mod:`ingest.backpressure`,
:mod:`ingest.admission`, :mod:`ingest.sources`, :mod:`ingest.produce` (CLI),
:mod:`ingest.stats` (CLI).
"""

from ingest.codec import Event
from ingest.errors import BackpressureTimeout, ConfigError, DecodeError, IngestError

__all__ = ["BackpressureTimeout", "ConfigError", "DecodeError", "Event", "IngestError"]
