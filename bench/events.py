"""The synthetic sensor readings every scenario sends, so payload sizes match across them."""

from __future__ import annotations

from typing import Any

SOURCE = "bench"
TYPE = "reading"


def payload(seq: int) -> dict[str, Any]:
    """A sensor reading of about 100 bytes of JSON, like the buoy file's rows."""
    return {
        "station": f"buoy-{seq % 16:02d}",
        "seq": seq,
        "sea_surface_temperature_c": 15.0 + (seq % 100) / 10,
        "wave_height_m": 0.5 + (seq % 30) / 20,
    }


def event_id(run: str, seq: int) -> str:
    """A deduplication key unique per run and sequence number."""
    return f"{SOURCE}:{run}:{seq}"
