"""Evaluation semantics: unknowns, quantities, levels, quantifiers, scores, results."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from conftest import AS_OF, Item, Kind, Level, Rec

import spinerules

Make = Callable[[str], spinerules.Guideline]


def rule(cond: str, code: str = "c") -> str:
    return f"rule r:\n  when {cond}\n  recommend {code} \"x\" cite S\n"


def status(g: spinerules.Guideline, rec: Rec) -> str:
    r = g.evaluate(rec, as_of=AS_OF, trace=True)
    assert r.trace is not None
    return next(o.status for o in r.trace.outcomes if o.rule == "r")


@pytest.mark.parametrize(("cond", "rec", "want"), [
    # S2: a missing fact is unknown, never false
    ("patient.flag", Rec(), "unknown"),
    ("patient.flag", Rec(flag=True), "fire"),
    ("patient.flag and patient.other", Rec(flag=False), "skip"),
    ("patient.flag and patient.other", Rec(flag=True), "unknown"),
    ("patient.flag or patient.other", Rec(other=True), "fire"),
    ("patient.flag or patient.other", Rec(other=False), "unknown"),
    ("not patient.flag", Rec(), "unknown"),
    ("unknown patient.flag", Rec(), "fire"),
    ("known patient.flag", Rec(), "skip"),
    ("known patient.flag", Rec(flag=False), "fire"),
    # comparisons and arithmetic propagate unknown
    ("patient.pain >= 7", Rec(), "unknown"),
    ("patient.pain + 1 >= 8", Rec(), "unknown"),
    ("patient.pain + 1 >= 8", Rec(pain=7), "fire"),
    ("patient.pain * 2 > 13", Rec(pain=6), "skip"),
    # quantities: units convert at compile time
    ("patient.age >= 50 years", Rec(age=50), "fire"),
    ("patient.age >= 600 months", Rec(age=50), "fire"),
    ("patient.age > 600 months", Rec(age=50), "skip"),
    # quantifiers
    ("any(i in patient.items: i.edema)", Rec(items=()), "skip"),
    ("all(i in patient.items: i.edema)", Rec(items=()), "fire"),
    ("any(i in patient.items: i.edema)", Rec(items=(Item(edema=None), Item(edema=True))), "fire"),
    ("any(i in patient.items: i.edema)", Rec(items=(Item(edema=None), Item(edema=False))),
     "unknown"),
    ("all(i in patient.items: i.edema)", Rec(items=(Item(edema=None), Item(edema=False))), "skip"),
    ("any(i in patient.items: i.edema)", Rec(), "unknown"),
    ("count(i in patient.items) == 2", Rec(items=(Item(), Item())), "fire"),
    ("count(i in patient.items: i.edema) >= 1", Rec(items=(Item(), Item(edema=True))), "unknown"),
    ("count(i in patient.items: known i.edema) == 1", Rec(items=(Item(), Item(edema=True))),
     "fire"),
    # ordered levels, ranges, sets
    ("any(i in patient.items: i.level in T11..L2)", Rec(items=(Item(level=Level.L1),)), "fire"),
    ("any(i in patient.items: i.level in T11..L2)", Rec(items=(Item(level=Level.L3),)), "skip"),
    ("any(i in patient.items: i.level >= T12)", Rec(items=(Item(level=Level.T11),)), "skip"),
    ("any(i in patient.items: i.kind in [burst, distraction])",
     Rec(items=(Item(kind=Kind.burst),)), "fire"),
    # dates: today is as_of
    ("today - patient.seen >= 2 weeks", Rec(seen=datetime.date(2026, 2, 4)), "fire"),
    ("today - patient.seen >= 2 weeks", Rec(seen=datetime.date(2026, 2, 5)), "skip"),
    ("patient.seen + 1 week <= today", Rec(seen=datetime.date(2026, 2, 11)), "fire"),
])
def test_rule_status(make: Make, cond: str, rec: Rec, want: str) -> None:
    assert status(make(rule(cond)), rec) == want


def test_unless_blocks_and_unknown_unless_is_undetermined(make: Make) -> None:
    g = make("rule r:\n  when patient.flag\n  unless patient.other\n  recommend c cite S\n")
    assert status(g, Rec(flag=True, other=False)) == "fire"
    assert status(g, Rec(flag=True, other=True)) == "skip"
    assert status(g, Rec(flag=True)) == "unknown"


def test_undetermined_rule_names_the_deciding_facts(make: Make) -> None:
    g = make(rule("patient.flag and patient.pain >= 7"))
    r = g.evaluate(Rec(), as_of=AS_OF)
    assert [(u.rule, u.facts) for u in r.undetermined] == [("r", ("flag", "pain"))]
    assert r.codes() == set()


def test_request_names_facts_and_waiting_rules(make: Make) -> None:
    g = make(rule("patient.flag")
             + "rule ask:\n  when unknown patient.flag\n"
               "  request request_flag \"Record the flag.\" cite S\n")
    r = g.evaluate(Rec(), as_of=AS_OF)
    assert [(m.code, m.facts, m.waiting) for m in r.missing] == [
        ("request_flag", ("flag",), ("r",))]
    assert g.evaluate(Rec(flag=True), as_of=AS_OF).missing == ()


def test_loop_paths_are_indexed(make: Make) -> None:
    g = make("for i in patient.items:\n  rule r:\n    when i.edema\n"
             "    recommend c cite S\n")
    r = g.evaluate(Rec(items=(Item(edema=True), Item())), as_of=AS_OF)
    assert r.codes() == {"c"}
    assert [u.facts for u in r.undetermined] == [("items[1].edema",)]
    assert r.recommendations[0].because[0].value == "items[0]"


def test_defines_are_computed_once_per_evaluation(make: Make) -> None:
    g = make("define a: any(i in patient.items: i.edema)\n"
             + "rule r1:\n  when a\n  recommend c1 cite S\n"
             + "rule r2:\n  when a and a\n  recommend c2 cite S\n")
    import spinerules.engine.compile as compile_mod

    env = compile_mod.Env(Rec(items=(Item(edema=True),) * 3), AS_OF, 10_000)
    from spinerules.engine.evaluate import _fast_block

    out: set[str] = set()
    _fast_block(g.plan.block, env, out)
    assert out == {"c1", "c2"}
    assert env.steps == 1  # `any` stops at the first true element, and runs once


GENANT = """for i in patient.items:
  score genant from i.loss:
    < 20 % -> 0 classify g0
    <= 25 % -> 1 classify g1
    <= 40 % -> 2 classify g2
    else -> 3 classify g3
    cite S
"""


@pytest.mark.parametrize(("loss", "code"), [
    (19.99, "g0"), (20, "g1"), (25, "g1"), (25.01, "g2"), (40, "g2"), (40.01, "g3")])
def test_table_score_edges(make: Make, loss: float, code: str) -> None:
    r = make(GENANT).evaluate(Rec(items=(Item(loss=loss),)), as_of=AS_OF)
    assert r.codes() == {code}
    assert r.scores["genant"].value == int(code[1])


def test_table_score_unknown_input_gives_range(make: Make) -> None:
    r = make(GENANT).evaluate(Rec(items=(Item(),)), as_of=AS_OF)
    s = r.scores["genant"]
    assert (s.value, s.low, s.high, s.facts) == (None, 0, 3, ("items[0].loss",))
    assert r.codes() == set()
    assert r.undetermined[0].codes == ("g0", "g1", "g2", "g3")


SUM = """score total:
  component pain from patient.pain:
    < 4 -> 0
    else -> 2
  component kind from patient.flag ask "a look at the flag":
    true -> 1
    false -> 0
  band <= 1 -> classify low
  band 2 -> classify mid
  band >= 3 -> classify high
  cite S
"""


def test_sum_score_with_unknown_component_gives_range_and_ask(make: Make) -> None:
    r = make(SUM).evaluate(Rec(pain=5), as_of=AS_OF)
    s = r.scores["total"]
    assert (s.value, s.low, s.high, s.facts) == (None, 2, 3, ("flag",))
    assert s.note is not None and "a look at the flag" in s.note
    assert r.codes() == set()
    assert r.to_json()["scores"]["total"]["min"] == 2


def test_sum_score_band_fires_when_every_possible_total_agrees(make: Make) -> None:
    r = make(SUM).evaluate(Rec(pain=1), as_of=AS_OF)  # totals 0 or 1: both "low"
    assert r.codes() == {"low"}
    assert r.scores["total"].value is None


@pytest.mark.parametrize(("pain", "flag", "code"), [(1, False, "low"), (1, True, "low"),
                                                    (5, False, "mid"), (5, True, "high")])
def test_sum_score_bands(make: Make, pain: float, flag: bool, code: str) -> None:
    assert make(SUM).evaluate(Rec(pain=pain, flag=flag), as_of=AS_OF).codes() == {code}


def test_score_name_usable_in_conditions(make: Make) -> None:
    g = make(SUM + rule("total >= 2"))
    assert status(g, Rec(pain=5, flag=False)) == "fire"
    assert status(g, Rec(pain=1, flag=False)) == "skip"
    assert status(g, Rec(pain=5)) == "fire"  # totals 2 or 3: >= 2 either way


@pytest.mark.parametrize(("cond", "pain", "want"), [
    ("total >= 3", 5, "unknown"),   # 2 or 3: depends on the flag
    ("total >= 2", 5, "fire"),      # 2 or 3
    ("total < 2", 5, "skip"),       # 2 or 3
    ("total > 1", 1, "skip"),       # 0 or 1
    ("3 > total", 5, "unknown"),    # flipped sides
    ("4 > total", 5, "fire"),
    ("total == 7", 5, "skip"),      # outside the range
    ("total != 7", 5, "fire"),
    ("total == 2", 5, "unknown"),
    ("total in 2..3", 5, "fire"),
    ("total in 4..9", 5, "skip"),
    ("total in 3..9", 5, "unknown"),
    ("total + 0 >= 2", 5, "unknown"),  # arithmetic keeps no range
])
def test_an_undetermined_score_decides_what_its_whole_range_decides(
        make: Make, cond: str, pain: float, want: str) -> None:
    """Flag unknown: the total is one of two values; a comparison that every possible
    total answers the same way is decided, in the full evaluation and the fast path."""
    g = make(SUM + rule(cond))
    assert status(g, Rec(pain=pain)) == want
    fired = "c" in g.codes(Rec(pain=pain), as_of=AS_OF)
    assert fired == (want == "fire")


def test_fast_path_matches_full_evaluation(make: Make) -> None:
    g = make(GENANT + SUM + rule("patient.flag"))
    for rec in (Rec(), Rec(pain=5, flag=True, items=(Item(loss=30),)),
                Rec(pain=1, items=(Item(loss=10), Item(loss=50)))):
        assert g.codes(rec, as_of=AS_OF) == g.evaluate(rec, as_of=AS_OF).codes()


def test_conflicts_contradiction_invariant_and_sources(make: Make) -> None:
    g = make("rule a:\n  when patient.flag\n  recommend x cite S against T\n"
             "rule b:\n  when patient.flag\n  advise_against x cite S\n"
             "invariant \"never y with x\": never x and y\n"
             "rule c:\n  when patient.flag\n  warn y cite S\n")
    kinds = sorted(c.kind for c in g.evaluate(Rec(flag=True), as_of=AS_OF).conflicts)
    assert kinds == ["contradiction", "invariant", "sources_disagree"]
    assert g.evaluate(Rec(flag=False), as_of=AS_OF).conflicts == ()


def test_budget_stops_runaway_evaluation(make: Make) -> None:
    g = spinerules.loads(
        "guideline t \"T\" record test.Rec\nsource S: title \"s\" url \"u\"\n"
        + rule("any(i in patient.items: any(j in patient.items: j.edema and i.edema))"),
        records={"test.Rec": Rec}, limits=spinerules.Limits(max_steps=50))
    with pytest.raises(spinerules.EvaluationFailedError) as err:
        g.evaluate(Rec(items=(Item(edema=False),) * 20), as_of=AS_OF)
    assert err.value.diagnostic.code == "SR502"


def test_division_by_zero_is_a_located_error(make: Make) -> None:
    g = make(rule("patient.pain / (patient.pain - 5) > 1"))
    with pytest.raises(spinerules.EvaluationFailedError) as err:
        g.evaluate(Rec(pain=5), as_of=AS_OF)
    assert err.value.diagnostic.code == "SR505"


def test_explain_why_and_why_not(make: Make) -> None:
    g = make(rule("patient.flag and patient.pain >= 7"))
    why = g.evaluate(Rec(flag=True, pain=8), as_of=AS_OF, trace=True).explain("c")
    assert "fired, because" in why
    assert "- patient.pain >= 7: true, since patient.pain is 8 (>= 7)" in why
    assert "- patient.flag: true" in why
    why_not = g.evaluate(Rec(flag=True, pain=6), as_of=AS_OF, trace=True).explain("c")
    assert "- patient.pain >= 7: false, since patient.pain is 6 (>= 7)" in why_not
    assert "patient.flag" not in why_not  # true: it did not stop the rule
    assert "smallest change: patient.pain is 6; needs >= 7" in why_not
    unknown = g.evaluate(Rec(flag=True), as_of=AS_OF, trace=True).explain("c")
    assert "would be decided by pain" in unknown
    assert "- patient.pain >= 7: unknown" in unknown


def test_explain_shows_only_the_deciding_branch_of_an_or(make: Make) -> None:
    g = make("define risky: patient.flag or patient.other\n" + rule("risky"))
    why_not = g.evaluate(Rec(flag=False, other=False), as_of=AS_OF, trace=True).explain("c")
    assert "- risky: false" in why_not
    assert "  - patient.flag: false" in why_not and "  - patient.other: false" in why_not
    why = g.evaluate(Rec(flag=False, other=True), as_of=AS_OF, trace=True).explain("c")
    assert "- patient.other: true" in why
    assert "patient.flag" not in why  # false, and it did not matter


def test_invariants_see_request_codes(make: Make) -> None:
    g = make("rule a:\n  when patient.pain >= 1\n  recommend plan cite S\n"
             "rule ask:\n  when unknown patient.flag\n  request request_flag cite S\n"
             "invariant \"no plan while the flag is missing\": never plan and request_flag\n")
    conflicts = g.evaluate(Rec(pain=3.0), as_of=AS_OF).conflicts
    assert [(c.kind, c.rules) for c in conflicts] == [("invariant", ("a", "ask"))]
    assert g.evaluate(Rec(pain=3.0, flag=True), as_of=AS_OF).conflicts == ()


def test_always_invariant_needs_one_of_its_codes_when_its_condition_holds(make: Make) -> None:
    g = make("rule a:\n  when patient.pain >= 7 and patient.flag\n  recommend plan cite S\n"
             "rule ask:\n  when patient.pain >= 7 and unknown patient.flag\n"
             "  request request_flag cite S\n"
             "invariant \"severe pain gets a plan or a question\":\n"
             "  always plan or request_flag when patient.pain >= 7\n")
    assert g.evaluate(Rec(pain=8.0, flag=True), as_of=AS_OF).conflicts == ()  # plan
    assert g.evaluate(Rec(pain=8.0), as_of=AS_OF).conflicts == ()  # the request counts
    assert g.evaluate(Rec(pain=3.0), as_of=AS_OF).conflicts == ()  # condition false
    assert g.evaluate(Rec(), as_of=AS_OF).conflicts == ()  # condition undecided: no guess
    broken = g.evaluate(Rec(pain=8.0, flag=False), as_of=AS_OF).conflicts
    assert [(c.kind, c.code, c.detail) for c in broken] == [(
        "invariant", "plan",
        "invariant broken: severe pain gets a plan or a question (none of plan, request_flag)")]


def test_always_invariant_needs_a_condition_and_known_codes() -> None:
    from spinerules.lang.parser import parse
    from spinerules.lang.source import Source

    _, problems = parse(Source("t.rules", "invariant \"x\":\n  always plan\n"))
    assert [(p.code, p.span.line, p.hints) for p in problems] == [
        ("SR103", 2, ("expected `or` or `when`",))]  # `always` needs its `when`
    with pytest.raises(spinerules.GuidelineError) as err:
        spinerules.loads("guideline t \"T\" record test.Rec\nsource S: title \"s\" url \"u\"\n"
                         "rule a:\n  when patient.flag\n  recommend plan cite S\n"
                         "invariant \"i\":\n  always plna when patient.flag\n",
                         records={"test.Rec": Rec})
    assert [d.code for d in err.value.diagnostics] == ["SR402"]
    assert "did you mean `plan`" in str(err.value)


def test_because_reaches_the_facts_under_a_define(make: Make) -> None:
    g = make("define hurt: patient.pain >= 7 and not patient.flag\n"
             + rule("hurt"))
    because = g.evaluate(Rec(pain=8.0, flag=False), as_of=AS_OF).recommendations[0].because
    assert [(b.expression, b.value) for b in because] == [
        ("hurt", True), ("via hurt: patient.pain >= 7", True), ("via hurt: patient.flag", False)]


def test_request_facts_come_through_defines(make: Make) -> None:
    g = make("define incomplete: unknown patient.flag or unknown patient.other\n"
             "rule ask:\n  when incomplete\n  request request_more cite S\n")
    missing = g.evaluate(Rec(flag=True), as_of=AS_OF).missing
    assert [(m.code, m.facts) for m in missing] == [("request_more", ("other",))]


TABLE = """score grade from patient.pain:
  < 2 -> 0
  2..5 -> 2
  else -> 3
  cite S
"""


@pytest.mark.parametrize(("text", "want"), [
    (SUM + "define t: total\n" + rule("t >= 2"), "fire"),       # through a define
    (SUM + "define t: total\n" + rule("t >= 3"), "unknown"),
    (TABLE + rule("grade >= 0"), "fire"),                       # pain unknown: 0 to 3
    (TABLE + rule("grade > 3"), "skip"),
    (TABLE + rule("grade >= 2"), "unknown"),
])
def test_score_ranges_through_defines_and_table_scores(make: Make, text: str,
                                                       want: str) -> None:
    g = make(text)
    rec = Rec(pain=5) if text.startswith("score total") else Rec()
    assert status(g, rec) == want
    assert ("c" in g.codes(rec, as_of=AS_OF)) == (want == "fire")


@pytest.mark.parametrize("cond", ["0 <= -total", "-total < 0", "total in [2, 3]",
                                  "not (total in [7])"])
def test_only_the_score_itself_carries_its_range(make: Make, cond: str) -> None:
    """Found by the program fuzzer: `-total` must not keep the range of `total`."""
    g = make(SUM + rule(cond))
    assert status(g, Rec(pain=5)) == "unknown"
    assert "c" not in g.codes(Rec(pain=5), as_of=AS_OF)
