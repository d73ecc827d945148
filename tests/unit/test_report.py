"""Reports for people (issue #12): short reasons, questions, Markdown, HTML, `explain`."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

import spinerules
from spinerules.cli import main
from spinerules.engine.report import Glossary, question, render_html, render_markdown, render_text

ROOT = Path(__file__).resolve().parents[2]
FOUNDING = ROOT / "examples" / "patients" / "founding-case.json"
AS_OF = "2026-02-18"


@pytest.fixture(scope="module")
def founding() -> tuple[spinerules.Guideline, spinerules.Result]:
    g = spinerules.load("vcf")
    return g, g.evaluate(json.loads(FOUNDING.read_text()), as_of=AS_OF)


def cli(*args: str) -> str:
    out = CliRunner().invoke(main, list(args))
    assert out.exit_code == 0, out.output
    return out.output


def test_founding_case_text_has_short_lines_and_no_repeated_chain() -> None:
    text = cli("eval", "vcf", str(FOUNDING), "--as-of", AS_OF)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 160
    # a reason line (with its wrapped continuation) may repeat only when it is short: the
    # shared chain behind many recommendations is spelt out once, under "Terms used above"
    reasons: list[str] = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith("why: "):
            block = [line.strip()]
            for more in lines[i + 1:]:
                if not more.startswith("        "):
                    break
                block.append(more.strip())
            reasons.append(" ".join(block))
    assert len(reasons) >= 15
    repeated = [r for r in set(reasons) if reasons.count(r) > 1 and len(r) > 80]
    assert repeated == []
    assert "because: " not in text  # the old chains
    terms = text.split("TERMS USED ABOVE", 1)[1].split("SOURCES", 1)[0]
    defined = [line.split(":")[0].strip(" -") for line in terms.splitlines()
               if line.startswith("  - ")]
    assert "bone plan indicated" in defined and "conservative pathway" in defined
    assert len(defined) == len(set(defined))  # each define once


def test_trace_shows_the_full_chain(founding: tuple[spinerules.Guideline, spinerules.Result]
                                    ) -> None:
    text = cli("eval", "vcf", str(FOUNDING), "--as-of", AS_OF, "--trace")
    assert "full chain: bone_plan_indicated = yes; via bone_plan_indicated: adult = yes" in \
        text.replace("\n        ", " ")
    assert "\nTRACE\n" in text


def test_missing_facts_are_questions_in_words(
        founding: tuple[spinerules.Guideline, spinerules.Result]) -> None:
    g, result = founding
    text = render_text(result, g.glossary())
    section = text.split("QUESTIONS TO ASK", 1)[1].split("\n\n", 1)[0]
    assert "ask: Estimated glomerular filtration rate, mL/min/1.73m2: what value?" in section
    assert "ask: Fracture 1: Fracture morphology (TLICS): which of compression, burst," in section
    assert "the answers would decide: Arrange a spine-surgical assessment today" in section
    assert "S5.red_flag_urgent" not in section  # rules in words, not ids
    undecided = text.split("NOT YET DECIDED", 1)[1].split("\n\n", 1)[0]
    assert "Look for a secondary cause of bone loss" in undecided
    assert "ask: Lowest DXA T-score: what value?" in undecided
    assert "S14.secondary_cause_workup" not in undecided


def test_question_wording() -> None:
    g = Glossary.of(spinerules.load("vcf").record_type)
    assert question("neuro.deficit", g) == "Any new neurological deficit: yes or no?"
    assert question("fractures[1].level", g).startswith("Fracture 2: Vertebral level")
    assert question("age", g) == "Age in whole years: what value (years)?"
    assert question("no_such.field", g) == "No such field?"  # no glossary entry: the path


def test_markdown_is_a_document_not_a_code_fence(
        founding: tuple[spinerules.Guideline, spinerules.Result]) -> None:
    text = cli("eval", "vcf", str(FOUNDING), "--as-of", AS_OF, "--format", "markdown")
    assert "```" not in text
    assert text.startswith("# Osteoporotic vertebral compression fracture (vcf 1.0.0)\n")
    assert "\n## Questions to ask\n" in text and "\n## Sources\n" in text
    assert re.search(r"^- \*\*Order bone densitometry", text, re.M)
    assert "[link](https://doi.org/10.1016/j.jacr.2017.02.018)" in text
    assert "translation\\_rotation" in text  # Markdown's specials escaped


def test_markdown_and_html_escape_what_a_guideline_says(
        founding: tuple[spinerules.Guideline, spinerules.Result]) -> None:
    import attrs

    g, result = founding
    evil = attrs.evolve(result, patient="<script>alert(1)</script> *x* [y](z)")
    page = render_html(evil, g.glossary())
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    doc = render_markdown(evil, g.glossary())
    assert "\\<script\\>" in doc and "\\*x\\* \\[y\\](z)" in doc


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained(founding: tuple[spinerules.Guideline, spinerules.Result]
                                ) -> None:
    page = cli("eval", "vcf", str(FOUNDING), "--as-of", AS_OF, "--format", "html")
    parser = _Collect()
    parser.feed(page)
    names = [t for t, _ in parser.tags]
    assert "script" not in names and "img" not in names and "iframe" not in names
    assert not [a for t, a in parser.tags if t == "link"]  # no external stylesheet
    assert "@media print" in page
    codes = {a.get("data-code") for _t, a in parser.tags if a.get("data-code")}
    _g, result = founding
    assert {r.code for r in result.recommendations} <= codes
    assert len([1 for _t, a in parser.tags if (a.get("id") or "").startswith("source-")]) == 28


def assert_no_empty_because(text: str) -> None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.endswith("because"):
            assert i + 1 < len(lines) and lines[i + 1].startswith("  - "), text


SCORED = """guideline g "G"
  record spine.Patient
source S:
  title "S"
  url "https://example.org"
rule always:
  when true
  recommend x "X." cite S
for fracture in patient.fractures:
  score genant from fracture.height_loss_pct:
    < 20 % -> 0 classify genant_grade_0
    else -> 1 classify genant_grade_1
    cite S
"""


def test_explain_never_ends_on_because() -> None:
    g = spinerules.loads(SCORED, name="g.rules")
    result = g.evaluate({"fractures": [{"level": "L1", "height_loss_pct": 22}]}, as_of=AS_OF,
                        trace=True)
    for code in ("x", "genant_grade_1", "genant_grade_0"):
        text = result.explain(code)
        assert_no_empty_because(text)
    scored = result.explain("genant_grade_1")  # a score's outcome: its input, with its value
    assert "genant (g.rules:10:3) for fracture = fractures[0]: fired, because" in scored
    assert "  - fracture.height_loss_pct: 22 %" in scored
    for name in ("vcf", "trauma"):
        gl = spinerules.load(name)
        out = gl.evaluate(json.loads(FOUNDING.read_text()), as_of=AS_OF, trace=True)
        for code in sorted(out.codes())[:8]:
            assert_no_empty_because(out.explain(code))


def test_repr_load_hint_and_as_of_strings() -> None:
    g = spinerules.load("vcf")
    assert re.fullmatch(r"<Guideline 'vcf' version '1\.0\.0': \d+ rules, record spine\.Patient>",
                        repr(g))
    with pytest.raises(spinerules.GuidelineError) as info:
        spinerules.load("vfc")
    assert "did you mean `vcf`?" in str(info.value)
    assert "the bundled guidelines are: ankylosed, cervical" in str(info.value)
    assert g.evaluate({"age": 70}, as_of="2026-02-18").as_of == "2026-02-18"
    with pytest.raises(TypeError, match=r"as_of must be a datetime\.date or a 'YYYY-MM-DD'"):
        g.evaluate({"age": 70}, as_of=20260218)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        g.evaluate({"age": 70}, as_of="18/02/2026")


def test_a_terminal_gets_colour_and_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from spinerules import cli as cli_module

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    text = "SOON\n  + Order a scan. [strong] (dexa_scan)\n      why: bone plan indicated\n" \
        "  x AVOID: bed rest (bed_rest)\n"
    cli_module._print_text(text)
    shown = screen.getvalue()
    assert "\x1b[" in shown
    assert re.sub(r"\x1b\[[0-9;]*m", "", shown) == text
    monkeypatch.setenv("NO_COLOR", "1")  # https://no-color.org
    plain = Terminal()
    monkeypatch.setattr(sys, "stdout", plain)
    cli_module._print_text(text)
    assert plain.getvalue() == text


def test_every_example_patient_reports_in_short_lines() -> None:
    g = spinerules.load("spine")
    words = g.glossary()
    examples = sorted((ROOT / "examples" / "patients").glob("*.json"))
    assert len(examples) >= 40
    for path in examples:
        result = g.evaluate(json.loads(path.read_text()), as_of=AS_OF, trace=True)
        text = render_text(result, words)
        assert max(len(line) for line in text.splitlines()) <= 160, path.name
        assert "```" not in render_markdown(result, words)
        parser = _Collect()
        parser.feed(render_html(result, words))
        assert {r.code for r in result.recommendations} <= {
            a.get("data-code") for _t, a in parser.tags}, path.name
        for code in sorted(result.codes())[:3]:
            assert_no_empty_because(result.explain(code))
