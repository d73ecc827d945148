"""Mapping files: the bundled one is complete and its codes real; mistakes are located."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinerules.fhir.errors import MappingError
from spinerules.fhir.mapping import (
    BUNDLED,
    bundled_mapping,
    check_codes,
    codes_table,
    leaf_facts,
    loads_mapping,
)
from spinerules.records.spine import Patient

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "integrators" / "fhir.md"
SPINE_YAML = BUNDLED["spine.Patient"].read_text(encoding="utf-8")


def test_bundled_mapping_covers_every_fact_of_the_record() -> None:
    m = bundled_mapping()
    assert list(m.facts) == [p for p, _t, _m in leaf_facts(Patient)]
    assert all(f.sources for f in m.facts.values())


def test_facts_with_a_standard_code_use_it_first() -> None:
    """The facts section 17a of the sources gives standard codes for (see the docs table)."""
    m = bundled_mapping()
    standard = {p for p, f in m.facts.items() if f.sources[0].kind != "project"}
    assert standard == {
        "id", "age", "sex", "fractures[].level", "fractures[].weeks_since_onset",
        "neuro.cauda_equina_signs", "neuro.cord_or_conus_compression", "symptoms.fever",
        "symptoms.pain_score", "labs.inflammatory_markers_elevated", "history.cancer",
        "history.immunosuppressed", "analgesia.on_opioids", "bone_health.on_treatment",
        "bone_health.dexa_done", "bone_health.t_score",
        # added with the record's #11/#19 fields: eGFR (LOINC), long-term glucocorticoids
        # (ATC H02AB, RxNorm), ankylosing spondylitis and DISH (ICD-10-CM M45, M48.1), a dens
        # fracture (S12.11, S12.12), the Glasgow coma score total (LOINC 9269-2)
        "labs.egfr", "history.long_term_glucocorticoids", "history.ankylosing_disorder",
        "fractures[].odontoid", "cspine.gcs"}
    used = {s.value_set.name for f in m.facts.values() for s in f.sources if s.value_set}
    used |= {spec.value_set.name for spec in m.lists.values()}
    assert used == set(m.value_sets), "a value set that no fact uses"


def test_every_icd_code_is_real() -> None:
    pytest.importorskip("simple_icd_10_cm", reason="the fhir extra is not installed")
    assert check_codes(bundled_mapping()) == []


def test_an_invented_icd_code_is_found_with_its_line() -> None:
    pytest.importorskip("simple_icd_10_cm", reason="the fhir extra is not installed")
    text = SPINE_YAML.replace("icd10cm: [C79.51, C79.52,", "icd10cm: [C79.51, C79.59,")
    problems = check_codes(loads_mapping(text, name="m.yaml"))
    assert [(p.path, p.line) for p in problems] == [
        ("value_sets.cancer.icd10cm[1]", _line(text, "C79.59"))]
    assert "C79.59 is not an ICD-10-CM code" in str(problems[0])


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("old", "new", "path", "fragment"), [
    ("  cancer:\n    icd10cm:", "  cancer:\n    icd11:", "value_sets.cancer.icd11",
     "unknown code system 'icd11'"),
    ("loinc: [8310-5]", "loinc: [8310-X]", "value_sets.body_temperature.loinc[0]",
     "malformed loinc code '8310-X'"),
    ("icd10cm: [G83.4]", "icd10cm: [G834X]", "value_sets.cauda_equina.icd10cm[0]",
     "malformed icd10cm code 'G834X'"),
    ("sct: [\"42942008\"]", "sct: [42942008]", "value_sets.vertebral_fracture.sct[0]",
     "quote numeric codes"),
    ("  history.cancer:\n", "  history.cancers:\n", "facts.history.cancers",
     "is not a fact of spine.Patient"),
    ("- condition: cancer\n", "- condition: cancers\n", "facts.history.cancer[0].condition",
     "unknown value set 'cancers'"),
    ("value: {quantity: Cel, at_least: 38.0}", "value: {quantity: Fahrenheit}",
     "facts.symptoms.fever[0].value.quantity", "not in the UCUM table"),
    ("emit: {system: icd10cm, code: C79.51,", "emit: {system: icd10cm, code: C50.9,",
     "facts.history.cancer[0].emit", "is not in cancer"),
])
def test_mapping_mistakes_are_located(old: str, new: str, path: str, fragment: str) -> None:
    assert old in SPINE_YAML
    text = SPINE_YAML.replace(old, new, 1)
    with pytest.raises(MappingError) as info:
        loads_mapping(text, name="m.yaml")
    found = {p.path: p for p in info.value.problems}
    assert path in found, [str(p) for p in info.value.problems]
    assert fragment in found[path].message
    assert found[path].line is not None and found[path].file == "m.yaml"


def test_not_yaml_is_located() -> None:
    with pytest.raises(MappingError) as info:
        loads_mapping("facts: [\n", name="m.yaml")
    assert "not valid YAML" in str(info.value) and info.value.problems[0].line is not None


def test_the_docs_codes_table_matches_the_mapping() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- codes:begin -->\n", "<!-- codes:end -->"
    assert begin in text and end in text
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == codes_table(bundled_mapping()), (
        "docs/integrators/fhir.md is out of date; paste this between the markers:\n"
        + codes_table(bundled_mapping()))
