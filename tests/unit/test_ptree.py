"""Differential test of our parse trees (`spinerules.lang.ptree`) against lark's own.

The parser replaces lark's tree building (``propagate_positions=True``) with one callback per
rule, and lark's lexer and parser loop with a fused loop over lark's tables. Each must give
lark's tree: the same node names, the same tokens, and every node the same start and end
(lark's ``meta``), on every bundled guideline, every conformance snippet that parses, and
generated files. On input that does not parse, the fused loop gives up and lark reports.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from spinerules.lang import nodes as n
from spinerules.lang.parser import _driver, _lark, parse_tree
from spinerules.lang.printer import print_file
from spinerules.lang.ptree import PTree
from spinerules.lang.resources import grammar_path, guidelines_dir
from spinerules.lang.source import Source

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from properties.test_roundtrip import files

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"


@functools.cache
def reference() -> Lark:
    """lark building the tree itself, with its own position propagation."""
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr",
                start=["start", "item"], propagate_positions=True, maybe_placeholders=False)


def shape(node: Any) -> Any:
    """A comparable view of either tree: names, tokens with positions, node extents."""
    if isinstance(node, Token):
        return ("token", node.type, str(node), node.start_pos, node.line, node.column,
                node.end_pos, node.end_line, node.end_column)
    if isinstance(node, Tree):
        meta = node.meta
        extent = None if meta.empty else (meta.start_pos, meta.line, meta.column,
                                          meta.end_pos, meta.end_line, meta.end_column)
        return (node.data, extent, [shape(c) for c in node.children])
    assert isinstance(node, PTree)
    first, last = node.first, node.last
    extent = None if first is None or last is None else (
        first.start_pos, first.line, first.column, last.end_pos, last.end_line, last.end_column)
    return (node.data, extent, [shape(c) for c in node.children])


def same_tree(text: str) -> None:
    """lark's tree == our callbacks' tree under lark's loop == under our fused loop."""
    theirs = shape(reference().parse(text, start="start"))
    assert shape(_lark().parse(text, start="start")) == theirs
    driver = _driver()
    assert driver is not None
    assert shape(driver.parse(text)) == theirs


def bundled() -> list[Path]:
    return sorted(guidelines_dir().rglob("*.rules"))


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
def test_bundled_guidelines_give_lark_s_tree(path: Path) -> None:
    same_tree(path.read_text(encoding="utf-8"))


def snippets() -> list[str]:
    out = []
    for path in sorted(CONFORMANCE.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            try:
                reference().parse(case["source"], start="start")
            except UnexpectedInput:  # cases of parse errors are not compared
                continue
            out.append(case["source"])
    return out


def test_conformance_snippets_give_lark_s_tree() -> None:
    cases = snippets()
    assert len(cases) > 100
    for text in cases:
        same_tree(text)


def test_brackets_widen_the_parent_not_the_child() -> None:
    """``( a or b )``: the `or` node spans `a or b`; the `and` node around it, the brackets."""
    text = "define d: x and (a or b)\n"
    ours = _lark().parse(text, start="start")
    define = ours.children[0]
    and_ = define.children[1]
    or_ = and_.children[1]
    assert (and_.data, or_.data) == ("and_", "or_")
    assert text[or_.first.start_pos:or_.last.end_pos] == "a or b"
    assert text[and_.first.start_pos:and_.last.end_pos] == "x and (a or b)"
    same_tree(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files)
def test_generated_files_give_lark_s_tree(file: n.File) -> None:
    same_tree(print_file(file))


@pytest.mark.parametrize("text", [
    "rule r:\n  when a and\n",          # cut short
    "define d: 1 +\nrule r: when x warn c cite S\n",
    "rule r:\n  when a = b\n  warn c cite S\n",  # `=` is no token here
    "define d: \"unterminated\n",
    "define 3: x\n",
])
def test_input_that_does_not_parse_is_left_to_lark(text: str) -> None:
    driver = _driver()
    assert driver is not None
    assert driver.parse(text) is None
    with pytest.raises(UnexpectedInput):
        reference().parse(text, start="start")
    tree, problems = parse_tree(Source("x.rules", text))
    assert tree is None and problems and problems[0].code.startswith("SR1")
