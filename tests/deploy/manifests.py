"""Readers for the deployment files (Dockerfile, systemd units and env files, Kubernetes YAML)
and the set of environment variables the code reads, for the tests in this package."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingest.logs import LOG_FORMAT_ENV
from ingest.settings import PRODUCER_OPTIONS, REDIS_OPTIONS, STREAM_OPTIONS, Option
from workers.settings import WORKER_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HEALTHCHECK_SCRIPT = ROOT / "deploy" / "docker" / "healthcheck.py"
SYSTEMD_DIR = ROOT / "deploy" / "systemd"
WORKER_UNIT = SYSTEMD_DIR / "ingest-worker@.service"
PRODUCE_UNIT = SYSTEMD_DIR / "ingest-produce@.service"
ENV_EXAMPLE = SYSTEMD_DIR / "ingest.env.example"
K8S_DIR = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "compose.yaml"

ALL_OPTIONS: tuple[Option, ...] = (
    *REDIS_OPTIONS,
    *STREAM_OPTIONS,
    *PRODUCER_OPTIONS,
    *WORKER_OPTIONS,
)
# Read outside the Option tables: by deploy/docker/healthcheck.py, and by ingest.logs.
OTHER_VARIABLES = frozenset({"INGEST_HEALTHCHECK_HOST", LOG_FORMAT_ENV})
INGEST_NAME = re.compile(r"\bINGEST_[A-Z0-9_]+\b")


def code_variables() -> dict[str, Option]:
    """``{variable: Option}`` for every ``INGEST_*`` variable the producer or worker reads."""
    return {option.env: option for option in ALL_OPTIONS if option.env is not None}


def option_for(variable: str) -> Option:
    """The :class:`Option` read from ``variable`` (KeyError if none)."""
    return code_variables()[variable]


# ---- Dockerfile ----------------------------------------------------------------------------

DOCKER_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    """One logical Dockerfile instruction (continuations joined, comments dropped)."""

    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split ``text`` into instructions, following Docker's rules for ``\\`` continuations
    and for comment lines (dropped, also inside a continued instruction)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if continued:
            continue
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "Dockerfile ends inside a continued instruction"
    return instructions


def exec_form(args: str) -> list[str]:
    """Parse an exec-form (JSON array) argument; AssertionError for shell form."""
    value = json.loads(args)
    assert isinstance(value, list), f"not a JSON array: {args}"
    assert all(isinstance(item, str) for item in value), f"not all strings: {args}"
    return value


def env_pairs(args: str) -> dict[str, str]:
    """``ENV A=1 B=2`` -> ``{"A": "1", "B": "2"}`` (the ``key=value`` form only)."""
    pairs = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        assert sep, f"ENV uses the legacy 'ENV key value' form: {args}"
        pairs[key] = value
    return pairs


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions of the last ``FROM`` stage (what the image is)."""
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    return instructions[starts[-1] :]


# ---- systemd ---------------------------------------------------------------------------------


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``{section: [(key, value), ...]}`` of a unit file, keeping repeated keys in order
    (systemd allows them; configparser does not)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    """Every value of ``key`` in ``section``, in order."""
    return [value for k, value in unit.get(section, []) if k == key]


def unit_value(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    """The single value of ``key`` in ``section`` (AssertionError if absent or repeated)."""
    values = unit_values(unit, section, key)
    assert len(values) == 1, f"[{section}] {key}= appears {len(values)} times"
    return values[0]


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of an EnvironmentFile (comments and blanks skipped)."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not KEY=value"
        values[key.strip()] = value.strip()
    return values


def systemd_seconds(value: str) -> float:
    """A systemd time span (``40``, ``40s``, ``1min 30s``, ``500ms``) in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


# ---- Kubernetes ------------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(file, document)`` for every YAML document under ``deploy/k8s``."""
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                yield path, document


def k8s_object(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest of ``kind`` (and ``name``, when given) under ``deploy/k8s``."""
    found = [
        doc
        for _, doc in k8s_documents()
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(pod_owner: dict[str, Any], name: str) -> dict[str, Any]:
    """The container ``name`` in a Deployment's or Job's pod template."""
    containers = pod_owner["spec"]["template"]["spec"]["containers"]
    matches = [c for c in containers if c["name"] == name]
    assert len(matches) == 1, f"no container {name!r}"
    found: dict[str, Any] = matches[0]
    return found
