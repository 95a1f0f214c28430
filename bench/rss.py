"""Resident set size of a process from ``/proc/<pid>/status`` (Linux; no psutil needed)."""

from __future__ import annotations

from pathlib import Path


def rss_mb(pid: int) -> float:
    """``VmRSS`` of ``pid`` in MiB; 0.0 when the process is gone or the field is missing."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    return 0.0
