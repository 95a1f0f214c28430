"""The vendored htmx is the recorded release with its licence, the pages load nothing from
elsewhere, and no template marks stream text safe."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "workers" / "web"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_the_vendored_htmx_is_the_recorded_release_with_its_licence():
    script = (WEB / "static" / "htmx.min.js").read_bytes()
    notes = (WEB / "static" / "VENDORED.md").read_text()

    assert hashlib.sha256(script).hexdigest() == HTMX_SHA256
    assert HTMX_SHA256 in notes and "2.0.11" in notes
    assert "Zero-Clause BSD" in (WEB / "static" / "htmx.LICENSE").read_text()


def test_templates_load_nothing_from_elsewhere_and_mark_nothing_safe():
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", ""), template.name
        assert "autoescape false" not in text, template.name
        assert not re.search(r'(src|href)="(https?:)?//', text), template.name
        assert "<script>" not in text and "style=" not in text, template.name  # CSP: no inline
