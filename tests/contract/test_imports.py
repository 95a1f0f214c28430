"""One-way imports: ``ingest`` never imports ``workers``; contract modules stay I/O-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {"keys", "codec", "jsontext", "streams", "settings", "telemetry", "errors"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ingest_never_imports_workers() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            m for m in imported_modules(p) if m.split(".")[0] == "workers"
        )
        for p in (ROOT / "ingest").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_contract_modules_import_no_redis_client() -> None:
    for name in CONTRACT:
        mods = imported_modules(ROOT / "ingest" / f"{name}.py")
        assert not {m for m in mods if m.split(".")[0] == "redis"}, name


ADMISSION = {
    "ingest.admission",
    "ingest.admitting",
    "ingest.resending",
    "ingest.durable",
    "ingest.blocked",
    "ingest.backlog",
    "ingest.backpressure",
}
"""The producer's admission machinery: only the dead-letter replay (``workers.dlq``) may use it,
so a replay obeys the stream's cap and high-water mark like any producer."""


DASHBOARD_READS = {"ingest.stats", "ingest.backlog"}
"""What the dashboard (``workers/web``) reads with, as the CLIs do: ``read_liveness`` and the
producer's recorded settings (``ingest.stats``) and the pure backlog rule (``ingest.backlog``).
It changes the stream only through ``workers.dlq``'s replay."""


def test_workers_stay_off_the_producer_side() -> None:
    """Workers share the contract and read models, never the producer's machinery."""
    producer_side = {
        "ingest.producer",
        "ingest.produce",
        "ingest.sources",
        "ingest.stats",
        *ADMISSION,
    }
    bad = {}
    for p in (ROOT / "workers").rglob("*.py"):
        used = imported_modules(p) & producer_side
        if p == ROOT / "workers" / "dlq.py":
            used -= ADMISSION
        if p.is_relative_to(ROOT / "workers" / "web"):
            used -= DASHBOARD_READS
        if used:
            bad[str(p.relative_to(ROOT))] = sorted(used)
    assert bad == {}


def test_a_worker_does_not_load_the_dashboard() -> None:
    """Running a worker never imports Starlette, Jinja2 or the dashboard package."""
    code = (
        "import sys, workers.cli, workers.runner, workers.dlq; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'starlette', 'jinja2', 'markupsafe', 'itsdangerous'} or m.startswith('workers.web')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycle_in_either_package() -> None:
    """Imports point one way, including the ones only type checkers follow."""
    graph: dict[str, set[str]] = {}
    for package in ("ingest", "workers"):
        for p in (ROOT / package).rglob("*.py"):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            graph[name] = {
                m for m in imported_modules(p) if m.split(".")[0] in ("ingest", "workers")
            }
    assert _cycle(graph) is None, _cycle(graph)
