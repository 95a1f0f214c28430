"""One-way imports: ``ingest`` never imports ``workers``; contract modules stay I/O-free."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {"keys", "codec", "streams", "settings", "telemetry", "errors"}


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
        if used:
            bad[str(p.relative_to(ROOT))] = sorted(used)
    assert bad == {}
