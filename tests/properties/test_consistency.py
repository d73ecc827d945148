"""Consistency properties: planted faults are found with a minimal witness, and the bundled
guidelines pass every property (2,000 generated patients each; SPINERULES_PROFILE=thorough
runs 100,000)."""

from __future__ import annotations

import os

import pytest
from conftest import load_text

import spinerules
from spinerules.lang.resources import bundled_names
from spinerules.properties import PROPERTIES, check_properties

EXAMPLES = 100_000 if os.environ.get("SPINERULES_PROFILE") == "thorough" else 2_000


def test_planted_contradiction_is_found_with_a_minimal_witness() -> None:
    g = load_text("rule a:\n  when patient.pain >= 5\n  recommend x \"X.\" cite S\n"
                  "rule b:\n  when patient.pain <= 6 and patient.flag\n"
                  "  advise_against x \"Not X.\" cite S\n")
    failures = check_properties(g, examples=500, names=("no_contradiction",))
    assert [f.name for f in failures] == ["no_contradiction"]
    witness = failures[0].patient
    assert witness == {"pain": 5.0, "flag": True}  # shrunk: nothing else is needed
    assert "rules a, b" in failures[0].message
    assert "property `no_contradiction` fails" in failures[0].render()


def test_planted_broken_invariant_is_found() -> None:
    g = load_text("rule a:\n  when patient.age >= 65 years\n  recommend x cite S\n"
                  "rule b:\n  when patient.flag\n  warn y cite S\n"
                  "invariant \"x and y never together\": never x and y\n")
    failures = check_properties(g, examples=500, names=("invariants",))
    assert [f.name for f in failures] == ["invariants"]
    assert failures[0].patient == {"age": 65, "flag": True}


def test_planted_broken_always_invariant_is_found() -> None:
    # the rule forgets a patient the invariant names: pain 7-8 with the flag set
    g = load_text("rule a:\n  when patient.pain >= 9 and patient.flag\n  recommend x cite S\n"
                  "invariant \"severe pain with the flag gets x\":\n"
                  "  always x when patient.pain >= 7 and patient.flag\n")
    failures = check_properties(g, examples=500, names=("invariants",))
    assert [f.name for f in failures] == ["invariants"]
    assert failures[0].patient == {"pain": 7.0, "flag": True}


def test_uncited_recommendation_is_found() -> None:
    g = load_text("source U:\n  title \"No identifier\"\n"
                  "rule a:\n  when patient.flag\n  recommend x cite U\n")
    failures = check_properties(g, examples=200, names=("cited",))
    assert [f.name for f in failures] == ["cited"]
    assert failures[0].patient == {"flag": True}


def test_clean_guideline_passes_everything() -> None:
    g = load_text("rule a:\n  when patient.pain >= 5 and not patient.flag\n"
                  "  recommend x cite S\n"
                  "rule ask:\n  when unknown patient.flag\n  request request_flag cite S\n")
    assert check_properties(g, examples=300) == []


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_guideline_passes_every_property(name: str) -> None:
    failures = check_properties(spinerules.load(name), examples=EXAMPLES, names=PROPERTIES)
    assert not failures, "\n\n".join(f.render() for f in failures)
