"""A trace's values come from generated code (`evaluate.TraceValues`); closures remain the
reference. Every traced result must be the same either way, and every way the generated
code can fail (not generated, an error inside it, out of step) must fall back to the
closures without changing the result or the error reported."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from conftest import AS_OF, Item, Rec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spinerules
from spinerules.engine import codegen, outcomes
from spinerules.engine import evaluate as ev
from spinerules.lang.resources import bundled_names
from spinerules.strategies import patients_for

Make = Callable[[str], spinerules.Guideline]


def closures_only(g: spinerules.Guideline) -> spinerules.Guideline:
    """The same guideline with no generated trace values: every value from the closures."""
    return attrs.evolve(g, plan=attrs.evolve(g.plan, values=None))


def everything(r: spinerules.Result) -> Any:
    assert r.trace is not None
    return r.dumps(), [(o.rule, o.status, o.atoms, o.details, o.reasons, o.facts, o.codes,
                        o.binding) for o in r.trace.outcomes]


def same_either_way(g: spinerules.Guideline, record: Any,
                    as_of: datetime.date = AS_OF) -> spinerules.Result:
    plain = closures_only(g)
    try:
        expected = everything(plain.evaluate(record, as_of=as_of, trace=True))
    except spinerules.EvaluationFailedError as err:
        with pytest.raises(spinerules.EvaluationFailedError) as again:
            g.evaluate(record, as_of=as_of, trace=True)
        assert again.value.diagnostic.code == err.diagnostic.code
        raise
    result = g.evaluate(record, as_of=as_of, trace=True)
    assert everything(result) == expected
    return result


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_traces_are_the_same_with_generated_values(name: str) -> None:
    g = spinerules.load(name)

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(patients_for(g), st.dates(datetime.date(2020, 1, 1), datetime.date(2030, 1, 1)))
    def check(record: Any, as_of: datetime.date) -> None:
        with contextlib.suppress(spinerules.EvaluationFailedError):
            same_either_way(g, record, as_of)  # (the same error either way: checked there)

    check()


def test_the_generated_values_are_used(make: Make) -> None:
    g = make("define big: patient.pain >= 7\n"
             "rule c:\n  when big and patient.flag\n  warn c cite S\n")
    taken: list[bool] = []
    original = ev._Run.take

    def spy(self: ev._Run, key: int, index: int) -> tuple[dict[Any, Any], dict[Any, Any]]:
        values, decided = original(self, key, index)  # (the block's values, its rules')
        taken.append(values is not ev.NO_VALUES and decided is not ev.NO_VALUES)
        return values, decided
    same_either_way(g, Rec(pain=8, flag=None))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev._Run, "take", spy)
        g.evaluate(Rec(pain=8, flag=None), as_of=AS_OF, trace=True)
        closures_only(g).evaluate(Rec(pain=8, flag=None), as_of=AS_OF, trace=True)
    assert taken == [True, False]


def test_loops_take_one_set_of_values_per_element(make: Make) -> None:
    g = make("for item in patient.items:\n"
             "  define wet: item.edema and item.loss >= 20 %\n"
             "  rule c:\n    when wet and patient.flag\n    warn c cite S\n")
    record = Rec(flag=True, items=(Item(edema=True, loss=30), Item(edema=None, loss=10),
                                   Item(edema=True)))
    result = same_either_way(g, record)
    assert result.trace is not None
    assert [o.status for o in result.trace.outcomes] == ["fire", "skip", "unknown"]


def test_an_error_in_the_generated_values_falls_back_to_the_closures(make: Make) -> None:
    # no rule uses the define: the closures never compute it, but the generated code
    # computes every define of a block, and stops on the division by zero
    g = make("define ratio: patient.pain / (patient.pain - 5)\n"
             "rule c:\n  when patient.flag\n  warn c cite S\n")
    result = same_either_way(g, Rec(pain=5, flag=True))
    assert result.codes() == {"c"}


def test_an_error_the_trace_meets_is_reported_either_way(make: Make) -> None:
    # a trace shows every condition, even those after a false one: both ways meet it
    g = make("define ratio: patient.pain / (patient.pain - 5)\n"
             "rule c:\n  when patient.flag and ratio > 1\n  warn c cite S\n")
    with pytest.raises(spinerules.EvaluationFailedError) as err:
        same_either_way(g, Rec(pain=5, flag=False))
    assert err.value.diagnostic.code == "SR505"
    assert g.evaluate(Rec(pain=5, flag=False), as_of=AS_OF).codes() == set()


def test_a_guideline_whose_values_cannot_be_generated_still_traces(make: Make) -> None:
    g = make("rule c:\n  when patient.flag\n  warn c cite S\n")

    def too_deep(*args: Any) -> Any:
        raise RecursionError
    with pytest.MonkeyPatch.context() as mp:
        # (the guideline generated its values when it loaded: as if it had not)
        assert g.plan.values is not None
        mp.setattr(g.plan.values, "_fn", None)
        mp.setattr(ev, "generate_values", too_deep)
        result = same_either_way(g, Rec(flag=True))
        assert g.plan.values._fn is None and g.plan.values._failed
    assert result.codes() == {"c"}


def test_values_out_of_step_are_not_used(make: Make) -> None:
    g = make("define big: patient.pain >= 7\n"
             "rule c:\n  when big\n  warn c cite S\n")
    values = g.plan.values
    assert values is not None

    def wrong(record: Any, as_of: datetime.date, budget: int) -> Any:
        # a snapshot stamped for another block, holding a wrong value for every node
        return iter([({codegen.MARK: (999, 0), **{e.nid: False for e in values.wanted[0]}},
                      {})])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(values, "_fn", wrong)
        result = same_either_way(g, Rec(pain=8))
    assert result.codes() == {"c"}


def test_a_trace_reads_known_parts_from_the_values_and_computes_the_rest(make: Make) -> None:
    # `far` is known from the precomputed values: the closure of the condition reads it
    # there; `patient.flag` is unknown there, and its closure names the fact
    g = make("define far: patient.pain >= 7 and patient.age >= 60 years\n"
             "rule c:\n  when far and patient.flag\n  warn c cite S\n")
    record = Rec(pain=8, age=70, flag=None)
    result = same_either_way(g, record)
    assert result.trace is not None
    [outcome] = result.trace.outcomes
    assert outcome.status == "unknown" and outcome.facts == ("flag",)
    computed: list[int] = []
    original = ev.Compiler._compile

    def spy(self: Any, e: Any) -> Any:
        thunk = original(self, e)

        def run(env: Any) -> Any:
            computed.append(e.nid)
            return thunk(env)
        return run
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev.Compiler, "_compile", spy)
        fresh = make("define far: patient.pain >= 7 and patient.age >= 60 years\n"
                     "rule c:\n  when far and patient.flag\n  warn c cite S\n")
        fresh_far = next(d for d in fresh.checked.defines.values() if d.name == "far")
        assert everything(fresh.evaluate(record, as_of=AS_OF, trace=True)) == \
            everything(result)
        assert fresh_far.expr.nid not in computed  # read from the values
        computed.clear()
        closures_only(fresh).evaluate(record, as_of=AS_OF, trace=True)
        assert fresh_far.expr.nid in computed  # (without them, it is computed)


def test_the_strict_reading_never_reads_the_plain_values(make: Make) -> None:
    # `known x and x` is false in the plain reading when x is missing, and undetermined in
    # the strict one: the rule is decided (not fired) only by reading the absence as "no",
    # so the fact is pending; a strict closure that took the plain value would lose it
    g = make("define treated: known patient.other and patient.other\n"
             "define plain: patient.pain >= 7\n"
             "rule c:\n  when plain and not treated\n  warn c cite S\n")
    result = same_either_way(g, Rec(pain=8, other=None))
    recs = [r for r in result.recommendations if r.code == "c"]
    assert recs and recs[0].pending == ("other",), recs
    result = same_either_way(g, Rec(pain=8, other=False))
    assert [r.pending for r in result.recommendations if r.code == "c"] == [()]


def test_the_invariants_conditions_come_from_the_generated_values(make: Make) -> None:
    g = make("rule a:\n  when patient.pain >= 7 and patient.flag\n  recommend plan cite S\n"
             "rule b:\n  when patient.flag\n  recommend other cite S\n"
             "invariant \"severe pain gets a plan\":\n"
             "  always plan when patient.pain >= 7\n"
             "invariant \"not both\":\n  never plan and other when patient.pain > 8\n")
    records = [Rec(pain=8.0, flag=False), Rec(pain=8.0, flag=True), Rec(pain=9.0, flag=True),
               Rec(pain=3.0), Rec(), Rec(pain=9.5)]
    broken = [[c.detail for c in same_either_way(g, r).conflicts] for r in records]
    assert broken == [["invariant broken: severe pain gets a plan (none of plan)"], [],
                      ["invariant broken: not both (plan and other)"], [], [],
                      ["invariant broken: severe pain gets a plan (none of plan)"]]
    # the closures' `when`s are not run when the generated values went all the way
    read: list[bool] = []
    original = ev._holds

    def spy(ip: Any, k: int, env: Any, when: tuple[Any, ...] | None) -> bool:
        read.append(when is None)  # (None: the closures read it from ``env``)
        return original(ip, k, env, when)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "_holds", spy)
        for r in records:
            g.evaluate(r, as_of=AS_OF, trace=True)
        assert read and not any(read)
        read.clear()
        for r in records:
            closures_only(g).evaluate(r, as_of=AS_OF, trace=True)
        assert read and all(read)


def test_a_block_shows_its_atoms_as_generated_code_made_them(make: Make) -> None:
    # each block's atoms, as the trace shows them, come with its values (a top-level
    # define's node shown in a loop: from the top level's); a node in neither (none
    # here: as if the plan had one) makes that block's walk show them its own way
    g = make("define big: patient.pain >= 7\n"
             "for item in patient.items:\n"
             "  rule c:\n    when big and item.edema\n    warn c cite S\n"
             "  for other in patient.items:\n"
             "    rule d:\n      when item.edema and other.loss >= 20 %\n"
             "      warn d cite S\n")
    rows: dict[int, list[bool]] = {}
    original = ev._Run.take

    def spy(self: ev._Run, key: int, index: int) -> tuple[dict[Any, Any], dict[Any, Any]]:
        values, decided = original(self, key, index)
        rows.setdefault(key, []).append(decided.get(outcomes.ROWS) is not None)
        return values, decided
    record = Rec(pain=8, items=(Item(edema=True, loss=30), Item(edema=None, loss=10)))
    result = same_either_way(g, record)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev._Run, "take", spy)
        g.evaluate(record, as_of=AS_OF, trace=True)
    top, outer, inner = sorted(rows)  # (the blocks' keys: 0, then the loops' node ids)
    assert rows[top] == [True] and rows[outer] == [True, True] and rows[inner] == [True] * 4
    assert result.trace is not None
    assert [(o.rule, o.status) for o in result.trace.outcomes] == [
        ("c", "fire"), ("d", "fire"), ("d", "skip"), ("c", "unknown"), ("d", "unknown"),
        ("d", "skip")]
    fired = next(o for o in result.trace.outcomes if o.rule == "c")
    assert fired.atoms == (("big", True, True), ("via big: patient.pain >= 7", True, True),
                           ("item.edema", True, True))
    # a row whose node the values do not hold: the block gets none (the walk's own way)
    assert g.plan.values is not None and g.plan.values.rows is not None
    plan_rows = dict(g.plan.values.rows)
    plan_rows[inner] = [*plan_rows[inner], ("x", 10**9, str, True, False)]
    fn = outcomes.generate_values(g.checked, g.plan.values.wanted, g.plan.values.spec,
                                  plan_rows)
    shown = {snap[0][codegen.MARK]: snap[1].get(outcomes.ROWS)
             for snap in fn(record, AS_OF, 10**6)}
    assert all(v is None if k[0] == inner else isinstance(v, list)
               for k, v in shown.items()), shown
