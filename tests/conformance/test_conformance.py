"""The language conformance suite: cases as data (`*.yaml` here), read by this one runner.

Each case is one pytest item, named `<file>/<case name>`. The case format is described in
README.md beside this file. In short: a `source` snippet and one or more expectations:
`ast` (the `spinerules.lang.printer.dump` of the parsed snippet), `formatted` (its canonical
text), `error` / `warning` (diagnostic codes, optionally `at: line:column`) or `ok`.
Cases with `check: true` go through every static check, after SHARED_HEADER; the others
are only parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from spinerules import api
from spinerules.lang import diagnostics as dg
from spinerules.lang.parser import parse
from spinerules.lang.printer import dump, format_source
from spinerules.lang.source import Source

HERE = Path(__file__).resolve().parent

#: prepended to the snippet of a `check: true` case (unless `header: false`); positions in
#: `at` stay relative to the snippet
SHARED_HEADER = """\
guideline conformance "Conformance case"
  record spine.Patient
source S:
  title "A source"
  url "https://example.org/s"
"""
HEADER_LINES = SHARED_HEADER.count("\n")

KEYS = {"name", "source", "ast", "formatted", "error", "warning", "at", "ok", "check",
        "header", "note"}
EXPECTATIONS = {"ast", "formatted", "error", "warning", "ok"}


def load_cases() -> Iterator[Any]:
    for path in sorted(HERE.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            yield pytest.param(case, id=f"{path.stem}/{case['name']}")


CASES = list(load_cases())


def test_the_suite_is_well_formed() -> None:
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids)), "case names must be unique within a file"
    assert len(CASES) >= 60
    for p in CASES:
        case = p.values[0]
        assert set(case) <= KEYS, (p.id, set(case) - KEYS)
        assert set(case) & EXPECTATIONS, f"{p.id} expects nothing"
        assert not (case.get("ok") and (case.get("error") or case.get("warning"))), p.id
        assert "at" not in case or isinstance(case.get("error") or case.get("warning"), str)
        for at in codes_of(case.get("at")):  # YAML reads an unquoted 1:30 as a number
            assert isinstance(at, str) and re.fullmatch(r"\d+:\d+", at), (p.id, at)


def codes_of(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def diagnose(case: dict[str, Any], tmp_path: Path) -> tuple[list[dg.Diagnostic], int]:
    """The diagnostics of a case, and how many lines were put before its snippet."""
    text: str = case["source"]
    if not case.get("check"):
        _, problems = parse(Source("case.rules", text))
        return problems, 0
    offset = 0
    if case.get("header", True):
        text, offset = SHARED_HEADER + text, HEADER_LINES
    _, problems = api.analyse(tmp_path / "case.rules", root=tmp_path, text=text)
    return problems, offset


def where(d: dg.Diagnostic, offset: int) -> str:
    return f"{d.span.line - offset}:{d.span.column}"


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any], tmp_path: Path) -> None:
    source: str = case["source"]
    problems, offset = diagnose(case, tmp_path)
    shown = [f"{d.code} {where(d, offset)} {d.message}" for d in problems]
    errors = [d for d in problems if d.is_error]
    warnings = [d for d in problems if not d.is_error]

    for kind, found in (("error", errors), ("warning", warnings)):
        for code in codes_of(case.get(kind)):
            assert code in {d.code for d in found}, f"expected {kind} {code}, got {shown}"
            for at in codes_of(case.get("at")):
                assert at in [where(d, offset) for d in found if d.code == code], shown
    if case.get("ok"):
        assert not errors, shown

    if "ast" in case or "formatted" in case:
        assert not errors, shown
        tree, _ = parse(Source("case.rules", source))
        assert tree is not None
        if "ast" in case:
            assert dump(tree) == case["ast"].strip()
        formatted, _ = format_source(Source("case.rules", source))  # checks the round trip
        assert formatted is not None
        if "formatted" in case:
            assert formatted == case["formatted"]
        again, _ = format_source(Source("case.rules", formatted))
        assert again == formatted
