"""The spine pathways beyond the founding case: trauma (TLICS), pathologic (SINS), pediatric,
and the `spine` entry that routes every patient through all of them.

The case corpora live in guidelines/<name>/cases/<name>.cases.yaml (shared with
`spinerules test` and the pytest plugin). On top of them this file checks: every TLICS and
SINS band edge on both sides and each score part unknown; the "codes `eval spine` gives"
tables of the four docs pages against the engine, citations included; `spinerules check
guidelines/`; the related questions of the founding article; that every rule of the new
guidelines fires in some case and not in another; the paediatric source restrictions; and
the routing fixed in vcf (children, a described lesion, high energy, infection).
"""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

import spinerules
from spinerules.engine.result import ASK_CODE, Result
from spinerules.lang import nodes as n

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "examples" / "patients"
DOCS = ROOT / "docs" / "guidelines"
AS_OF = datetime.date(2026, 2, 18)
NEW = ("trauma", "pathologic", "pediatric", "cervical", "ankylosed", "dgou", "occult")
ALL = (*NEW, "spine")
ADULT_ONLY = {"AAOS_OSCF_2010", "NICE_TA279"}


# ---------------------------------------------------------------------- helpers


@cache
def guideline(name: str) -> spinerules.Guideline:
    return spinerules.load(name)


def read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def patch(record: dict[str, Any] | str, **changes: Any) -> dict[str, Any]:
    """A copy of a record (or example patient) with changes at `__`-separated paths."""
    out = copy.deepcopy(read(record) if isinstance(record, str) else record)
    for key, value in changes.items():
        parts = key.split("__")
        node: Any = out
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def evaluate(name: str, record: dict[str, Any]) -> Result:
    return guideline(name).evaluate(record, as_of=AS_OF, trace=True)


def fired(result: Result) -> set[str]:
    assert result.trace is not None
    return {o.rule for o in result.trace.outcomes if o.status == "fire"}


def cited_keys(result: Result) -> dict[str, set[str]]:
    """Per rule id: the source keys its emitted actions cite (for or against)."""
    out: dict[str, set[str]] = defaultdict(set)
    for rec in result.recommendations:
        out[rec.rule] |= {c.key for c in (*rec.citations, *rec.against)}
    for m in result.missing:
        out[m.rule] |= {c.key for c in m.citations}
    return out


def walk(items: Any) -> Iterator[n.Item]:
    for item in items:
        yield item
        if isinstance(item, n.For):
            yield from walk(item.items)


def new_rule_ids(name: str) -> list[str]:
    """Rule ids and score names of `name` defined in the new guideline folders."""
    out = []
    for item in walk(guideline(name).program.items()):
        if isinstance(item, n.Rule | n.Score) and any(
                f"guidelines/{folder}/" in item.span.source for folder in NEW):
            out.append(item.rule_id if isinstance(item, n.Rule) else item.name)
    return out


@attrs.frozen
class Case:
    guideline: str
    name: str
    record: dict[str, Any]
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.guideline}: {self.name}"


def load_cases(name: str) -> list[Case]:
    path = ROOT / "guidelines" / name / "cases" / f"{name}.cases.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["guideline"] == f"../{name}.rules"
    assert str(doc["as_of"]) == "2026-02-18"
    out = []
    for c in doc["cases"]:
        if "patient_file" in c:
            record = json.loads((path.parent / c["patient_file"]).read_text(encoding="utf-8"))
        else:
            record = c["patient"]
        out.append(Case(name, c["name"], record, c))
    return out


CASES = [c for name in ALL for c in load_cases(name)]


@cache
def results() -> dict[str, Result]:
    return {c.id: evaluate(c.guideline, c.record) for c in CASES}


@cache
def spine_results() -> dict[str, Result]:
    """Every case patient of every corpus and every example patient, evaluated by `spine`."""
    out = {f"spine on {c.id}": evaluate("spine", c.record) for c in CASES}
    for path in sorted(PATIENTS.glob("*.json")):
        out[f"spine on {path.name}"] = evaluate("spine", read(path.stem))
    return out


def is_child(record: dict[str, Any]) -> bool:
    return isinstance(record.get("age"), int) and record["age"] < 18


# ---------------------------------------------------------------------- the case corpora


def test_case_names_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_case(c: Case) -> None:
    r = results()[c.id]
    codes, missing, rules = r.codes(), r.missing_codes(), fired(r)
    raw = c.raw
    assert not set(raw.get("want_codes", ())) - codes - missing, f"got {sorted(codes)}"
    assert not set(raw.get("want_not", ())) & codes
    assert not set(raw.get("want_missing", ())) - missing, f"got {sorted(missing)}"
    assert not set(raw.get("want_not_missing", ())) & missing
    assert not set(raw.get("want_rules", ())) - rules
    assert not set(raw.get("want_not_rules", ())) & rules
    for name, want in (raw.get("want_scores") or {}).items():
        s = r.scores[name]
        low, high = (want, want) if not isinstance(want, list) else want
        assert (s.low, s.high) == (low, high), name
    assert not [x for x in r.conflicts if x.kind in ("invariant", "contradiction")]


def test_spinerules_test_runs_the_corpora() -> None:
    from click.testing import CliRunner

    from spinerules.cli import main

    for name in ALL:
        out = CliRunner().invoke(main, ["test", f"guidelines/{name}"])
        assert out.exit_code == 0, out.output
        assert " 0 failed" in out.output


# ---------------------------------------------------------------------- TLICS

MORPHOLOGY = {"compression": 1, "burst": 2, "translation_rotation": 3, "distraction": 4}
NEUROLOGY = {"intact": 0, "nerve_root": 2, "cord_complete": 2, "cord_incomplete": 3,
             "cauda_equina": 3}
LIGAMENT = {"intact": 0, "indeterminate": 2, "injured": 3}
TLICS_BANDS = ("tlics_nonoperative", "tlics_surgeon_discretion", "tlics_operative")


def injury(morphology: str | None, ligament: str | None, neuro: str | None = "intact",
           **changes: Any) -> dict[str, Any]:
    """A high-energy L1 injury with oral analgesia working and no other red flag."""
    exam = None if neuro is None else {
        "deficit": neuro != "intact", "cauda_equina_signs": neuro == "cauda_equina",
        "cord_or_conus_compression": neuro.startswith("cord"),
        "nerve_root_injury": neuro == "nerve_root", "tlics_status": neuro}
    return patch("trauma-high-energy-young-adult", fractures__0__morphology=morphology,
                 fractures__0__posterior_ligament=ligament, neuro=exam, **changes)


def tlics_band(total: float) -> str:
    return TLICS_BANDS[0] if total <= 3 else TLICS_BANDS[1] if total == 4 else TLICS_BANDS[2]


@pytest.mark.parametrize("name", ["trauma", "spine"])
def test_tlics_every_combination(name: str) -> None:
    """All 60 combinations: total, band, consultation from 4, transfer for every operative
    injury, outpatient care exactly for TLICS <= 3 without a red flag."""
    for (m, mp), (lg, lp), (ne, np_) in itertools.product(
            MORPHOLOGY.items(), LIGAMENT.items(), NEUROLOGY.items()):
        r = evaluate(name, injury(m, lg, ne))
        total = mp + lp + np_
        codes, rules = r.codes(), fired(r)
        where = f"{m}/{lg}/{ne}"
        assert r.scores["tlics"].value == total, where
        assert tlics_band(total) in codes, where
        assert not (set(TLICS_BANDS) - {tlics_band(total)}) & codes, where
        assert ("trauma.surgical_consultation" in rules) == (total >= 4), where
        unstable = lg == "injured" or m in ("translation_rotation", "distraction")
        red_flag = unstable or ne != "intact"
        assert ("transfer_to_spine_center" in codes) == red_flag, where
        if total >= 5:
            assert "transfer_to_spine_center" in codes, where
        assert ("outpatient_follow_up" in codes) == (total <= 3 and not red_flag), where
        assert ("urgent_surgical_consultation" in codes) == red_flag, where


@pytest.mark.parametrize(("low", "high"), [
    (injury("compression", "indeterminate"), injury("burst", "indeterminate")),     # 3 | 4
    (injury("burst", "intact", "nerve_root"), injury("burst", "intact", "cord_incomplete")),
    (injury("burst", "indeterminate"), injury("translation_rotation", "indeterminate")),  # 4 | 5
    (injury("compression", "intact", "cord_incomplete"),
     injury("compression", "indeterminate", "nerve_root")),                          # 4 | 5
], ids=["3|4 ligament", "3|4 neurology", "4|5 morphology", "4|5 mixed"])
def test_tlics_band_edges(low: dict[str, Any], high: dict[str, Any]) -> None:
    """Both sides of each TLICS edge: one point changes the band and the consultation."""
    a, b = evaluate("trauma", low), evaluate("trauma", high)
    va, vb = a.scores["tlics"].value, b.scores["tlics"].value
    assert va is not None and vb is not None and vb == va + 1
    assert tlics_band(va) in a.codes() and tlics_band(vb) in b.codes()
    assert tlics_band(va) != tlics_band(vb)
    if va == 3:
        assert "spine_surgery_consultation" not in a.codes()
        assert "spine_surgery_consultation" in b.codes()


@pytest.mark.parametrize("name", ["trauma", "spine"])
def test_tlics_each_part_unknown(name: str) -> None:
    """Burst, PLC indeterminate, intact (TLICS 4) with one part missing at a time: the range,
    the facts and the test that would decide it, and the request or imaging that asks."""
    morph = evaluate(name, injury(None, "indeterminate"))
    s = morph.scores["tlics"]
    assert (s.value, s.low, s.high) == (None, 3, 6)
    assert s.facts == ("fractures[0].morphology",)
    assert "a CT of the injured segment" in (s.note or "")
    assert "ct_whole_spine" in morph.codes()
    assert not set(TLICS_BANDS) & morph.codes()

    neuro = evaluate(name, injury("burst", "indeterminate", None))
    s = neuro.scores["tlics"]
    assert (s.value, s.low, s.high) == (None, 4, 7)
    assert s.facts == ("neuro.tlics_status",)
    assert "neurological examination graded for TLICS" in (s.note or "")
    (req,) = [m for m in neuro.missing if m.code == "request_neuro_exam"]
    assert "neuro.tlics_status" in req.facts
    # the bands are level-scoped rules of their own (tlics.nonoperative, ...)
    assert any(w == "tlics" or w.startswith(("tlics.", "trauma.")) for w in req.waiting)

    plc = evaluate(name, injury("burst", None))
    s = plc.scores["tlics"]
    assert (s.value, s.low, s.high) == (None, 2, 5)
    assert s.facts == ("fractures[0].posterior_ligament",)
    assert "posterior ligamentous complex" in (s.note or "")
    (mri,) = [rec for rec in plc.get("mri_without_contrast") if rec.rule == "trauma.plc_mri"]
    assert any(c.key == "TLICS_2005" for c in mri.citations)


def test_tlics_band_decided_with_a_part_unknown() -> None:
    """Compression, PLC intact, neurology unknown: 1 to 4 (undecided); distraction with an
    injured PLC and incomplete cord: decided whatever the PLC... (7 to 10, all operative)."""
    r = evaluate("trauma", injury("compression", "intact", None))
    assert (r.scores["tlics"].low, r.scores["tlics"].high) == (1, 4)
    assert not set(TLICS_BANDS) & r.codes()
    r = evaluate("trauma", injury("distraction", None, "cord_incomplete"))
    assert (r.scores["tlics"].low, r.scores["tlics"].high) == (7, 10)
    assert "tlics_operative" in r.codes()


# ---------------------------------------------------------------------- SINS

SINS_PARTS: dict[str, dict[str, int]] = {
    "location": {"junctional": 3, "mobile": 2, "semirigid": 1, "rigid": 0},
    "pain": {"mechanical": 3, "occasional_nonmechanical": 1, "pain_free": 0},
    "lesion": {"lytic": 2, "mixed": 1, "blastic": 0},
    "alignment": {"subluxation_translation": 4, "deformity": 2, "normal": 0},
    "collapse": {"gt_50": 3, "lt_50": 2, "none_gt_50_involved": 1, "none": 0},
    "posterolateral": {"bilateral": 3, "unilateral": 1, "none": 0},
}
SINS_BANDS = ("sins_stable", "sins_potentially_unstable", "sins_unstable")


def lesion(**parts: str | None) -> dict[str, Any]:
    """The proven T8 lesion of pathologic-potentially-unstable.json with SINS parts set."""
    return patch("pathologic-potentially-unstable",
                 **{f"fractures__0__sins__{k}": v for k, v in parts.items()})


def sins_band(total: float) -> str:
    return SINS_BANDS[0] if total <= 6 else SINS_BANDS[1] if total <= 12 else SINS_BANDS[2]


def test_sins_every_combination() -> None:
    """All 1296 combinations of the six parts: total, band and surgical consultation."""
    g = guideline("pathologic")
    names = list(SINS_PARTS)
    for values in itertools.product(*(SINS_PARTS[k].items() for k in names)):
        parts = {k: v[0] for k, v in zip(names, values, strict=True)}
        total = sum(v[1] for v in values)
        r = g.evaluate(lesion(**parts), as_of=AS_OF)
        assert r.scores["sins"].value == total, parts
        assert sins_band(total) in r.codes(), parts
        assert not (set(SINS_BANDS) - {sins_band(total)}) & r.codes(), parts
        assert ("spine_surgery_consultation" in r.codes()) == (total >= 7), parts


SINS_ASK = {"location": "the segment of the lesion", "pain": "a pain history",
            "lesion": "a CT of the lesion", "alignment": "imaging of the alignment",
            "collapse": "imaging of the body collapse",
            "posterolateral": "imaging of the posterior elements"}
SIX = {"location": "semirigid", "pain": "mechanical", "lesion": "lytic", "alignment": "normal",
       "collapse": "none", "posterolateral": "none"}                        # 1+3+2+0+0+0 = 6
TWELVE = {"location": "junctional", "pain": "mechanical", "lesion": "lytic",
          "alignment": "deformity", "collapse": "lt_50", "posterolateral": "none"}  # 12


@pytest.mark.parametrize("name", ["pathologic", "spine"])
@pytest.mark.parametrize(("below", "above"), [
    (SIX, {**SIX, "posterolateral": "unilateral"}),
    (SIX, {**SIX, "collapse": "none_gt_50_involved"}),
    (TWELVE, {**TWELVE, "posterolateral": "unilateral"}),
    (TWELVE, {**TWELVE, "collapse": "gt_50"}),
], ids=["6|7 posterolateral", "6|7 collapse", "12|13 posterolateral", "12|13 collapse"])
def test_sins_band_edges(name: str, below: dict[str, str], above: dict[str, str]) -> None:
    a, b = evaluate(name, lesion(**below)), evaluate(name, lesion(**above))
    va, vb = a.scores["sins"].value, b.scores["sins"].value
    assert va is not None and vb == va + 1
    assert sins_band(va) in a.codes() and sins_band(vb) in b.codes()
    assert sins_band(va) != sins_band(vb)
    if va == 6:
        assert not any(rec.rule.startswith("pathologic.consult")
                       for rec in a.get("spine_surgery_consultation"))
        (consult,) = [rec for rec in b.get("spine_surgery_consultation")
                      if rec.rule.startswith("pathologic.consult")]
        assert consult.rule == "pathologic.consult_potentially_unstable"
        assert consult.urgency == "soon"
    else:
        (consult,) = [rec for rec in b.get("spine_surgery_consultation")
                      if rec.rule.startswith("pathologic.consult")]
        assert consult.rule == "pathologic.consult_unstable"
        assert consult.urgency == "urgent"


@pytest.mark.parametrize("name", ["pathologic", "spine"])
@pytest.mark.parametrize("part", list(SINS_PARTS))
def test_sins_each_part_unknown(name: str, part: str) -> None:
    """SINS 8 (semirigid, mechanical, lytic, normal, <50 %, none) with one part missing:
    the range of totals, the fact and the test that would decide it."""
    base = {"location": "semirigid", "pain": "mechanical", "lesion": "lytic",
            "alignment": "normal", "collapse": "lt_50", "posterolateral": "none"}
    own = SINS_PARTS[part][base[part]]
    r = evaluate(name, lesion(**{part: None}))
    s = r.scores["sins"]
    low = 8 - own + min(SINS_PARTS[part].values())
    high = 8 - own + max(SINS_PARTS[part].values())
    assert (s.value, s.low, s.high) == (None, low, high)
    assert s.facts == (f"fractures[0].sins.{part}",)
    assert (s.note or "").startswith("undetermined; ")
    assert SINS_ASK[part] in (s.note or ""), s.note  # what would decide it
    if sins_band(low) == sins_band(high):
        assert sins_band(low) in r.codes()
    else:
        assert not set(SINS_BANDS) & r.codes()
        assert any(u.rule == "sins" for u in r.undetermined)


def test_sins_request_when_the_history_is_missing() -> None:
    """The request that applies to a lesion: the cancer history (the parts have no code).
    The lesion is a suspected tumour whatever the history, so the red-flag actions do not
    wait for it."""
    r = evaluate("pathologic", read("pathologic-lesion-unknown-history"))
    (m,) = [m for m in r.missing if m.code == "request_cancer_history"]
    assert "history.cancer" in m.facts
    assert m.rule == "pathologic.cancer_history_missing"
    assert {"malignancy_workup", "urgent_surgical_consultation", "mri_with_contrast"} <= r.codes()


# ---------------------------------------------------------------------- Genant

GENANT_EDGES = [(19.9, 0), (20, 1), (25, 1), (25.1, 2), (40, 2), (40.1, 3)]


@pytest.mark.parametrize("name", ["vcf", "trauma", "pathologic", "spine"])
def test_genant_both_sides_of_every_edge_and_unknown(name: str) -> None:
    """Genant 20 / 25 / 40 %: each edge from both sides, one grade code each; with the height
    loss unknown, the range 0 to 3, the fact that would decide it and no grade."""
    grades = {f"genant_grade_{i}" for i in range(4)}
    for pct, grade in GENANT_EDGES:
        r = evaluate(name, patch("founding-case", fractures__0__height_loss_pct=pct))
        assert r.scores["genant"].value == grade, pct
        assert grades & r.codes() == {f"genant_grade_{grade}"}, pct
        assert ("diagnose_osteoporosis_clinical" in r.codes()) == (
            grade >= 1 and name in ("vcf", "spine")), pct
    record = read("founding-case")
    del record["fractures"][0]["height_loss_pct"]
    r = evaluate(name, record)
    s = r.scores["genant"]
    assert (s.value, s.low, s.high) == (None, 0, 3)
    assert s.facts == ("fractures[0].height_loss_pct",)
    assert not grades & r.codes()
    # the grades are rules of their own (S1.genant_grade_0 .. _3, level-scoped to T4-L4)
    assert any(u.rule.startswith("S1.genant_grade_") and "fractures[0].height_loss_pct" in u.facts
               for u in r.undetermined)


# ---------------------------------------------------------------------- the docs pages

ROW = re.compile(r"^\| `([a-z0-9-]+\.json)` \| ([^|]*) \| ([^|]*) \|", re.M)


def doc_rows(name: str) -> dict[str, tuple[set[str], set[str]]]:
    text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    rows = {}
    for m in ROW.finditer(text):
        codes = set(re.findall(r"`([a-z0-9_]+)`", m.group(2)))
        missing = set(re.findall(r"`([a-z0-9_]+)`", m.group(3)))
        rows[m.group(1)] = (codes, missing)
    return rows


@pytest.mark.parametrize("name", ALL)
def test_docs_give_the_codes_of_eval_spine(name: str) -> None:
    """Each docs page lists, for its example patients, exactly the codes `eval spine` gives
    (and its requests); every line cites a source with a DOI, PMID or URL."""
    rows = doc_rows(name)
    assert rows, f"no example-patient table in docs/guidelines/{name}.md"
    for file, (codes, missing) in rows.items():
        r = evaluate("spine", read(file.removesuffix(".json")))
        assert r.codes() == codes, f"{file}: docs {sorted(codes ^ r.codes())} differ"
        # the guideline's requests (the engine's own, ASK_CODE, is tested in
        # tests/hardening/test_unknowns.py)
        assert r.missing_codes() - {ASK_CODE} == missing, file
        for rec in r.recommendations:
            assert any(c.doi or c.pmid or c.url for c in rec.citations), (file, rec.code)
            assert rec.because and rec.text, (file, rec.code)
        for m in r.missing:
            assert any(c.doi or c.pmid or c.url for c in m.citations), (file, m.code)
        assert not [x for x in r.conflicts if x.kind in ("invariant", "contradiction")], file


ALONE_ROW = re.compile(r"^\| ([a-z0-9-]+) \| ([^|]*) \| ([^|]*) \|", re.M)


@pytest.mark.parametrize("name", NEW)
def test_docs_give_the_codes_of_eval_on_the_guideline_alone(name: str) -> None:
    """The table "codes from `eval <name>`" of each pathway page, against the engine."""
    text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    start = text.index(f"| patient | codes from `eval {name}`")
    table = text[start:text.index("\n\n", start)]
    rows = [row for row in ALONE_ROW.findall(table) if row[0] != "patient"]
    assert rows
    for stem, codes, missing in rows:
        r = evaluate(name, read(stem))
        assert r.codes() == set(re.findall(r"`([a-z0-9_]+)`", codes)), stem
        assert r.missing_codes() - {ASK_CODE} == set(re.findall(r"`([a-z0-9_]+)`", missing)), \
            stem
        for rec in r.recommendations:
            assert any(c.doi or c.pmid or c.url for c in rec.citations), (stem, rec.code)


def test_docs_cover_every_new_example_patient() -> None:
    listed = {f for name in ALL for f in doc_rows(name)}
    for path in PATIENTS.glob("*.json"):
        if path.name.split("-")[0] in (*NEW, "spine"):
            assert path.name in listed, path.name
    assert {p.name for p in PATIENTS.glob("*.json")} <= set(doc_rows("spine")) | listed


@pytest.mark.parametrize("name", ALL)
def test_docs_name_every_new_rule(name: str) -> None:
    text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    own = new_rule_ids(name) if name != "spine" else []
    for rid in own:
        assert f"`{rid}`" in text, rid


def test_example_patients_are_valid_records() -> None:
    from spinerules.records import load_record_json

    for path in PATIENTS.glob("*.json"):
        if path.name.split("-")[0] in (*NEW, "spine"):
            load_record_json(guideline("spine").record_type, path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- check and structure


def test_check_guidelines_is_clean() -> None:
    from click.testing import CliRunner

    from spinerules.cli import main

    out = CliRunner().invoke(main, ["check", "guidelines/"])
    assert out.exit_code == 0, out.output
    assert "no problems" in out.output
    for name in ALL:
        assert spinerules.check(name) == []


def test_eval_spine_from_the_cli() -> None:
    from click.testing import CliRunner

    from spinerules.cli import main

    out = CliRunner().invoke(main, ["eval", "spine",
                                    str(PATIENTS / "trauma-older-osteoporosis-outpatient.json"),
                                    "--as-of", "2026-02-18", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["guideline"]["id"] == "spine"
    recs = {r["code"]: r for r in data["recommendations"]}
    assert recs["outpatient_follow_up"]["rule"] == "trauma.outpatient_follow_up"
    assert data["scores"]["tlics"] == {"value": 1}


def test_spine_imports_every_module_once() -> None:
    text = (ROOT / "guidelines/spine/spine.rules").read_text(encoding="utf-8")
    imports = re.findall(r'^import "([^"]+)"', text, re.M)
    assert len(imports) == len(set(imports))
    vcf = {f"../vcf/{p.name}" for p in (ROOT / "guidelines/vcf").glob("*.rules")}
    # the vcf entry, its test blocks, and its referral of a child (replaced by the paediatric
    # pathway itself)
    assert vcf - set(imports) == {"../vcf/vcf.rules", "../vcf/tests.rules",
                                  "../vcf/children.rules"}
    for folder in ("trauma", "pathologic"):
        own = {f"../{folder}/{p.name}" for p in (ROOT / "guidelines" / folder).glob("*.rules")}
        assert own - set(imports) == {f"../{folder}/{folder}.rules"}
    for folder in ("cervical", "ankylosed", "dgou", "occult"):
        own = {f"../{folder}/{p.name}" for p in (ROOT / "guidelines" / folder).glob("*.rules")}
        assert own - set(imports) == {f"../{folder}/{folder}.rules"}
    own = {f"../pediatric/{p.name}" for p in (ROOT / "guidelines/pediatric").glob("*.rules")}
    # the pediatric entry and its requests for the red-flag facts (asked by vcf's here)
    assert own - set(imports) == {"../pediatric/pediatric.rules",
                                  "../pediatric/missing_data.rules"}


def test_spine_restates_the_vcf_invariants() -> None:
    def invariants(name: str) -> set[tuple[tuple[str, ...], str | None]]:
        g = guideline(name)
        return {(i.codes, None if i.when is None else re.sub(r"\s+", " ", str(
            g.checked.program.texts[i.span.source].slice(i.when.span))))
            for i in walk(g.program.items()) if isinstance(i, n.Invariant)}

    assert invariants("vcf") <= invariants("spine")


# ---------------------------------------------------------------------- related questions


def test_related_question_elderly_man_t6_genant_2() -> None:
    r = evaluate("spine", read("elderly-man-t6-grade2"))
    assert r.scores["genant"].value == 2
    assert {"genant_grade_2", "conservative_management", "diagnose_osteoporosis_clinical",
            "dexa_scan", "start_osteoporosis_pharmacotherapy", "secondary_cause_workup",
            "fall_prevention", "calcium_vitamin_d"} <= r.codes()
    assert not {"vertebral_augmentation_referral", "urgent_surgical_consultation",
                "transfer_to_spine_center", "tlics_nonoperative", "sins_stable"} & r.codes()


def test_related_question_transfer_or_outpatient_in_an_older_adult_with_osteoporosis() -> None:
    stable = evaluate("spine", read("trauma-older-osteoporosis-outpatient"))
    assert {"outpatient_follow_up", "tlics_nonoperative", "warn_osteoporotic_bone",
            "reassess_osteoporosis_therapy", "consider_anabolic_agent"} <= stable.codes()
    assert "transfer_to_spine_center" not in stable.codes()
    (rec,) = stable.get("outpatient_follow_up")
    because = {b.expression for b in rec.because}
    assert {"every_injury_tlics_stable", "red_flag", "pain_controlled_orally"} <= because

    unstable = evaluate("spine", read("trauma-older-osteoporosis-transfer"))
    assert {"transfer_to_spine_center", "tlics_operative", "urgent_surgical_consultation",
            "spine_surgery_consultation", "warn_osteoporotic_bone"} <= unstable.codes()
    assert not {"outpatient_follow_up", "conservative_management"} & unstable.codes()


def test_related_question_52_year_old_l3_t_score_minus_1_5() -> None:
    r = evaluate("spine", read("male-52-l3-osteopenia"))
    (dx,) = r.get("diagnose_osteoporosis_clinical")
    assert {c.key for c in dx.citations} >= {"AACE_2020"}
    assert {"avoid_loaded_spinal_flexion", "physiotherapy", "early_mobilization",
            "secondary_cause_workup", "start_osteoporosis_pharmacotherapy"} <= r.codes()
    (flex,) = r.get("avoid_loaded_spinal_flexion")
    assert any(c.key == "T2F_2014" for c in flex.citations)
    assert "dexa_scan" not in r.codes()


def test_related_question_severe_pain_acute_t12_failed_oral_analgesia() -> None:
    r = evaluate("spine", read("spine-acute-t12-severe-pain"))
    assert {"conservative_management", "nsaid_first_line", "opioid_only_if_needed",
            "calcitonin_first_4_weeks", "reassess_4_6_weeks"} <= r.codes()
    assert not {"vertebral_augmentation_referral", "urgent_surgical_consultation",
                "opioid_first_line", "bed_rest"} & r.codes()
    # parenteral opioids or admission would open the severe-failure augmentation path
    worse = evaluate("spine", patch("spine-acute-t12-severe-pain",
                                    analgesia__needs_parenteral_opioids=True))
    assert "vertebral_augmentation_referral" in worse.codes()


def test_related_question_child() -> None:
    r = evaluate("pediatric", read("pediatric-low-energy-vcf"))
    assert {"pediatric_specialist_referral", "use_z_score_not_t_score",
            "diagnose_osteoporosis_clinical", "secondary_cause_workup"} <= r.codes()
    assert not {"vertebral_augmentation_referral", "start_osteoporosis_pharmacotherapy"} \
        & r.codes()
    s = evaluate("spine", read("pediatric-low-energy-vcf"))
    assert {"pediatric_specialist_referral", "use_z_score_not_t_score",
            "diagnose_osteoporosis_clinical"} <= s.codes()
    assert not {"vertebral_augmentation_referral", "start_osteoporosis_pharmacotherapy",
                "fall_prevention"} & s.codes()


# ---------------------------------------------------------------------- routing and guards


def test_high_energy_fracture_in_a_young_adult_gets_no_osteoporosis_pathway() -> None:
    r = evaluate("spine", read("trauma-high-energy-young-adult"))
    assert not {"diagnose_osteoporosis_clinical", "dexa_scan",
                "start_osteoporosis_pharmacotherapy", "calcium_vitamin_d", "fall_prevention",
                "warn_osteoporosis_not_evaluated"} & r.codes()
    assert {"tlics_surgeon_discretion", "spine_surgery_consultation", "ct_whole_spine"} \
        <= r.codes()
    # the osteoporotic conservative plan (calcitonin, bracing, osteoporosis exercise advice)
    # is not given for a high-energy injury: the trauma pathway decides (the acuity classes
    # of an adult's fracture are still given)
    plan = ADULT_PLAN - {"acute_fracture", "subacute_fracture", "chronic_fracture"}
    assert not plan & r.codes(), sorted(plan & r.codes())


@pytest.mark.parametrize("name", ["vcf", "spine"])
def test_high_energy_fracture_gets_no_osteoporotic_plan(name: str) -> None:
    """A stable high-energy fracture in an adult of any age: no conservative (osteoporotic)
    plan; the same fracture after a fall from standing height gets it."""
    stable = patch("trauma-high-energy-young-adult", fractures__0__posterior_ligament="intact",
                   age=70)
    r = evaluate(name, stable)
    assert "conservative_management" not in r.codes()
    assert "calcitonin_first_4_weeks" not in r.codes()
    if name == "spine":
        assert {"outpatient_follow_up", "ct_whole_spine", "tlics_nonoperative"} <= r.codes()
    fall = evaluate(name, patch(stable, fractures__0__mechanism="low_energy"))
    assert {"conservative_management", "calcitonin_first_4_weeks",
            "diagnose_osteoporosis_clinical"} <= fall.codes()


@pytest.mark.parametrize("name", ["vcf", "spine"])
def test_suspected_infection_stops_the_fragility_diagnosis(name: str) -> None:
    """Severe pain with fever, raised markers and immunosuppression: the infection work-up,
    and no osteoporosis label or bone plan until the infection is excluded; without those
    findings the same fracture is a fragility fracture."""
    r = evaluate(name, read("infection-red-flag"))
    assert {"infection_workup", "urgent_surgical_consultation"} <= r.codes()
    assert not {"diagnose_osteoporosis_clinical", "start_osteoporosis_pharmacotherapy",
                "secondary_cause_workup", "calcium_vitamin_d", "fall_prevention"} & r.codes()
    settled = evaluate(name, patch("infection-red-flag", symptoms__fever=False,
                                   labs__inflammatory_markers_elevated=False,
                                   history__immunosuppressed=False))
    assert "infection_workup" not in settled.codes()
    assert "diagnose_osteoporosis_clinical" in settled.codes()


def test_every_action_cites_a_published_source() -> None:
    for rs in (results(), spine_results()):
        for key, r in rs.items():
            for rec in r.recommendations:
                assert any(c.doi or c.pmid or c.url for c in rec.citations), (key, rec.code)
            for m in r.missing:
                assert any(c.doi or c.pmid or c.url for c in m.citations), (key, m.code)


def test_no_invariant_broken_when_spine_evaluates_every_patient() -> None:
    for key, r in spine_results().items():
        assert not [x for x in r.conflicts if x.kind in ("invariant", "contradiction")], key
        assert not {"opioid_first_line", "bed_rest"} & r.codes(), key


def test_pediatric_guideline_never_cites_adult_only_sources_or_gives_adult_treatment() -> None:
    children = [c for c in CASES if is_child(c.record)]
    assert len(children) >= 10
    for c in children:
        r = evaluate("pediatric", c.record)
        for rule, keys in cited_keys(r).items():
            assert not keys & ADULT_ONLY, (c.id, rule)
        assert not {"vertebral_augmentation_referral",
                    "start_osteoporosis_pharmacotherapy"} & r.codes(), c.id


# The adult osteoporotic plan: none of it for a child, under `vcf` or under `spine`.
ADULT_PLAN = {
    "conservative_management", "nsaid_first_line", "opioid_only_if_needed",
    "calcitonin_first_4_weeks", "consider_short_term_bracing", "avoid_loaded_spinal_flexion",
    "early_mobilization", "avoid_prolonged_bed_rest", "physiotherapy", "reassess_4_6_weeks",
    "vertebral_augmentation_referral", "start_osteoporosis_pharmacotherapy",
    "reassess_osteoporosis_therapy", "consider_anabolic_agent", "calcium_vitamin_d",
    "fall_prevention", "dexa_scan", "acute_fracture", "subacute_fracture", "chronic_fracture",
}


@pytest.mark.parametrize("name", ["vcf", "spine"])
def test_children_get_no_adult_plan_and_no_adult_only_source(name: str) -> None:
    """A child (every child of every corpus) gets the red-flag screen, the Genant grade and
    the paediatric pathway: no line of the adult plan, and no line citing AAOS 2010 or NICE
    TA279, for or against."""
    children = [c for c in CASES if is_child(c.record)]
    children += [Case("vcf", c["name"], c["patient"], c) for c in yaml.safe_load(
        (ROOT / "guidelines/vcf/cases/vcf.cases.yaml").read_text(encoding="utf-8"))["cases"]
        if is_child(c["patient"])]
    assert len(children) >= 12
    referred = 0
    for c in children:
        r = evaluate(name, c.record)
        for rule, keys in cited_keys(r).items():
            assert not keys & ADULT_ONLY, (c.id, rule)
        assert not ADULT_PLAN & r.codes(), (c.id, sorted(ADULT_PLAN & r.codes()))
        referred += "pediatric_specialist_referral" in r.codes()
    assert referred >= 10


# ---------------------------------------------------------------------- coverage


@pytest.mark.parametrize("name", ALL)
def test_every_new_rule_fires_and_does_not_fire_somewhere(name: str) -> None:
    """Across the guideline's corpus (for spine: every corpus and example patient), each
    rule and score of the new folders fires in at least one case and not in another."""
    corpus = ({k: v for k, v in results().items() if k.startswith(f"{name}: ")}
              if name != "spine" else spine_results())
    # a score none of whose arms classifies (its bands are level-scoped rules) "fires" where
    # its value was computed
    value_only = {item.name for item in walk(guideline(name).program.items())
                  if isinstance(item, n.Score)
                  and not any(a.action for a in (*item.arms, *item.bands))}
    status: dict[str, set[str]] = defaultdict(set)
    for r in corpus.values():
        assert r.trace is not None
        per: dict[str, set[str]] = defaultdict(set)
        for o in r.trace.outcomes:
            computed = o.rule in value_only and any(a[0] == o.rule for a in o.atoms)
            per[o.rule].add("fire" if computed else o.status)
        for rule, statuses in per.items():
            status[rule].add("fire" if "fire" in statuses else "not")
    ids = new_rule_ids(name)
    assert ids
    assert not [rid for rid in ids if "fire" not in status[rid]], "never fire"
    assert not [rid for rid in ids if "not" not in status[rid]], "always fire"


# ---------------------------------------------------------------------- known gaps


def test_unstable_lesion_without_cancer_history_gets_no_conservative_plan() -> None:
    record = patch("pathologic-lesion-unknown-history", history__cancer=False)
    record["fractures"][0]["sins"] = read("pathologic-unstable")["fractures"][0]["sins"]
    r = evaluate("spine", record)
    assert "sins_unstable" in r.codes()
    assert "conservative_management" not in r.codes()
    # the lesion is a suspected tumour: the red-flag actions, and no osteoporosis label
    assert {"urgent_surgical_consultation", "mri_with_contrast", "malignancy_workup"} \
        <= r.codes()
    assert "diagnose_osteoporosis_clinical" not in r.codes()
    # the same under vcf alone, which has no SINS score
    v = evaluate("vcf", record)
    assert "conservative_management" not in v.codes()
    assert "urgent_surgical_consultation" in v.codes()


def test_consultation_follows_a_band_decided_with_a_part_unknown() -> None:
    r = evaluate("pathologic", lesion(location=None))       # SINS 7 to 10
    assert "sins_potentially_unstable" in r.codes()
    assert "spine_surgery_consultation" in r.codes()
