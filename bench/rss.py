"""Resident set size and CPU time of a process from ``/proc`` (Linux; no psutil needed)."""

from __future__ import annotations

import os
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


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` from ``/proc/<pid>/stat``; 0.0 when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces; utime and stime follow its closing paren.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
