"""The SQL translation: every bundled guideline compiles for both dialects; what cannot be
translated is a located diagnostic; the Kleene corners agree with the engine."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

import duckdb

import spinerules
from spinerules.api import bundled_guidelines, load
from spinerules.population.layout import to_arrow
from spinerules.population.reference import compare, python_row, sql_row
from spinerules.population.sql import TranslationError, compile_guideline
from spinerules.records.loader import load_record

AS_OF = datetime.date(2026, 2, 18)
PATIENTS = sorted((Path(__file__).parents[2] / "guidelines" / "patients").glob("*.json"))
HEAD = 'guideline t "T"\n  record spine.Patient\nsource S: title "s" url "u"\n'


def run_duckdb(g: spinerules.Guideline, records: list[object]) -> list[dict[str, object]]:
    con = duckdb.connect()
    con.register("patients", to_arrow(records, g.record_type))
    rel = con.sql(compile_guideline(g, as_of=AS_OF).sql(pretty=False))
    names = [d[0] for d in rel.description]
    return [sql_row(dict(zip(names, row, strict=True))) for row in rel.fetchall()]


@pytest.mark.parametrize("name", [b.name for b in bundled_guidelines()])
def test_every_bundled_guideline_translates_and_agrees_on_the_example_patients(
        name: str) -> None:
    g = load(name)
    for dialect in ("duckdb", "spark"):
        assert "SELECT" in compile_guideline(g, dialect=dialect, as_of=AS_OF).sql()
    records = []
    for i, path in enumerate(PATIENTS):
        data = json.loads(path.read_text())
        data["id"] = f"{i}-{path.stem}"
        records.append(load_record(g.record_type, data))
    q = compile_guideline(g, as_of=AS_OF)
    rule_ids = frozenset(r.rule_id for r in q.rules)
    expected = [python_row(g, r, AS_OF, rule_ids) for r in records]
    n, mismatches, examples = compare(expected, run_duckdb(g, records))
    assert n == len(PATIENTS)
    assert mismatches == {}, examples


def test_an_untranslatable_construct_is_a_located_diagnostic() -> None:
    g = spinerules.loads(
        HEAD + "rule a:\n  when patient.symptoms.pain_score / patient.prior_vertebral_fractures"
        " > 2\n  recommend plan cite S\n")
    with pytest.raises(TranslationError) as err:
        compile_guideline(g, as_of=AS_OF)
    [d] = err.value.diagnostics
    assert d.code == "SR701"
    assert (d.span.line, d.span.column) == (5, 8)
    assert "division" in str(err.value) and "<string>.rules:5:8" in str(err.value)


def test_kleene_corners_agree_with_the_engine() -> None:
    """`x in lo..hi` with one side unknown, `not` of unknown, quantifiers over unknown
    elements and unknown lists, `known`, sum-score bands decided under unknowns."""
    g = spinerules.loads(HEAD + """
define pain: patient.symptoms.pain_score
rule r_range:
  when pain in 3..7
  recommend in_range cite S
rule r_not:
  when not patient.neuro.deficit
  recommend no_deficit cite S
rule r_any:
  when any(f in patient.fractures: f.height_loss_pct > 20 %)
  recommend some_loss cite S
rule r_all:
  when all(f in patient.fractures: f.level in T11..L2)
  recommend all_junction cite S
rule r_count:
  when count(f in patient.fractures: f.marrow_edema) >= 2
  recommend two_edema cite S
rule r_known:
  when known patient.age and patient.age >= 65 years
  unless unknown pain
  recommend older cite S
  request ask_pain "pain?" cite S
score s:
  component a from patient.neuro.deficit:
    true -> 3
    false -> 0
  component b from patient.history.cancer:
    true -> 2
    false -> 0
  band 0 .. 1 -> classify s_low "low"
  band 2 .. 5 -> classify s_high "high"
  cite S
rule r_score:
  when s >= 2
  recommend score_high cite S
""")
    pats = [
        {"id": "a"},
        {"id": "b", "symptoms": {"pain_score": 5}, "neuro": {"deficit": False}},
        {"id": "c", "fractures": [{"height_loss_pct": 10}, {}], "neuro": {"deficit": True}},
        {"id": "d", "fractures": [{"height_loss_pct": 30}, {}], "history": {"cancer": True}},
        {"id": "e", "fractures": [{"level": "L1", "marrow_edema": True},
                                  {"level": "T12", "marrow_edema": True}]},
        {"id": "f", "fractures": [{"level": "L1"}, {"level": "C3"}], "age": 70},
        {"id": "g", "fractures": [], "age": 70, "symptoms": {"pain_score": 2}},
        {"id": "h", "neuro": {"deficit": False}, "history": {"cancer": False}},
    ]
    records = [load_record(g.record_type, p) for p in pats]
    q = compile_guideline(g, as_of=AS_OF)
    ids = frozenset(r.rule_id for r in q.rules)
    expected = [python_row(g, r, AS_OF, ids) for r in records]
    got = run_duckdb(g, records)
    n, mismatches, examples = compare(expected, got)
    assert (n, mismatches) == (len(pats), {}), examples
    by = {r["patient"]: r for r in got}
    # the engine's answers, spelled out for a few (so that the test cannot pass by both
    # sides being empty)
    assert "some_loss" in by["d"]["codes"] and "s_high" in by["d"]["codes"]
    assert "r_any" in by["c"]["undetermined"]  # one element unknown, none above 20 %
    assert "two_edema" in by["e"]["codes"]
    assert "r_all" not in by["f"]["fired"] and "r_all" not in by["f"]["undetermined"]
    assert by["h"]["scores"]["s"] == (0.0, 0.0, 0.0) and "s_low" in by["h"]["codes"]
    assert "r_range" in by["a"]["undetermined"] and "in_range" in by["b"]["codes"]
    assert "ask_pain" in by["g"]["missing"] and "older" in by["g"]["codes"]
    # `unknown x` is never unknown: with the pain unrecorded the `unless` holds, decided
    assert "older" not in by["f"]["codes"] and "r_known" not in by["f"]["undetermined"]
    # `any` and `all` over the fractures are read in one pass (two bits each, OR-ed over
    # the list exploded to rows, per patient): an empty list makes `all` true and `any`
    # false, an unknown list neither
    text = q.sql()
    assert text.count("BIT_OR(") == 1 and "LIST_BIT_OR(" not in text and "__quant0" in text
    assert "all_junction" in by["g"]["codes"] and "r_any" not in by["g"]["fired"]
    assert {"r_any", "r_all"} <= set(by["a"]["undetermined"])
    assert "r_all" in by["c"]["undetermined"]


def test_quantifiers_reading_the_record_agree_when_read_from_the_exploded_list() -> None:
    """The top level's packed quantifiers are read from the list exploded to rows: a
    condition that also reads the record (a field, a nested quantifier over the whole
    list) gets those columns beside the element."""
    g = spinerules.loads(HEAD + """
rule r_any:
  when any(f in patient.fractures: f.height_loss_pct > 20 % and patient.age >= 65 years)
  recommend old_loss cite S
rule r_all:
  when all(f in patient.fractures: f.level in T11..L2 or patient.symptoms.pain_score > 5)
  recommend all_junction cite S
rule r_nested:
  when any(f in patient.fractures: f.height_loss_pct > 20 %
           and any(g in patient.fractures: g.marrow_edema))
  recommend nested cite S
""")
    pats = [
        {"id": "a"},
        {"id": "b", "age": 70, "fractures": [{"height_loss_pct": 30}, {}]},
        {"id": "c", "age": 60, "fractures": [{"height_loss_pct": 30, "marrow_edema": True}]},
        {"id": "d", "fractures": [{"height_loss_pct": 30, "level": "C3"}],
         "symptoms": {"pain_score": 7}},
        {"id": "e", "age": 80, "fractures": []},
        {"id": "f", "age": 80, "fractures": [{"height_loss_pct": 50, "level": "L1"},
                                             {"marrow_edema": False}]},
    ]
    records = [load_record(g.record_type, p) for p in pats]
    q = compile_guideline(g, as_of=AS_OF)
    assert "__quant0" in q.sql() and "LIST_BIT_OR(" not in q.sql()
    ids = frozenset(r.rule_id for r in q.rules)
    expected = [python_row(g, r, AS_OF, ids) for r in records]
    got = run_duckdb(g, records)
    n, mismatches, examples = compare(expected, got)
    assert (n, mismatches) == (len(pats), {}), examples
    codes = {r["patient"]: sorted(r["codes"]) for r in got}
    assert codes == {"a": [], "b": ["old_loss"], "c": ["nested"], "d": ["all_junction"],
                     "e": ["all_junction"], "f": ["old_loss"]}
