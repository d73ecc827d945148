"""`spinerules verify` and `spinerules diff`: the z3 encoding agrees with the evaluator,
findings come with confirmed witnesses, and the commands behave."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import ROOT, Rec, load_text

import spinerules
from spinerules.cli import main
from spinerules.records.loader import dump_record
from spinerules.testing.strategies import patients_for, records

z3 = pytest.importorskip("z3")

from spinerules.verify.analyse import diff, verify  # noqa: E402
from spinerules.verify.encode import Encoder, pin  # noqa: E402

# A guideline that uses every construct the encoding covers: dates against `today`,
# arithmetic, quantities, `count`, `any`/`all`, a `for` block with a define, a table score
# and a sum score with bands, `known`/`unknown`, a request, invariants of both modes.
EVERYTHING = """
define recent: patient.seen >= today - 30 days
define old_enough: patient.age + 2 years >= 20 years
score loss_grade from patient.pain:
  < 3 -> 0
  3 .. 6 -> 1
  else -> 2 classify high_pain
  cite S
score total:
  component p from patient.flag:
    true -> 2
    false -> 0
  component q from patient.other:
    true -> 1
    false -> 0
  band <= 1 -> classify total_low
  band >= 2 -> classify total_high
  cite S
for item in patient.items:
  define big: item.loss > 20 % and item.level in T11..L2
  rule R.item:
    when big and (item.weeks < 6 weeks or item.kind == burst)
    recommend item_code cite S
  rule R.item_edema:
    when item.edema == false
    warn no_edema cite S
rule R.count:
  when count(i in patient.items: i.edema) >= 2 and recent
  recommend many_edema cite S
rule R.all:
  when all(i in patient.items: i.kind != distraction) and old_enough
  unless total >= 3
  consider all_ok cite T
rule R.ask:
  when unknown patient.flag and any(i in patient.items: i.loss * 2 > 30 %)
  request ask_flag cite S
rule R.score:
  when loss_grade >= 1 and patient.pain / 2 < 4
  recommend pain_code cite S
rule R.scores:
  when total > loss_grade and total != 2
  recommend scores_code cite S
invariant "no pain code with a high total": never pain_code and total_high
invariant "no pain code under 3": never pain_code when patient.pain < 3
invariant "a flag with two known items gets a code": always item_code or all_ok when patient.flag
"""


def _agree(g: spinerules.Guideline, data: dict[str, Any], as_of: datetime.date,
           enc: Encoder, solver: Any, fired: dict[str, Any]) -> None:
    result = g.evaluate(data, as_of=as_of)
    expected = (result.codes() | result.missing_codes()) - {"record_missing_facts"}
    solver.push()
    solver.add(*pin(enc, data, as_of))
    assert solver.check() == z3.sat, data
    model = solver.model()
    got = {c for c, f in fired.items() if z3.is_true(model.eval(f, model_completion=True))}
    solver.pop()
    assert got == expected, (data, as_of, sorted(got ^ expected))


def _differential(g: spinerules.Guideline, strategy: Any, examples: int) -> None:
    enc = Encoder(g.checked, max_list=3).encode()
    solver = z3.Solver()
    solver.add(*enc.base)
    fired = {c: enc.fired(c) for c in enc.codes()}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy, st.dates(datetime.date(2020, 1, 1), datetime.date(2030, 12, 31)))
    def agree(p: Any, as_of: datetime.date) -> None:
        _agree(g, dump_record(p), as_of, enc, solver, fired)
    agree()


def test_the_encoding_gives_the_evaluators_codes_on_every_construct() -> None:
    g = load_text(EVERYTHING)
    _differential(g, records(Rec, max_list=3), 250)


@pytest.mark.parametrize("name", ["vcf", "pathologic"])
def test_the_encoding_gives_the_evaluators_codes_on_bundled_guidelines(name: str) -> None:
    g = spinerules.load(name)
    _differential(g, patients_for(g), 40)


def test_verify_proves_invariants_and_confirms_every_witness() -> None:
    g = load_text(EVERYTHING)
    report = verify(g, max_list=3)
    assert report.proved == ("no pain code under 3",)
    broken = [f for f in report.findings if f.kind == "invariant"]
    assert [f.subject for f in broken] == ["no pain code with a high total",
                                           "a flag with two known items gets a code"]
    assert all(f.confirmed for f in report.findings if f.witness is not None)
    # the witness is a valid record that the evaluator reports as breaking the invariant
    result = g.evaluate(broken[0].witness, as_of=broken[0].as_of)
    assert any(c.kind == "invariant" for c in result.conflicts)
    # `item.edema == false` waits on an unrecorded edema: the lint says so, with both records
    flips = [f for f in report.findings if f.kind == "false_test"]
    assert [f.subject for f in flips] == ["R.item_edema"]
    assert flips[0].other is not None and flips[0].confirmed


def test_dead_rules_always_true_conditions_subsumed_rules_and_vacuous_all() -> None:
    g = load_text("""
rule dead:
  when patient.age < 10 years and patient.age > 20 years
  recommend never_given cite S
rule wide:
  when patient.flag
  recommend flagged cite S
rule narrow:
  when patient.flag and patient.other
  recommend flagged cite S
rule useless_part:
  when patient.other and (known patient.pain or unknown patient.pain)
  recommend other_code cite S
rule empty_ok:
  when all(i in patient.items: i.edema) and patient.other
  recommend all_edema cite S
""")
    report = verify(g, max_list=2)
    kinds = {(f.kind, f.subject) for f in report.findings}
    assert ("dead_rule", "dead") in kinds
    assert ("subsumed", "narrow") in kinds and ("subsumed", "wide") not in kinds
    assert ("never_false", "useless_part") in kinds
    assert ("vacuous_all", "empty_ok") in kinds
    vac = next(f for f in report.findings if f.kind == "vacuous_all")
    assert vac.witness is not None and vac.witness["items"] == [] and vac.confirmed
    assert report.max_list == 2


def test_a_construct_verify_cannot_encode_is_located() -> None:
    g = load_text("""
rule ratio:
  when patient.pain / patient.pain > 1
  recommend ratio_code cite S
""")
    report = verify(g)
    assert [d.code for d in report.diagnostics] == ["SR410"]
    d = report.diagnostics[0]
    assert d.span.line > 1 and "division" in d.message
    assert not report.proved and not report.findings


def test_the_cli_does_not_import_z3() -> None:
    code = "import sys, spinerules.cli; print('z3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def _copy_vcf(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "guidelines" / "vcf", tmp_path / "vcf")
    shutil.copytree(ROOT / "guidelines" / "spine", tmp_path / "spine")
    shutil.copy(ROOT / "guidelines" / "spinerules.toml", tmp_path / "spinerules.toml")
    return tmp_path / "vcf" / "vcf.rules"


def test_diff_gives_both_outcomes_for_a_changed_threshold(tmp_path: Path) -> None:
    entry = _copy_vcf(tmp_path)
    aug = entry.parent / "augmentation.rules"
    text = aug.read_text(encoding="utf-8")
    assert text.count("fracture.weeks_since_onset >= 12 weeks\n     and conservative_care") == 1
    aug.write_text(text.replace("fracture.weeks_since_onset >= 12 weeks\n     and conservative",
                                "fracture.weeks_since_onset >= 10 weeks\n     and conservative"),
                   encoding="utf-8")
    old, new = spinerules.load("vcf"), spinerules.load(entry)
    report = diff(old, new)
    changed = [f for f in report.findings if f.kind == "changed"]
    assert [f.subject for f in changed] == ["vertebral_augmentation_referral"]
    f = changed[0]
    assert f.outcomes == {"old": "not given", "new": "given"} and f.confirmed
    weeks = f.witness["fractures"][0]["weeks_since_onset"] if f.witness else None
    assert weeks is not None and 10 <= weeks < 12
    # side by side: the evaluator gives the two outcomes on the one witness
    assert "vertebral_augmentation_referral" not in old.evaluate(f.witness, as_of=f.as_of).codes()
    assert "vertebral_augmentation_referral" in new.evaluate(f.witness, as_of=f.as_of).codes()
    runner = CliRunner()
    res = runner.invoke(main, ["diff", "vcf", str(entry), "--format", "markdown"])
    assert res.exit_code == 1, res.output
    assert "| info | changed | `vertebral_augmentation_referral` |" in res.output
    assert "```json" in res.output


def test_diff_of_a_guideline_and_its_fmt_output_is_equivalent(tmp_path: Path) -> None:
    entry = _copy_vcf(tmp_path)
    # an untidy layout: the formatter rewrites it; the meaning must not change
    red = entry.parent / "red_flags.rules"
    text = red.read_text(encoding="utf-8")
    red.write_text(text.replace("define severe_pain:\n  patient.symptoms.pain_score >= 7",
                                "define severe_pain: (patient.symptoms.pain_score>=7)"),
                   encoding="utf-8")
    runner = CliRunner()
    before = spinerules.load(entry)
    res = runner.invoke(main, ["fmt", str(entry.parent)])
    assert res.exit_code == 0, res.output
    assert "reformatted" in res.output
    assert "(patient.symptoms.pain_score>=7)" not in red.read_text(encoding="utf-8")
    after = spinerules.load(entry)
    report = diff(before, after)
    assert not report.findings and len(report.proved) > 40
    res = runner.invoke(main, ["diff", "vcf", str(entry)])
    assert res.exit_code == 0, res.output
    assert "equivalent" in res.output


def test_verify_cli_json_reports_max_list_and_exit_status() -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["verify", "vcf", "--max-list", "1", "--format", "json",
                               "--no-lints"])
    data = json.loads(res.output)
    assert data["max_list"] == 1 and data["internal_errors"] == 0
    assert len(data["proved"]) >= 20
    assert res.exit_code == (1 if data["findings"] else 0)
    res = runner.invoke(main, ["verify", "vcf", "--max-list", "99"])
    assert res.exit_code == 2 and "--max-list" in res.output
