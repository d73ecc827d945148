"""``evaluate`` with the trace off takes its rules' decisions from generated code
(``evaluate.Decisions``, issue #18); closures remain the reference. Every way the generated
code can fail (not generated, an error or the budget inside it, out of step) falls back to
the closures without changing the result or the error reported."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from conftest import AS_OF, Item, Rec

import spinerules
from spinerules.engine import evaluate as ev

Make = Callable[[str], spinerules.Guideline]


def closures_only(g: spinerules.Guideline) -> spinerules.Guideline:
    return attrs.evolve(g, plan=attrs.evolve(g.plan, decisions=None))


def same_either_way(g: spinerules.Guideline, record: Any,
                    as_of: datetime.date = AS_OF) -> spinerules.Result:
    plain = closures_only(g)
    try:
        expected = plain.evaluate(record, as_of=as_of).dumps()
    except spinerules.EvaluationFailedError as err:
        with pytest.raises(spinerules.EvaluationFailedError) as again:
            g.evaluate(record, as_of=as_of)
        assert again.value.diagnostic.code == err.diagnostic.code
        assert again.value.diagnostic.span == err.diagnostic.span
        raise
    result = g.evaluate(record, as_of=as_of)
    assert result.dumps() == expected
    return result


RULES = ("define big: patient.pain >= 7\n"
         "rule c:\n  when big and patient.flag\n  warn c \"Big.\" cite S\n"
         "rule d:\n  when patient.pain < 3\n  warn d \"Small.\" cite S\n")


def test_decided_results_are_the_closures(make: Make) -> None:
    g = make(RULES)
    for rec in (Rec(pain=8, flag=True), Rec(pain=8), Rec(pain=1), Rec()):
        same_either_way(g, rec)
    assert same_either_way(g, Rec(pain=8, flag=True)).codes() == {"c"}
    undecided = same_either_way(g, Rec(pain=8))  # c undetermined: flag not recorded
    assert [u.rule for u in undecided.undetermined] == ["c"]


def test_an_error_only_generated_code_meets_is_not_reported(make: Make) -> None:
    # generated code computes every define; the closures only those a decision needs
    g = make("define ratio: patient.pain / (patient.pain - 5)\n"
             "rule c:\n  when patient.flag and ratio > 1\n  warn c \"C.\" cite S\n")
    assert g.plan.decisions is not None
    assert g.plan.decisions(Rec(pain=5, flag=False), AS_OF, 10**6) is None  # it met it
    assert same_either_way(g, Rec(pain=5, flag=False)).codes() == set()
    with pytest.raises(spinerules.EvaluationFailedError):
        same_either_way(g, Rec(pain=5, flag=True))


def test_decisions_that_cannot_be_generated_leave_the_closures(make: Make) -> None:
    g = make(RULES)

    def too_deep(*args: Any) -> Any:
        raise RecursionError
    assert g.plan.decisions is not None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(g.plan.decisions, "_fn", None)  # (generated at load: as if not)
        mp.setattr(ev, "generate_decisions", too_deep)
        assert same_either_way(g, Rec(pain=8, flag=True)).codes() == {"c"}
        assert g.plan.decisions._failed


def test_decisions_out_of_step_are_not_used(make: Make) -> None:
    g = make(RULES)
    assert g.plan.decisions is not None

    def wrong(record: Any, as_of: datetime.date, budget: int) -> Any:
        # a block stamped for another block, claiming every rule fired with no atoms
        return [(999, 0, [(0, True, ()), (1, True, ())])]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(g.plan.decisions, "_fn", wrong)
        result = same_either_way(g, Rec(pain=8, flag=True))
    assert result.codes() == {"c"}


STRICT = ("define any_swollen: any(x in patient.items: known x.edema and x.edema)\n"
          "for i in patient.items:\n"
          "  define swollen: known i.edema and i.edema\n"
          "  define deep: swollen and i.loss >= 20 %\n"
          "  rule e:\n"
          "    when deep and any(j in patient.items: j.weeks < 6 weeks)\n"
          "    warn e \"E.\" cite S\n"
          "  rule f:\n"
          "    when not deep\n"
          "    warn f \"F.\" cite S\n"
          "rule g:\n"
          "  when any_swollen or patient.flag\n"
          "  warn g \"G.\" cite S\n")


def test_the_strict_reading_is_decided_by_generated_code(make: Make) -> None:
    # rules with the idiom `known x and x` (through defines, in a loop, under a
    # quantifier): generated code reads them strictly
    # too; the closures find the facts only when that reading is unknown
    g = make(STRICT)
    full = Item(edema=True, loss=30, weeks=2)
    cases = [Rec(items=(full,)), Rec(items=(Item(loss=30, weeks=2),)),
             Rec(items=(Item(edema=False, loss=10, weeks=9),), flag=True),
             Rec(items=(full, Item(loss=5))), Rec(items=(Item(edema=True),)), Rec()]
    results = [same_either_way(g, r) for r in cases]
    assert results[0].codes() == {"e", "g"}
    assert all(not r.pending for r in results[0].recommendations)
    # edema unrecorded: `not deep` fires only by reading it as "no": pending on it
    (f,) = results[1].get("f")
    assert f.pending == ("items[0].edema",)
    decided = g.plan.decisions
    assert decided is not None
    blocks = decided(cases[0], AS_OF, 10**6)
    assert blocks is not None
    assert all(not pending for _, _, entries in blocks for *_, pending in entries)
    blocks = decided(cases[1], AS_OF, 10**6)
    assert blocks is not None
    assert any(pending for _, _, entries in blocks for *_, pending in entries)
