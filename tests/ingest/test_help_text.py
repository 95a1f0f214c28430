"""Every CLI's --help is plain text: no reStructuredText markup, no Lua internals."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from ingest import admission, produce, stats
from ingest.helptext import plain_help
from tests.conftest import ROOT
from workers import cli, dlq

RST = re.compile(r"``|:(?:func|class|mod|meth|attr|data|exc|obj|ref):`|::$", re.MULTILINE)


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The help of ``parser`` and of each of its sub-commands."""
    texts = {parser.prog: parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                texts[sub.prog] = sub.format_help()
    return texts


def _admission_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        admission.main(["--help"])
    return capsys.readouterr().out


def test_help_of_every_cli_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    texts: dict[str, str] = {}
    for parser in (produce.build_parser(), stats._parser(), dlq.build_parser(), cli.build_parser()):
        texts.update(_helps(parser))
    texts["python -m ingest.admission"] = _admission_help(capsys)
    assert len(texts) == 9
    for prog, text in texts.items():
        assert not RST.search(text), f"{prog}: {RST.search(text)}"


def test_admission_help_says_what_it_is_for_not_lua_internals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _admission_help(capsys)
    assert "Load, print or check the ingest library of Redis Functions" in text
    assert "never grows past its cap" in text
    for internal in ("Lua", "KEYS", "ARGV", "XTRIM MINID", "2^53", "FCALL"):
        assert internal not in text


def test_plain_help_strips_roles_literals_and_literal_block_markers() -> None:
    doc = """``python -m x``: see :func:`ingest.a.b` and :class:`~ingest.c.D`.

    Operators::

        python -m x load
    """
    assert plain_help(doc) == (
        "python -m x: see ingest.a.b and ingest.c.D.\n\n    Operators:\n\n        python -m x load"
    )


def test_demo_help_is_plain_text_and_lists_its_options(subprocess_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--help"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not RST.search(result.stdout)
    for option in ("--input", "--sink", "--workers", "--timeout", "--keep"):
        assert option in result.stdout
