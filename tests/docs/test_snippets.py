"""Every Python snippet of the documentation runs as written (README.md, and ``docs/**/*.md``
once it exists): each in its own interpreter, in a temporary directory, against the session's
real redis-server (``INGEST_REDIS_URL``, database emptied first). A snippet not meant to run
says why in ``<!-- not-run: why -->`` right before it (see :mod:`tests.docs.snippets`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.docs.snippets import Snippet, StrayMarker, collect, parse

SNIPPETS, STRAYS = collect(ROOT)
RUNNABLE = [s for s in SNIPPETS if s.not_run is None]


def test_the_readme_has_snippets_to_run():
    assert len(RUNNABLE) >= 2, [s.name(ROOT) for s in SNIPPETS]


@pytest.mark.redis
@pytest.mark.parametrize("snippet", RUNNABLE, ids=[s.name(ROOT) for s in RUNNABLE])
def test_snippet_runs_as_written(snippet: Snippet, redis_url, subprocess_env, tmp_path):
    # Given: the snippet as a script, the session's server in the environment
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code, encoding="utf-8")
    env = {**subprocess_env, "INGEST_REDIS_URL": redis_url}
    # When
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then
    assert result.returncode == 0, f"{snippet.name(ROOT)} failed:\n{result.stderr[-3000:]}"


def test_every_snippet_not_run_says_why_and_every_marker_has_a_snippet():
    silent = [s.name(ROOT) for s in SNIPPETS if s.not_run == ""]
    assert silent == [], "give a reason: <!-- not-run: why -->"
    assert [f"{m.path.relative_to(ROOT)}:{m.line}" for m in STRAYS] == []


def test_the_collector_reads_docs_markers_indented_fences_and_attributes(tmp_path):
    # Given: a README and a MkDocs tree with the shapes the real docs will have
    (tmp_path / "README.md").write_text("```python\nprint(1)\n```\n\n```sh\nls\n```\n")
    guide = tmp_path / "docs" / "guide" / "index.md"
    guide.parent.mkdir(parents=True)
    guide.write_text(
        "<!-- not-run: needs a handler module -->\n"
        '```py title="x.py"\nimport mymodule\n```\n'
        "* a list item:\n\n"
        "    ```python\n    if True:\n        print(2)\n    ```\n"
        "<!-- not-run: -->\n\n"
        "```python3\nx = 1\n```\n"
        "<!-- not-run: nothing follows -->\n"
        "text\n"
    )
    # When
    snippets, strays = collect(tmp_path)
    # Then
    assert [(s.path.name, s.line, s.code, s.not_run) for s in snippets] == [
        ("README.md", 1, "print(1)\n", None),
        ("index.md", 2, "import mymodule\n", "needs a handler module"),
        ("index.md", 7, "if True:\n    print(2)\n", None),
        ("index.md", 13, "x = 1\n", ""),
    ]
    assert [(m.path.name, m.line) for m in strays] == [("index.md", 16)]
    assert all(isinstance(item, Snippet | StrayMarker) for item in parse(guide))
