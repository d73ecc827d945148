"""Kleene three-valued logic (decision point S2: a missing fact is unknown, never false)."""

from __future__ import annotations

import itertools

import pytest

from spinerules.engine.values import Unknown, k_and, k_not, k_or

U = Unknown(frozenset({"x"}))
VALUES = [True, False, U]

# the full truth tables: (a, b) -> (a and b, a or b); U means unknown
TABLE = {
    (True, True): (True, True),
    (True, False): (False, True),
    (True, U): (U, True),
    (False, True): (False, True),
    (False, False): (False, False),
    (False, U): (False, U),
    (U, True): (U, True),
    (U, False): (False, U),
    (U, U): (U, U),
}


@pytest.mark.parametrize(("a", "b"), list(itertools.product(VALUES, VALUES)))
def test_kleene_and_or_all_nine_pairs(a: object, b: object) -> None:
    want_and, want_or = TABLE[(a, b)]
    assert k_and([a, b]) == want_and
    assert k_or([a, b]) == want_or


@pytest.mark.parametrize(("a", "want"), [(True, False), (False, True), (U, U)])
def test_kleene_not(a: object, want: object) -> None:
    assert k_not(a) == want


def test_unknown_paths_are_merged() -> None:
    a, b = Unknown(frozenset({"neuro.deficit"})), Unknown(frozenset({"history.cancer"}))
    assert k_and([a, True, b]) == Unknown(frozenset({"neuro.deficit", "history.cancer"}))
    assert k_or([a, False, b]).paths == {"neuro.deficit", "history.cancer"}


def test_empty_conjunction_and_disjunction() -> None:
    assert k_and([]) is True
    assert k_or([]) is False
