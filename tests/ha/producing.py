"""``python -m ingest.produce`` as a child process whose log lines are read as they come."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import wait_for


@dataclass(frozen=True, slots=True)
class Finished:
    """How a producer run ended: exit code, the summary line (``None`` if none), stderr."""

    code: int
    summary: dict[str, Any] | None
    stderr: str

    def errors(self) -> list[str]:
        """The ``error: ...`` lines."""
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]


class ProducerRun:
    """A producer child process (``python -m ingest.produce ARGS``, text logs).

    Args:
        args: the producer's arguments.
        env: the child's environment (the ``subprocess_env`` fixture).
        cwd: its working directory (a ``tmp_path``).
    """

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        command = [sys.executable, "-m", "ingest.produce", "--log-format", "text", *args]
        self.proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: list[str] = []
        self._out: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._read_out, daemon=True)
        self._out_reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._out.append(line.rstrip("\n"))

    def lines(self) -> list[str]:
        """The stderr lines so far."""
        with self._lock:
            return list(self._lines)

    def wait_for_line(self, text: str, timeout_s: float = 30.0) -> str:
        """The first stderr line containing ``text``, waiting up to ``timeout_s``.

        Raises:
            AssertionError: none in time (the lines so far in the message), or the process
                ended without one.
        """

        def found() -> str | None:
            hit = next((line for line in self.lines() if text in line), None)
            if hit is None and self.proc.poll() is not None:
                self._reader.join(timeout=5)
                hit = next((line for line in self.lines() if text in line), None)
                if hit is None:
                    raise AssertionError(f"exited {self.proc.returncode} without {text!r}:\n"
                                         + "\n".join(self.lines()))  # fmt: skip
            return hit

        try:
            return str(wait_for(found, timeout_s, interval_s=0.05, what=repr(text)))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(self.lines())) from None

    def finish(self, timeout_s: float = 60.0) -> Finished:
        """Wait for the exit; the summary is the last stdout line parsed as JSON."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                "the producer did not finish:\n" + "\n".join(self.lines())
            ) from None
        self._close()
        last = self._out[-1] if self._out else ""
        summary = json.loads(last) if last.startswith("{") else None
        return Finished(self.proc.returncode, summary, "\n".join(self.lines()))

    def kill(self) -> None:
        """SIGKILL if still running (test clean-up)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=5)
        self._out_reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
