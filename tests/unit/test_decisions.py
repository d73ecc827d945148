"""``evaluate`` with the trace off takes its result from generated code (``evaluate.Decisions``,
``engine.outcomes``, issue #18); closures remain the reference. Every way the generated code
can fail (not generated, an error or the budget inside it) falls back to the closures without
changing the result or the error reported."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from conftest import AS_OF, Item, Rec

import spinerules
from spinerules.api import bundled_guidelines
from spinerules.engine import evaluate as ev
from spinerules.engine.outcomes import ASSUMED, FIRED

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
        mp.setattr(ev, "generate_outcomes", too_deep)
        assert same_either_way(g, Rec(pain=8, flag=True)).codes() == {"c"}
        assert g.plan.decisions._failed


def test_a_record_given_as_json_gives_the_same_result(make: Make) -> None:
    # read as it is by generated code (``JsonOutcomeGenerator``), or loaded first
    g = make(RULES)
    for data in ({"pain": 8, "flag": True}, {"pain": 8}, {"pain": 1}, {}):
        record = g._record(dict(data))
        assert g.plan.decisions is not None
        g.codes(record, as_of=AS_OF)  # (counts the budget of a record with its lists)
        assert g.plan.decisions.json(data, AS_OF, 10**6, 1000,
                                     g.limits.max_steps) is not None  # (not loaded)
        assert g.evaluate(data, as_of=AS_OF).dumps() == \
            closures_only(g).evaluate(record, as_of=AS_OF).dumps()


def test_a_result_is_built_when_first_read(make: Make) -> None:
    g = make(RULES)
    result = g.evaluate({"pain": 8, "flag": True}, as_of=AS_OF)
    assert result._later is not None  # decided, its objects not made yet
    assert result.codes() == {"c"}  # (read without building them)
    assert result._later is not None
    assert [r.rule for r in result.recommendations] == ["c"]
    assert result._later is None
    assert result == closures_only(g).evaluate(Rec(pain=8, flag=True), as_of=AS_OF)


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

    def assumed(record: Rec) -> list[Any]:
        outcome = decided(record, AS_OF, 10**6)
        assert outcome is not None
        return [ev[-1] if ev[0] == ASSUMED else ev[4] for ev in outcome[0]
                if ev[0] == ASSUMED or (ev[0] == FIRED and ev[4] is not None)]
    assert assumed(cases[0]) == []
    assert frozenset({"items[0].edema"}) in assumed(cases[1])


def test_constant_parts_compile_without_warnings(make: Make) -> None:
    # `is` with an operand CPython folds into a constant (`7 + 3`) is a SyntaxWarning,
    # which as an error would make the generated code fail to compile (closures then)
    import warnings

    from spinerules.engine.outcomes import generate_outcomes

    g = make("define odd: 7 + 3 <= 3 + 1 or patient.flag\n"
             "rule c:\n  when odd and not (2 * 3 > 1 and patient.pain > 5)\n"
             "  warn c \"C.\" cite S\n")
    assert g.plan.decisions is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for json in (False, True):
            generate_outcomes(g.checked, g.plan.decisions.spec, json=json)
    same_either_way(g, Rec(pain=8))
    same_either_way(g, Rec(flag=True))


def test_a_record_the_json_reader_cannot_read_is_loaded(make: Make) -> None:
    # generating the JSON reader fails (a record type it cannot read): the dict is loaded
    # and read by the record's function; the same result
    g = make(RULES)
    assert g.plan.decisions is not None
    g.evaluate({"pain": 8, "flag": True}, as_of=AS_OF)  # (its list lengths now counted)
    real = ev.generate_outcomes

    def no_json(*args: Any, json: bool = False) -> Any:
        if json:
            raise TypeError("cannot read this record from JSON")
        return real(*args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(g.plan.decisions, "_json_fn", None)
        mp.setattr(g.plan.decisions, "_json_tried", False)
        mp.setattr(ev, "generate_outcomes", no_json)
        result = g.evaluate({"pain": 8, "flag": True}, as_of=AS_OF)
        assert g.plan.decisions._json_tried and g.plan.decisions._json_fn is None
    assert result.codes() == {"c"}
    assert result.dumps() == closures_only(g).evaluate(
        Rec(pain=8, flag=True), as_of=AS_OF).dumps()


@pytest.mark.parametrize("name", [b.name for b in bundled_guidelines()])
def test_generated_temporaries_are_plain_locals(name: str) -> None:
    # a walrus inside a comprehension binds in the enclosing function, where each such
    # temporary is a cell made on every call (over a thousand in spine's evaluate: ~40 us
    # a call); quantifiers and facts over lists are lambdas instead, whose temporaries are
    # their own
    g = spinerules.load(name)
    g.warm()
    assert g.plan.decisions is not None and g.plan.values is not None
    fns = {"evaluate": g.plan.decisions._fn, "evaluate(dict)": g.plan.decisions._json_fn,
           "trace values": g.plan.values._fn, "codes": g.fast.fn, "codes(dict)": g.fast.json_fn}
    for label, fn in fns.items():
        assert fn is not None, label
        cells = [c for c in fn.__code__.co_cellvars if c.startswith("_t")]
        assert cells == [], (label, cells[:5])
        # a temporary one statement uses shares its name with other statements': over
        # about 2,000 locals a call's frame no longer fits CPython's stack of frames and
        # each call allocates it from the system (~10 us); none comes near
        assert fn.__code__.co_nlocals < 1800, (label, fn.__code__.co_nlocals)


def test_temporaries_are_shared_between_statements() -> None:
    import ast

    from spinerules.engine.codegen import _share_temporaries
    fn = ast.parse("def f(a):\n"
                   "    _u1 = _r0 = a - 1\n"
                   "    x = (_t1 := a + 1) * _t1 + _u1 + _r0\n"
                   "    y = (_t2 := a * 2) + (_t3 := _t2 + 1) + _t3\n"
                   "    _t4 = x + y\n"
                   "    if (_t5 := _t4 > 3):\n"
                   "        z = (_t6 := _t4) + 1\n"
                   "    else:\n"
                   "        z = (_t7 := 2) - _t7\n"
                   "    w = list(map(lambda v: (_t8 := v) + _t8, [a]))\n"
                   "    return x, y, _t4, z, w, _u1, _r0\n").body[0]
    assert isinstance(fn, ast.FunctionDef)
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "<a>", "exec"), namespace)
    before = [namespace["f"](a) for a in (0, 1, 5)]
    _share_temporaries(fn.body)
    def names(node: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(node)
                if isinstance(n, ast.Name) and n.id.startswith(("_t", "_u"))}
    # each statement's own: _u0, _u2 ... (distinct within it; not _u1, which the function
    # uses: nor _r0); _t4 (used by several statements) keeps its name
    x, y, t4, branch, w = fn.body[1:6]
    assert isinstance(branch, ast.If)
    assert names(x) == {"_u0", "_u1"} and names(y) == {"_u0", "_u2"}
    assert names(t4) == {"_t4"} and names(branch.test) == {"_u0", "_t4"}
    assert names(branch.body[0]) == {"_u0", "_t4"} and names(branch.orelse[0]) == {"_u0"}
    assert names(w) == {"_u0"}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "<b>", "exec"), namespace)
    assert [namespace["f"](a) for a in (0, 1, 5)] == before
