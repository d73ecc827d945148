"""Golden diagnostics: the exact text ``spinerules check`` prints for each case.

Each ``diagnostics/<CODE>-<what>.rules`` is checked from inside ``diagnostics/`` (so the
paths in the output are bare file names) and the output is compared, byte for byte, with
``<CODE>-<what>.out``; where ``<CODE>-<what>.json`` exists, the same for ``--format json``.
The code in a case's name must be in its output.

After a deliberate change of wording or rendering, rewrite the expected files with

    SPINERULES_UPDATE_GOLDEN=1 python -m pytest tests/golden

and review the diff (see tests/golden/README.md).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from spinerules.cli import EXIT_GUIDELINE, EXIT_OK, main
from spinerules.lang.diagnostics import CODES

CASES = Path(__file__).resolve().parent / "diagnostics"
UPDATE = os.environ.get("SPINERULES_UPDATE_GOLDEN") == "1"
_NAME = re.compile(r"(SR\d{3})-[a-z0-9-]+\Z")

#: Codes without a golden case, and why. Together with the cases they make up ``CODES``.
NOT_COVERED = {
    "SR701": "is given by `spinerules sql` and `population` (a construct SQL cannot "
    "express), not `check`; "
    "tests/population/test_sql.py::test_an_untranslatable_construct_is_a_located_diagnostic",
    "SR410": "is given by `spinerules verify`, not `check`; "
    "tests/verify/test_verify.py::test_a_construct_verify_cannot_encode_is_located",
    "SR115": "is about a project's spinerules.toml, which would make the cases folder a "
    "project; tests/unit/test_projects.py::test_a_bad_project_file_is_a_located_error",
    "SR107": "needs a file over Limits.max_bytes (4 MiB), too large to keep in the "
    "repository; tests/bad_inputs/test_corpus.py::test_huge_guideline_file",
    "SR110": "needs a file that cannot be read (it would not be a case file); "
    "tests/bad_inputs/test_corpus.py::test_guideline_file_that_does_not_exist",
    "SR111": "needs 20,001 rules or 201 files with the default limits, and `check` has no "
    "option to lower them; tests/unit/test_hardening.py::test_limit_max_rules and "
    "::test_limit_max_files",
    "SR120": "needs more than 100 errors in one file (a long output); "
    "tests/hardening/test_small_ones.py::test_a_guideline_of_500000_broken_items_stops_after_100",
    "SR314": "reserved, never emitted: a list of mixed types is reported as SR301 at the "
    "odd item (tests/bad_inputs/rules/mixed_list.rules)",
    "SR501": "run time: an invalid patient record (`spinerules eval`), not `check`",
    "SR502": "run time: the evaluation budget (`Limits.max_steps`), not `check`",
    "SR503": "reserved for `spinerules test`, which reports failures in its own format",
    "SR504": "given by `spinerules test` for a test patient it may not read, not by `check`; "
    "tests/hardening/test_files.py",
    "SR505": "run time: an evaluation fault, not `check`",
    "SR601": "a case-file diagnostic (a YAML file, not a `.rules` case); "
    "tests/bad_inputs/cases/ and tests/unit/test_casefile.py",
    "SR602": "a case-file diagnostic; tests/bad_inputs/cases/",
    "SR603": "a case-file diagnostic; tests/bad_inputs/cases/",
    "SR604": "a case-file diagnostic; tests/bad_inputs/cases/",
}


def cases() -> list[Path]:
    return sorted(CASES.glob("*.rules"))


def code_of(case: Path) -> str:
    m = _NAME.match(case.stem)
    assert m, f"{case.name}: name it <CODE>-<what-it-shows>.rules"
    return m.group(1)


def run_check(case: Path, *options: str) -> tuple[str, int]:
    """What ``spinerules check [options] <case>`` prints, run from the cases folder."""
    cwd = Path.cwd()
    os.chdir(CASES)
    try:
        result = CliRunner().invoke(main, ["check", *options, case.name])
    finally:
        os.chdir(cwd)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"spinerules check {case.name} crashed") from result.exception
    assert "Traceback" not in result.output
    return result.stdout, result.exit_code


def compare(actual: str, expected_file: Path) -> None:
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
        return
    assert expected_file.exists(), f"no {expected_file.name}; run with SPINERULES_UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.stem)
def test_golden_text(case: Path) -> None:
    output, status = run_check(case)
    code = code_of(case)
    assert re.search(rf"^(error|warning)\[{code}\]: ", output, re.M), output
    errors = re.search(r"^(\d+) error\(s\), \d+ warning\(s\)$", output, re.M)
    assert errors, output
    assert status == (EXIT_GUIDELINE if int(errors.group(1)) else EXIT_OK)
    compare(output, case.with_suffix(".out"))


JSON_CASES = [c for c in cases() if c.with_suffix(".json").exists()]


@pytest.mark.parametrize("case", JSON_CASES, ids=lambda p: p.stem)
def test_golden_json(case: Path) -> None:
    output, status = run_check(case, "--format", "json")
    data = json.loads(output)
    assert code_of(case) in {d["code"] for d in data["diagnostics"]}
    assert status == (EXIT_GUIDELINE if data["errors"] else EXIT_OK)
    compare(output, case.with_suffix(".json"))


def test_some_cases_have_golden_json() -> None:
    assert len(JSON_CASES) >= 3


def test_every_expected_file_has_its_case() -> None:
    inputs = {c.stem for c in cases()}
    stale = [p.name for p in CASES.iterdir()
             if p.suffix in (".out", ".json") and p.stem not in inputs]
    assert not stale, f"expected output without a case: {stale}"


def test_the_cases_cover_every_code_that_check_can_give() -> None:
    covered = {code_of(c) for c in cases()}
    assert len(covered) >= 25, sorted(covered)
    assert not covered & set(NOT_COVERED), "covered now: drop it from NOT_COVERED"
    assert covered | set(NOT_COVERED) == set(CODES), sorted(set(CODES) - covered)


def test_a_misspelt_field_gets_did_you_mean_under_a_caret() -> None:
    text = (CASES / "SR204-unknown-field.out").read_text(encoding="utf-8")
    assert "= hint: did you mean `deficit`?" in text
    source, caret = _source_and_caret(text)
    assert source[caret.index("^"):caret.rindex("^") + 1] == "deficet"


def test_a_unit_mismatch_gets_a_unit_hint_under_a_caret() -> None:
    text = (CASES / "SR301-duration-compared-with-number.out").read_text(encoding="utf-8")
    assert "= hint: give the number a unit: `6 weeks` (the other side is measured in weeks)" \
        in text
    source, caret = _source_and_caret(text)
    assert source[caret.index("^"):caret.rindex("^") + 1] == "6"


def test_an_age_compared_with_a_bare_number_is_told_years() -> None:
    """The hint names the unit of the fact compared (before #12: "e.g. `6 weeks`")."""
    text = (CASES / "SR301-age-compared-with-number.out").read_text(encoding="utf-8")
    assert "= hint: give the number a unit: `65 years` (the other side is measured in years)" \
        in text
    assert "weeks" not in text


def test_an_indexed_list_gets_a_hint_in_terms_of_the_language() -> None:
    text = (CASES / "SR102-indexed-list.out").read_text(encoding="utf-8")
    assert "= hint: a list is not indexed: say which items with " \
        "`any(f in patient.fractures: ...)`" in text
    source, caret = _source_and_caret(text)
    assert source[caret.index("^"):caret.rindex("^") + 1] == "["


def test_a_syntax_error_does_not_hide_the_other_items_diagnostics() -> None:
    """Parsing recovers at the next item: the unknown field two items later is reported
    with the syntax errors, and nothing about the names the broken items would define."""
    text = (CASES / "SR102-and-the-items-after-it.out").read_text(encoding="utf-8")
    codes = re.findall(r"^error\[(SR\d{3})\]", text, re.M)
    assert codes == ["SR102", "SR204", "SR103"]
    assert "`half`" not in text.split("error[SR103]")[0]  # its define is broken: no SR201


def _source_and_caret(text: str) -> tuple[str, str]:
    """The quoted source line and the caret line under it, without their gutters."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if re.match(r"\d+ \| ", line))
    width = lines[i].index("|") + 2
    return lines[i][width:], lines[i + 1][width:]
