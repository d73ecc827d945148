"""Static and dynamic semantics agree, and the three evaluators agree (issue: evaluator).

Generated well-typed expressions over the test schema (`tests/conftest.py`) and generated
records: every expression the checker types as T evaluates to a T or Unknown; the closure
evaluator, the generated fast path and the plain reference interpreter decide every rule
alike.
"""

from __future__ import annotations

import datetime

import pytest
from conftest import HEADER, RECORDS, Item, Kind, Level, Rec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spinerules
from spinerules.checker import typesys as ts
from spinerules.engine.compile import Compiler, Env
from spinerules.engine.values import Unknown
from spinerules.lang import nodes as n
from spinerules.records import dump_record

from .reference import UNKNOWN, Reference

AS_OF = datetime.date(2026, 2, 18)

maybe = st.none() | st.booleans()
records = st.builds(
    Rec,
    age=st.none() | st.integers(0, 120),
    pain=st.none() | st.integers(0, 10).map(float),
    flag=maybe, other=maybe,
    seen=st.none() | st.dates(datetime.date(2025, 1, 1), datetime.date(2026, 2, 18)),
    items=st.none() | st.lists(st.builds(
        Item, level=st.none() | st.sampled_from(Level), loss=st.none() | st.integers(0, 100),
        weeks=st.none() | st.integers(0, 30), edema=maybe,
        kind=st.none() | st.sampled_from(Kind)), max_size=3).map(tuple),
)


def number(depth: int) -> st.SearchStrategy[str]:
    base = st.sampled_from(["patient.pain", "3", "7", "0.5", "count(i in patient.items)",
                            "count(i in patient.items: i.edema)"])
    if depth <= 0:
        return base
    sub = number(depth - 1)
    return base | st.builds(lambda a, op, b: f"({a} {op} {b})", sub,
                            st.sampled_from(["+", "-", "*"]), sub)


def duration(depth: int) -> st.SearchStrategy[str]:
    base = st.sampled_from(["patient.age", "50 years", "600 months", "(today - patient.seen)",
                            "2 weeks"])
    if depth <= 0:
        return base
    sub = duration(depth - 1)
    return base | st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from("+-"),
                            sub)


def item_bool() -> st.SearchStrategy[str]:
    return st.sampled_from([
        "i.edema", "i.level in T11..L2", "i.level >= L1", "i.loss > 25 %",
        "i.weeks <= 4 weeks", "i.kind in [burst, distraction]", "unknown i.loss",
        "i.kind == compression", "(i.edema and i.loss >= 20 %)"])


def boolean(depth: int) -> st.SearchStrategy[str]:
    cmp = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    base = (st.sampled_from(["patient.flag", "patient.other", "true", "false",
                             "unknown patient.flag", "known patient.pain"])
            | st.builds(lambda a, op, b: f"{a} {op} {b}", number(1), cmp, number(1))
            | st.builds(lambda a, op, b: f"{a} {op} {b}", duration(1), cmp, duration(1))
            | st.builds(lambda q, c: f"{q}(i in patient.items: {c})",
                        st.sampled_from(["any", "all"]), item_bool()))
    if depth <= 0:
        return base
    sub = boolean(depth - 1)
    return (base
            | st.builds(lambda a: f"not ({a})", sub)
            | st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["and", "or"]),
                        sub))


def load(cond: str) -> spinerules.Guideline:
    body = f"define d: {cond}\nrule r:\n  when d\n  recommend c cite S\n"
    return spinerules.loads(HEADER + body, name="gen.rules", records=RECORDS)


def _of_type(v: object, t: ts.Type) -> bool:
    if isinstance(v, Unknown):
        return True
    if isinstance(t, ts.BoolT):
        return isinstance(v, bool)
    if isinstance(t, ts.NumberT | ts.QuantityT):
        return isinstance(v, int | float) and not isinstance(v, bool)
    if isinstance(t, ts.DateT):
        return isinstance(v, datetime.date)
    if isinstance(t, ts.EnumT):
        return isinstance(v, t.cls)
    return True


def _walk(e: n.Node):  # type: ignore[no-untyped-def]
    import attrs

    yield e
    for f in attrs.fields(type(e)):
        v = getattr(e, f.name)
        for x in (v if isinstance(v, tuple) else (v,)):
            if isinstance(x, n.Node) and not isinstance(x, n.Quantifier):
                yield from _walk(x)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=boolean(2), recs=st.lists(records, min_size=1, max_size=4))
def test_evaluators_agree_and_values_have_their_static_types(cond: str, recs: list[Rec]) -> None:
    g = load(cond)
    define = next(i for i in g.program.items() if isinstance(i, n.Define))
    comp = Compiler(g.checked)
    for rec in recs:
        env = Env(rec, AS_OF, 1_000_000)
        # every sub-expression (outside quantifier bodies) has a value of its static type
        for node in _walk(define.expr):
            t = g.checked.types.get(node.nid)
            if t is None or isinstance(node, n.Pattern):
                continue
            try:
                v = comp.compile(node)(env)  # type: ignore[arg-type]
            except KeyError:  # a loop variable outside its quantifier
                continue
            assert _of_type(v, t), (node, t, v)
        full = g.evaluate(rec, as_of=AS_OF).codes() == {"c"}
        fast = g.codes(rec, as_of=AS_OF) == {"c"}
        ref = Reference(g.checked, rec, AS_OF).ev(define.expr, {})
        assert full == fast == (ref is True), (cond, rec, ref)
        closure = comp.compile(define.expr)(Env(rec, AS_OF, 1_000_000))
        assert isinstance(closure, Unknown) == (ref is UNKNOWN)


@pytest.mark.parametrize("cond", [
    "patient.pain / (patient.pain - 5) > 1",
])
def test_division_by_zero_agrees(cond: str) -> None:
    g = load(cond)
    with pytest.raises(spinerules.EvaluationFailedError):
        g.codes(Rec(pain=5.0), as_of=AS_OF)
    with pytest.raises(spinerules.EvaluationFailedError):
        g.evaluate(Rec(pain=5.0), as_of=AS_OF)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=boolean(2), recs=st.lists(records, min_size=1, max_size=4))
def test_a_condition_written_in_a_rule_fires_alike_in_both_evaluators(
        cond: str, recs: list[Rec]) -> None:
    """The fast path tests a rule's `when` and `unless` for truth without keeping unknowns
    (`codegen.Generator.truth`): `when c` fires exactly when c is true, `unless c` (with no
    `when`) exactly when c is false, as the full evaluation and the reference say."""
    body = (f"define d: {cond}\n"
            f"rule r:\n  when {cond}\n  recommend c cite S\n"
            f"rule s:\n  unless {cond}\n  recommend u cite S\n")
    g = spinerules.loads(HEADER + body, name="gen.rules", records=RECORDS)
    define = next(i for i in g.program.items() if isinstance(i, n.Define))
    for rec in recs:
        ref = Reference(g.checked, rec, AS_OF).ev(define.expr, {})
        want = {code for code, fires in (("c", ref is True), ("u", ref is False)) if fires}
        assert g.codes(rec, as_of=AS_OF) == want, (cond, rec, ref)
        assert g.evaluate(rec, as_of=AS_OF).codes() == want, (cond, rec, ref)
        # and the function reading the record as JSON (its lists' elements as rows)
        read = g.fast.json_codes(dump_record(rec), AS_OF, g.limits.max_steps, g.limits)
        assert read is not None  # (its lists' lengths were counted by codes() above)
        assert read == want, (cond, rec, ref)
