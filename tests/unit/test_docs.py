"""The docs stay current with the code."""

from __future__ import annotations

import re
from pathlib import Path

import spinerules
from spinerules.lang.diagnostics import CODES

ROOT = Path(__file__).resolve().parents[2]


def test_every_diagnostic_code_is_documented() -> None:
    text = (ROOT / "docs/contributors/diagnostics.md").read_text()
    documented = set(re.findall(r"`(SR\d{3})`", text))
    assert documented == set(CODES)


STAGES = {"1": "parse", "2": "names, imports, sources", "3": "types", "4": "consistency",
          "5": "run time and records", "6": "case files", "7": "population (SQL)"}


def diagnostic_table() -> list[str]:
    """The code table of docs/contributors/diagnostics.md, generated from ``CODES``."""
    rows = ["| code | stage | severity | message |", "|---|---|---|---|"]
    for code, (severity, message, _label) in CODES.items():
        rows.append(f"| `{code}` | {STAGES[code[2]]} | {severity.value} | {message} |")
    return rows


def test_the_diagnostic_table_is_generated_from_codes() -> None:
    """Paste the expected table from the failure message to bring the docs up to date."""
    lines = (ROOT / "docs/contributors/diagnostics.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    expected = diagnostic_table()
    assert table == expected, "\n" + "\n".join(expected)


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(spinerules) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(spinerules, name)).__name__ == "module"}
    assert public - modules == set(spinerules.__all__)


def test_language_reference_examples_parse() -> None:
    from spinerules.lang.parser import parse
    from spinerules.lang.source import Source

    text = (ROOT / "docs/authors/language.md").read_text()
    blocks = re.findall(r"```rules\n(.*?)```", text, re.S)
    assert len(blocks) >= 10
    for i, block in enumerate(blocks):
        tree, problems = parse(Source(f"example{i}.rules", block))
        assert problems == [], (block, problems)
        assert tree is not None


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_in_the_docs_lead_to_files() -> None:
    """Every relative link in README.md and docs/ names a file or folder that exists."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).resolve().exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert len(pages) > 10
    assert not broken, broken
