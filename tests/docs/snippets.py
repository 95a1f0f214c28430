"""Fenced Python blocks of the documentation: README.md, and ``docs/**/*.md`` when it exists.

A block whose info string is ``python``, ``py`` or ``python3`` (attributes after it, such as
MkDocs' ``title="x.py"``, are allowed) is a snippet. A snippet not meant to run carries the
comment ``<!-- not-run: why -->`` on the last non-blank line before its opening fence; the
reason is required. Fences may be indented (inside a list item or an admonition): the code is
dedented by the fence's indentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PYTHON = frozenset({"python", "py", "python3"})
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*\{?\.?(?P<info>[\w+-]*)")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run\s*:?(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True, slots=True)
class Snippet:
    """One fenced Python block.

    Attributes:
        path: the Markdown file.
        line: 1-based line of the opening fence.
        code: the block's text, dedented.
        not_run: ``None`` for a snippet to run; else the reason given in its
            ``<!-- not-run: ... -->`` comment ("" when the comment gives none).
    """

    path: Path
    line: int
    code: str
    not_run: str | None

    def name(self, root: Path) -> str:
        """``README.md:231``: where the snippet is, relative to ``root``."""
        return f"{self.path.relative_to(root)}:{self.line}"


@dataclass(frozen=True, slots=True)
class StrayMarker:
    """A ``<!-- not-run -->`` comment not followed by a Python block (stale, or misplaced)."""

    path: Path
    line: int


def documents(root: Path) -> list[Path]:
    """README.md and every ``docs/**/*.md`` under ``root``, sorted."""
    found = [root / "README.md"] if (root / "README.md").exists() else []
    if (root / "docs").is_dir():
        found += sorted((root / "docs").rglob("*.md"))
    return found


def parse(path: Path) -> Iterator[Snippet | StrayMarker]:
    """The Python snippets of the Markdown file ``path`` and its stray markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    marker: tuple[int, str] | None = None  # (line, reason) of a pending not-run comment
    number = 0
    while number < len(lines):
        text = lines[number]
        number += 1
        fence = _FENCE.match(text)
        if fence is None:
            found = _NOT_RUN.match(text)
            if found is not None:
                if marker is not None:
                    yield StrayMarker(path, marker[0])
                marker = (number, found["reason"].strip())
            elif text.strip() and marker is not None:
                yield StrayMarker(path, marker[0])
                marker = None
            continue
        start, indent, close = number, len(fence["indent"]), fence["fence"]
        body: list[str] = []
        while number < len(lines) and not lines[number].strip().startswith(close):
            body.append(_dedent(lines[number], indent))
            number += 1
        number += 1  # the closing fence
        if fence["info"].lower() in PYTHON:
            yield Snippet(
                path, start, "\n".join(body) + "\n", None if marker is None else marker[1]
            )
        elif marker is not None:
            yield StrayMarker(path, marker[0])
        marker = None
    if marker is not None:
        yield StrayMarker(path, marker[0])


def _dedent(line: str, indent: int) -> str:
    """``line`` without up to ``indent`` leading blanks (the fence's own indentation)."""
    blanks = len(line) - len(line.lstrip(" \t"))
    return line[min(blanks, indent) :]


def collect(root: Path) -> tuple[list[Snippet], list[StrayMarker]]:
    """Every snippet and stray marker of the documents under ``root``."""
    snippets: list[Snippet] = []
    strays: list[StrayMarker] = []
    for path in documents(root):
        for item in parse(path):
            if isinstance(item, Snippet):
                snippets.append(item)
            else:
                strays.append(item)
    return snippets, strays
