"""The guideline test runner: `test` blocks, YAML case files, and `spinerules test`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from spinerules.cli import main
from spinerules.testing import collect, run_case

GUIDELINE = """guideline mini "Mini"
  version "1"
  record spine.Patient
source S:
  title "A source" year 2020 doi "10.1/s"
rule old:
  when patient.age >= 65 years
  recommend fall_prevention "Fall prevention." cite S
rule ask_neuro:
  when unknown patient.neuro.deficit
  request request_neuro_exam "Examine." cite S
for fracture in patient.fractures:
  score genant from fracture.height_loss_pct:
    < 20 % -> 0 classify genant_grade_0
    <= 25 % -> 1 classify genant_grade_1
    else -> 2 classify genant_grade_2
    cite S
test "old woman":
  given "p.json"
  as_of 2026-02-18
  expect fall_prevention, genant_grade_1
  expect no genant_grade_2
  expect missing request_neuro_exam
  expect score genant 1
"""


def write(tmp: Path, rules: str = GUIDELINE, age: int = 72) -> Path:
    (tmp / "mini.rules").write_text(rules)
    (tmp / "p.json").write_text(json.dumps(
        {"id": "p", "age": age, "fractures": [{"level": "L1", "height_loss_pct": 22}]}))
    return tmp / "mini.rules"


def test_test_block_passes(tmp_path: Path) -> None:
    results = [run_case(c, g) for c, g in collect([str(write(tmp_path))])]
    assert [r.failures for r in results] == [()]


def test_test_block_failure_shows_expected_actual_and_trace(tmp_path: Path) -> None:
    path = write(tmp_path, age=40)
    out = CliRunner().invoke(main, ["test", str(path)])
    assert out.exit_code == 1
    assert "expected `fall_prevention`, not emitted" in out.output
    assert "patient.age is 40 years; needs >= 65 years" in out.output
    assert "0 passed, 1 failed" in out.output


def test_yaml_cases(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "cases.yaml").write_text(
        "guideline: mini.rules\nas_of: 2026-02-18\ncases:\n"
        "  - name: young\n    patient: {age: 30}\n    want_not: [fall_prevention]\n"
        "    want_missing: [request_neuro_exam]\n"
        "  - name: range\n    patient: {age: 70, fractures: [{level: L1}]}\n"
        "    want_scores: {genant: [0, 2]}\n"
        "  - name: bad record\n    patient: {age: 300}\n    want_error: SR501\n"
        "  - name: wrong\n    patient: {age: 70}\n    want_codes: [genant_grade_2]\n"
        "  - name: unknown code\n    patient: {age: 70}\n    want_codes: [dexa_scan]\n")
    results = {r.case.name: r for r in (run_case(c, g) for c, g in
                                         collect([str(tmp_path / "cases.yaml")]))}
    assert [n for n, r in results.items() if r.passed] == ["young", "range", "bad record"]
    assert results["wrong"].failures == ("expected `genant_grade_2`, not emitted",)
    # a code the guideline cannot give is an error of the case file, located, not a
    # failure to emit (before #12 it failed as "not emitted"; in `want_not` it passed)
    unknown = results["unknown code"].failures[0]
    assert unknown.startswith("error[SR602]: `want_codes` names the code `dexa_scan`, which "
                              "guideline `mini.rules` cannot give")
    assert "cases.yaml:19:18" in unknown


def test_cli_json_report(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["test", str(write(tmp_path)), "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert (report["passed"], report["failed"]) == (1, 0)


def test_check_finds_a_folders_case_file_problems_with_cases(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")  # the project: cases/ may name ../mini.rules
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "mini.cases.yaml").write_text(
        "guideline: ../mini.rules\npatient: {age: 70}\nwant_cods: [fall_prevention]\n")
    plain = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert plain.exit_code == 0, plain.output  # guidelines only, as before
    assert plain.output == "ok: 1 guideline(s), no problems\n"
    out = CliRunner().invoke(main, ["check", "--cases", str(tmp_path)])
    assert out.exit_code == 1
    assert "error[SR601]: unknown key `want_cods` in the top of a case file" in out.output
    assert f"--> {tmp_path / 'cases' / 'mini.cases.yaml'}:3:1" in out.output
    fixed = "guideline: ../mini.rules\npatient: {age: 70}\nwant_codes: [fall_prevention]\n"
    (tmp_path / "cases" / "mini.cases.yaml").write_text(fixed)
    out = CliRunner().invoke(main, ["check", "--cases", str(tmp_path)])
    assert out.output == "ok: 1 guideline(s), 1 case file(s), no problems\n"
    out = CliRunner().invoke(main, ["test", str(tmp_path / "cases")])
    assert out.exit_code == 0 and "1 passed, 0 failed" in out.output
