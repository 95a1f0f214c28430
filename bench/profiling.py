"""``--profile DIR``: attach ``py-spy record`` to the benchmark's processes while they run.

py-spy is not a dependency of the project: ``pip install py-spy`` into the virtualenv to use
this. Each profile is a collapsed-stack text file (``--format raw``), one per process, named
``<scenario>-<role>.txt``; ``--nonblocking`` keeps py-spy from pausing the process it samples,
so the figures of a profiled run stay close to an unprofiled one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class Profiler:
    """py-spy recorders attached to running processes (a no-op when ``directory`` is None)."""

    def __init__(self, directory: Path | None, rate_hz: int = 200) -> None:
        self.directory = directory
        self.rate_hz = rate_hz
        self.recorders: list[subprocess.Popen[bytes]] = []
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            if shutil.which("py-spy") is None:
                raise RuntimeError("--profile needs py-spy on PATH: pip install py-spy")

    def attach(self, pid: int | None, name: str) -> None:
        """Record ``pid`` until it exits, into ``<directory>/<name>.txt``."""
        if self.directory is None or pid is None:
            return
        out = self.directory / f"{name}.txt"
        cmd = ["py-spy", "record", "--pid", str(pid), "--rate", str(self.rate_hz)]
        cmd += ["--format", "raw", "--nonblocking", "--output", str(out)]
        self.recorders.append(
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def finish(self, timeout_s: float = 60.0) -> None:
        """Wait for every recorder to write its file (they stop when their process exits)."""
        for recorder in self.recorders:
            try:
                recorder.wait(timeout_s)
            except subprocess.TimeoutExpired:
                recorder.terminate()
                recorder.wait()
        self.recorders.clear()
