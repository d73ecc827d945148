"""The bundled VCF guideline (guidelines/vcf): founding case, branches, thresholds, coverage.

Every decision point S1-S31 of /work/shared/seed/DIGEST.md is tagged in the case ids
("S9 ..."). Each case is evaluated with a trace; the last tests check that every rule of the
guideline fires in at least one case and does not fire in at least one other, and that no
case breaks an invariant.
"""

from __future__ import annotations

import copy
import datetime
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
DOC = ROOT / "docs" / "guidelines" / "vcf.md"
AS_OF = datetime.date(2026, 2, 18)
DELETE = object()

FOUNDING_CODES = (
    "conservative_management", "nsaid_first_line", "opioid_only_if_needed",
    "calcitonin_first_4_weeks", "early_mobilization", "avoid_prolonged_bed_rest",
    "consider_short_term_bracing", "physiotherapy", "dexa_scan",
    "start_osteoporosis_pharmacotherapy", "calcium_vitamin_d", "fall_prevention",
    "reassess_4_6_weeks", "genant_grade_1", "diagnose_osteoporosis_clinical",
)
FOUNDING_FORBIDDEN = (
    "urgent_surgical_consultation", "mri_with_contrast", "vertebral_augmentation_referral",
)
CONSERVATIVE = (
    "conservative_management", "nsaid_first_line", "opioid_only_if_needed",
    "early_mobilization", "avoid_prolonged_bed_rest", "physiotherapy", "reassess_4_6_weeks",
)


# ---------------------------------------------------------------------- helpers


@cache
def guideline() -> spinerules.Guideline:
    return spinerules.load("vcf")


def read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def patient(name: str, **changes: Any) -> dict[str, Any]:
    """An example patient with changes; keys are dotted paths with `__` for dots
    (``fractures__0__weeks_since_onset=5``); the value DELETE removes the key."""
    record = copy.deepcopy(read(name))
    for key, value in changes.items():
        parts = key.split("__")
        node: Any = record
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        last = parts[-1]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return record


def evaluate(record: dict[str, Any]) -> Result:
    return guideline().evaluate(record, as_of=AS_OF, trace=True)


def fired_rules(result: Result) -> set[str]:
    assert result.trace is not None
    return {o.rule for o in result.trace.outcomes if o.status == "fire"}


def rule_ids() -> list[str]:
    """Every rule id and score name of the guideline, in source order."""

    def walk(items: Any) -> Iterator[str]:
        for item in items:
            if isinstance(item, n.Rule):
                yield item.rule_id
            elif isinstance(item, n.Score):
                yield item.name
            elif isinstance(item, n.For):
                yield from walk(item.items)

    return list(walk(guideline().program.items()))


@attrs.frozen
class Case:
    id: str
    record: dict[str, Any]
    want: tuple[str, ...] = ()
    want_not: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    missing_not: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # rule ids that must fire
    rules_not: tuple[str, ...] = ()  # rule ids that must not fire


F = "founding-case"
CHRONIC = "chronic-failed-conservative"
SEVERE = "acute-severe-hospitalized"

# ---------------------------------------------------------------------- the test corpus
# The corpus lives in guidelines/vcf/cases/vcf.cases.yaml, so that `spinerules test`, the
# pytest plugin and coverage read the same cases as these tests.

CASE_FILE = ROOT / "guidelines/vcf/cases/vcf.cases.yaml"


def _load_cases() -> list[Case]:
    doc = yaml.safe_load(CASE_FILE.read_text(encoding="utf-8"))
    return [Case(c["name"], c["patient"], tuple(c.get("want_codes", ())),
                 tuple(c.get("want_not", ())), tuple(c.get("want_missing", ())),
                 tuple(c.get("want_not_missing", ())), tuple(c.get("want_rules", ())),
                 tuple(c.get("want_not_rules", ()))) for c in doc["cases"]]


CASES: list[Case] = _load_cases()

# ---------------------------------------------------------------------- tests


@cache
def results() -> dict[str, Result]:
    return {c.id: evaluate(c.record) for c in CASES}


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_case(c: Case) -> None:
    r = results()[c.id]
    codes, missing, fired = r.codes(), r.missing_codes(), fired_rules(r)
    assert not set(c.want) - codes, f"missing codes; got {sorted(codes)}"
    assert not set(c.want_not) & codes
    assert not set(c.missing) - missing, f"missing requests; got {sorted(missing)}"
    assert not set(c.missing_not) & missing
    assert not set(c.rules) - fired
    assert not set(c.rules_not) & fired
    assert not [x for x in r.conflicts if x.kind in ("invariant", "contradiction")]


def test_founding_case_acceptance() -> None:
    """S1-S21: the founding case gets the whole conservative plan, each line cited and reasoned."""
    r = evaluate(read(F))
    codes = r.codes()
    for code in FOUNDING_CODES:
        assert code in codes, code
        for rec in r.get(code):
            assert rec.because, f"{code} has no reasons"
            assert any(c.doi or c.pmid or c.url for c in rec.citations), code
    for code in FOUNDING_FORBIDDEN:
        assert code not in codes
    # the one fact the founding case lacks that the guideline asks for: the eGFR, before the
    # bisphosphonate (issue #11); beside it, the engine asks for the facts the plan assumed
    # absent (issue #19: the NSAID contraindication is not recorded, so the NSAID line is pending)
    assert r.missing_codes() == {"request_egfr", ASK_CODE}
    (nsaid,) = r.get("nsaid_first_line")
    assert "analgesia.nsaid_contraindicated" in nsaid.pending
    assert r.scores["genant"].value == 1


def test_founding_case_from_the_cli() -> None:
    """The acceptance run, through `spinerules eval --format json`."""
    from click.testing import CliRunner

    from spinerules.cli import main

    out = CliRunner().invoke(main, ["eval", "vcf", str(PATIENTS / f"{F}.json"),
                                    "--as-of", "2026-02-18", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    recs = {r["code"]: r for r in data["recommendations"]}
    for code in FOUNDING_CODES:
        assert code in recs
        assert recs[code]["because"]
        assert any(c["doi"] or c["pmid"] or c["url"] for c in recs[code]["citations"])
    assert not set(FOUNDING_FORBIDDEN) & set(recs)


def test_founding_case_without_neuro_exam() -> None:
    """S2: no neurological examination -> ask for it; no conservative plan, no augmentation."""
    r = evaluate(read("founding-no-neuro"))
    assert "request_neuro_exam" in r.missing_codes()
    (m,) = [m for m in r.missing if m.code == "request_neuro_exam"]
    assert m.facts == ("neuro.deficit",)
    assert "S6.conservative_first_line" in m.waiting
    assert "conservative_management" not in r.codes()
    assert "vertebral_augmentation_referral" not in r.codes()


def test_augmentation_shows_both_sides() -> None:
    """S25/S26: a referral carries supporting and opposing sources side by side."""
    for name, rule in ((CHRONIC, "S25.augmentation_after_failed_care"),
                       (SEVERE, "S26.augmentation_severe_acute")):
        r = evaluate(read(name))
        (rec,) = r.get("vertebral_augmentation_referral")
        assert rec.rule == rule
        assert {"NICE_TA279", "MULTISOC_VA_2014"} <= {c.key for c in rec.citations}
        (conflict,) = [c for c in r.conflicts if c.code == "vertebral_augmentation_referral"]
        assert conflict.kind == "sources_disagree"
        opposing = {c.key for c in conflict.opposing}
        assert {"AAOS_OSCF_2010", "INVEST_2009", "BUCHBINDER_2009", "COCHRANE_VP_2018"} <= opposing
        because = {b.expression for b in rec.because}
        assert "patient.symptoms.pain_score >= 7" in because


def test_every_action_cites_a_published_source() -> None:
    """Every emitted action and request cites at least one source with a DOI, PMID or URL."""
    for r in results().values():
        for rec in r.recommendations:
            assert any(c.doi or c.pmid or c.url for c in rec.citations), rec.code
            assert rec.because, rec.code
            assert rec.text, rec.code
        for m in r.missing:
            assert any(c.doi or c.pmid or c.url for c in m.citations), m.code


def test_never_emitted_codes() -> None:
    """`opioid_first_line` and `bed_rest` name errors the guideline prevents."""
    for r in results().values():
        assert not {"opioid_first_line", "bed_rest"} & r.codes()


def test_children_never_get_adult_treatments() -> None:
    for c in CASES:
        if c.record.get("age", 99) < 18:
            codes = results()[c.id].codes()
            assert "vertebral_augmentation_referral" not in codes, c.id
            assert "start_osteoporosis_pharmacotherapy" not in codes, c.id


def test_missing_neuro_exam_never_gives_a_conservative_plan() -> None:
    """Section 14: no final conservative plan while the neurological exam is missing."""
    for r in results().values():
        if "request_neuro_exam" in r.missing_codes():
            assert not {"conservative_management", "vertebral_augmentation_referral"} & r.codes()


def test_guideline_test_blocks_pass() -> None:
    """The `test` blocks of guidelines/vcf/tests.rules."""
    from spinerules.testing import cases_from_guideline, describe_failure, run_case

    cases = list(cases_from_guideline(guideline()))
    assert len(cases) >= 2
    for tc in cases:
        outcome = run_case(tc, guideline())
        assert outcome.passed, describe_failure(outcome)


def test_rule_ids_name_their_decision_point() -> None:
    """Every rule id starts with the S-number it encodes; S1-S31 all appear (S12 is a define)."""
    numbers = set()
    for rid in rule_ids():
        if rid == "genant":
            continue
        m = re.match(r"S(\d+)\.[a-z0-9_]+$", rid)
        assert m, rid
        numbers.add(int(m.group(1)))
    assert numbers == set(range(1, 32)) - {12}


def test_docs_map_every_rule() -> None:
    """docs/guidelines/vcf.md names every rule id and every S-number."""
    text = DOC.read_text(encoding="utf-8")
    for rid in rule_ids():
        assert f"`{rid}`" in text, rid
    for i in range(1, 32):
        assert f"| S{i} |" in text, f"S{i}"


MAP_ROW = re.compile(r"^\| S(\d+) \| [^|]* \| ([^|]*) \|", re.M)


def decision_map() -> dict[int, tuple[list[str], list[str]]]:
    """Per decision point of docs/guidelines/vcf.md: (rule ids and score names, defines)."""
    rows: dict[int, tuple[list[str], list[str]]] = {}
    for m in MAP_ROW.finditer(DOC.read_text(encoding="utf-8")):
        rules: list[str] = []
        defines: list[str] = []
        for kind, name in re.findall(r"(score )?`([A-Za-z0-9_.]+)`", m.group(2)):
            # rule ids are dotted (`S7.nsaid_first_line`); `score genant`; the rest are the
            # defines named in brackets
            (rules if "." in name or kind else defines).append(name)
        rows[int(m.group(1))] = (rules, defines)
    return rows


def test_decision_map_names_real_rules_each_fired_by_a_case() -> None:
    """Issue 4: each of S1-S31 appears in the docs map with the rule ids that encode it; every
    listed rule exists, carries its decision point's number, and fires in some case of the
    corpus (a score: classifies); every listed define exists; every rule is listed."""
    rows = decision_map()
    assert sorted(rows) == list(range(1, 32))
    ids = set(rule_ids())
    defines = {d.name for d in guideline().checked.defines.values()}
    fired_anywhere = set().union(*(fired_rules(r) for r in results().values()))
    classified = {rec.rule for r in results().values() for rec in r.recommendations}
    # a score whose grades are rules of their own (genant: S1.genant_grade_*) counts where its
    # value was computed
    classified |= {name for r in results().values() for name, s in r.scores.items()
                   if s.value is not None}
    listed: set[str] = set()
    for number, (rules, defs) in rows.items():
        assert rules or defs, f"S{number} names no rule or define"
        for rid in rules:
            assert rid in ids, f"S{number}: `{rid}` is not a rule of the guideline"
            assert rid == "genant" or rid.startswith(f"S{number}."), (number, rid)
            assert rid in fired_anywhere or rid in classified, f"no case fires `{rid}`"
            listed.add(rid)
        for name in defs:
            assert name in defines, f"S{number}: define `{name}` does not exist"
    assert listed == ids, f"rules missing from the map: {sorted(ids - listed)}"


def test_every_rule_fires_and_does_not_fire_somewhere() -> None:
    """Across the corpus, each rule fires in at least one case and not in at least one other."""
    status: dict[str, set[str]] = defaultdict(set)
    fired_in: dict[str, set[str]] = defaultdict(set)
    for cid, r in results().items():
        assert r.trace is not None
        per_case: dict[str, set[str]] = defaultdict(set)
        for o in r.trace.outcomes:
            # genant's grades are rules of their own: the score "fires" where it was computed
            computed = o.rule == "genant" and any(a[0] == "genant" for a in o.atoms)
            per_case[o.rule].add("fire" if computed else o.status)
        for rule, statuses in per_case.items():
            if "fire" in statuses:
                fired_in[rule].add(cid)
            status[rule].add("fire" if "fire" in statuses else "not")
    ids = rule_ids()
    never_fired = [rid for rid in ids if "fire" not in status[rid]]
    always_fired = [rid for rid in ids if "not" not in status[rid]]
    assert not never_fired, f"rules that never fire: {never_fired}"
    assert not always_fired, f"rules that always fire: {always_fired}"


def test_results_match_the_published_schema() -> None:
    """Every result of the corpus validates against spinerules/result.schema.json."""
    import jsonschema

    from spinerules.engine.result import result_schema

    validator = jsonschema.Draft202012Validator(result_schema())
    for cid, r in results().items():
        errors = sorted(validator.iter_errors(json.loads(r.dumps())), key=str)
        assert not errors, f"{cid}: {errors[0].message}"


def test_no_fracture_no_fracture_plan() -> None:
    """S6: the conservative pathway needs a fracture to manage (found by a generated patient:
    an empty fracture list with a normal neurological examination)."""
    record = patient("founding-case", fractures=[])
    codes = evaluate(record).codes()
    assert "conservative_management" not in codes
    assert "nsaid_first_line" not in codes
    unknown = dict(record)
    del unknown["fractures"]
    assert "conservative_management" not in evaluate(unknown).codes()
