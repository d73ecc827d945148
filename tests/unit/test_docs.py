"""The docs stay current with the code."""

from __future__ import annotations

import re
from pathlib import Path

import spinerules
from spinerules.diagnostics import CODES

ROOT = Path(__file__).resolve().parents[2]


def test_every_diagnostic_code_is_documented() -> None:
    text = (ROOT / "docs/contributors/diagnostics.md").read_text()
    documented = set(re.findall(r"`(SR\d{3})`", text))
    assert documented == set(CODES)


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(spinerules) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(spinerules, name)).__name__ == "module"}
    assert public - modules == set(spinerules.__all__)


def test_language_reference_examples_parse() -> None:
    from spinerules.parser import parse
    from spinerules.source import Source

    text = (ROOT / "docs/authors/language.md").read_text()
    blocks = re.findall(r"```rules\n(.*?)```", text, re.S)
    assert len(blocks) >= 10
    for i, block in enumerate(blocks):
        tree, problems = parse(Source(f"example{i}.rules", block))
        assert problems == [], (block, problems)
        assert tree is not None
