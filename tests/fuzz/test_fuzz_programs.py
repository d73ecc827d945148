"""Fuzzing (c): grammar-shaped random programs.

Two generators: a token soup (random sequences of keywords, names, numbers, strings,
operators and line breaks, after a valid header half of the time) for the parser and its
error recovery, and random items with random expressions over the spine record (well-formed
often enough to reach the checker, the planner, code generation and evaluation).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import (
    ENUMS,
    HEADER,
    KEYWORDS,
    LOOP_PATHS,
    PATIENT_PATHS,
    PUNCT,
    UNITS,
    check_rules_bytes,
    examples,
)

pytestmark = pytest.mark.fuzz

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    max_examples=examples(ci=2000, long=40_000))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_programs")


NAMES = st.one_of(st.sampled_from(["x", "r", "S", "T", "f", "a1", "S7.x", "patient", "_"]),
                  st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True))
NUMBERS = st.one_of(st.integers(-5, 200).map(str),
                    st.sampled_from(["0", "0.5", "1" + "0" * 40, "9" * 400, "1e5", "00", "1.",
                                     ".5", "-0"]))
STRINGS = st.one_of(st.sampled_from(['""', '"x"', '"a \\" b"', '"\\', '"unterminated', '"\\n"']),
                    st.text(max_size=8).map(lambda t: '"' + t.replace('"', "") + '"'))
DATES = st.one_of(st.dates().map(str), st.sampled_from(["2026-02-30", "0000-01-01",
                                                        "9999-99-99", "2026-1-1"]))
TOKENS = st.one_of(st.sampled_from(KEYWORDS), st.sampled_from(PUNCT), NAMES, NUMBERS, STRINGS,
                   DATES, st.sampled_from(PATIENT_PATHS + LOOP_PATHS + ENUMS))


@SETTINGS
@given(header=st.booleans(), toks=st.lists(TOKENS, max_size=60))
def test_token_soup(folder: Path, header: bool, toks: list[str]) -> None:
    text = (HEADER if header else "") + " ".join(toks)
    check_rules_bytes(text.encode("utf-8", "surrogatepass"), folder)


# --- structured programs ------------------------------------------------------------------

NUMBER_LIT = st.tuples(st.sampled_from(["0", "1", "3", "6", "12", "20", "25", "50", "100",
                                        "0.5", "1" + "0" * 30, "7" * 320]),
                       st.sampled_from(UNITS)).map("".join)
LITERALS = st.one_of(NUMBER_LIT, st.sampled_from(["true", "false", "today", '"x"']), DATES,
                     st.sampled_from(ENUMS))


@functools.cache
def untyped(loop: bool) -> st.SearchStrategy[str]:
    """Any expression shape over any leaves: mostly type errors, for the checker."""
    leaves = st.one_of(LITERALS, st.sampled_from(PATIENT_PATHS),
                       *([st.sampled_from(LOOP_PATHS)] if loop else []),
                       st.sampled_from(["d0", "d1", "s0", "count(g in patient.fractures)"]))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binop = st.sampled_from(["and", "or", "<", "<=", "==", "!=", ">=", ">",
                                 "+", "-", "*", "/"])
        return st.one_of(
            st.tuples(inner, binop, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["not", "unknown", "known", "-"]), inner)
            .map(lambda t: f"{t[0]} {t[1]}"),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} in {t[1]}..{t[2]}"),
            st.tuples(inner, st.lists(inner, min_size=1, max_size=3))
            .map(lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
            st.tuples(st.sampled_from(["any", "all", "count"]), inner)
            .map(lambda t: f"{t[0]}(f in patient.fractures: {t[1]})"),
        )

    return st.recursive(leaves, extend, max_leaves=8)


# Typed leaves: (kind -> facts, literals). Kinds: num, dur (duration), pct, date, level, bool.
MAGNITUDES = st.sampled_from(["0", "1", "2", "6", "12", "18", "25", "40", "100", "0.5", "1000",
                              "3000", "1" + "0" * 12, "1" + "0" * 40, "9" * 320])
FACTS = {
    "num": ["patient.prior_vertebral_fractures", "patient.symptoms.pain_score",
            "patient.bone_health.t_score", "patient.bone_health.z_score",
            "count(g in patient.fractures)", "count(g in patient.fractures: g.marrow_edema)"],
    "dur": ["patient.age"],
    "pct": [],
    "date": [],
    "level": [],
    "bool": ["patient.neuro.deficit", "patient.symptoms.fever", "patient.history.cancer",
             "patient.imaging.mri_done"],
}
LOOP_FACTS = {"num": [], "dur": ["weeks_since_onset"], "pct": ["height_loss_pct"],
              "date": [], "level": ["level"], "bool": ["marrow_edema", "radiograph_negative"]}
LITS = {
    "num": MAGNITUDES,
    "dur": st.tuples(MAGNITUDES, st.sampled_from([" days", " weeks", " months", " years",
                                                  " day"])).map("".join),
    "pct": MAGNITUDES.map(lambda m: m + " %"),
    "date": st.one_of(st.just("today"), st.dates().map(str)),
    "level": st.sampled_from(["C1", "T11", "T12", "L1", "L2", "S5"]),
    "bool": st.sampled_from(["true", "false"]),
}


@functools.cache  # strategies are immutable; building them is what costs
def typed(kind: str, depth: int, var: str | None, refs: bool = True) -> st.SearchStrategy[str]:
    """A well-typed expression of ``kind`` (often enough to reach the evaluator).

    ``var`` is the innermost loop variable (a fracture) or None; ``refs`` allows the
    names of defines and scores.
    """
    facts = FACTS[kind] + ([f"{var}.{x}" for x in LOOP_FACTS[kind]] if var else [])
    leaf = st.one_of(LITS[kind], *([st.sampled_from(facts)] if facts else []))
    if depth <= 0:
        return leaf
    sub = functools.partial(typed, depth=depth - 1, var=var, refs=refs)
    options: list[st.SearchStrategy[str]] = [leaf]
    if kind in ("num", "dur", "pct"):
        options.append(st.tuples(sub(kind), st.sampled_from(["+", "-"]), sub(kind))
                       .map(lambda t: f"({t[0]} {t[1]} {t[2]})"))
        options.append(st.tuples(sub(kind), st.sampled_from(["*", "/"]), sub("num"))
                       .map(lambda t: f"({t[0]} {t[1]} {t[2]})"))
        options.append(sub(kind).map(lambda e: f"-{e}"))
    if kind == "date":
        options.append(st.tuples(sub("date"), st.sampled_from(["+", "-"]), sub("dur"))
                       .map(lambda t: f"({t[0]} {t[1]} {t[2]})"))
    if kind == "bool":
        ordered = ["num", "dur", "pct", "date"]
        compare = st.sampled_from(ordered).flatmap(lambda k: st.tuples(
            sub(k), st.sampled_from(["<", "<=", "==", "!=", ">=", ">"]), sub(k)).map(" ".join))
        in_range = st.sampled_from(ordered).flatmap(lambda k: st.tuples(sub(k), sub(k), sub(k))
                                                    .map(lambda t: f"{t[0]} in {t[1]}..{t[2]}"))
        options += [compare, in_range,
                    st.tuples(sub("bool"), st.sampled_from(["and", "or"]), sub("bool"))
                    .map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
                    sub("bool").map(lambda e: f"not {e}"),
                    st.tuples(st.sampled_from(["unknown", "known"]), st.sampled_from(
                        FACTS["num"][:4] + FACTS["bool"]
                        + ([f"{var}.{x}" for x in LOOP_FACTS["bool"]] if var else [])))
                    .map(" ".join)]
        q = f"q{depth}"
        options.append(st.tuples(st.sampled_from(["any", "all"]),
                                 typed("bool", depth - 1, q, refs))
                       .map(lambda t: f"{t[0]}({q} in patient.fractures: {t[1]})"))
        if var:
            levels = LITS["level"]
            options += [
                st.tuples(st.sampled_from(["<", "<=", "==", "!=", ">=", ">"]), levels)
                .map(lambda t: f"{var}.level {t[0]} {t[1]}"),
                st.tuples(levels, levels).map(lambda t: f"{var}.level in {t[0]}..{t[1]}"),
                st.lists(levels, min_size=1, max_size=3)
                .map(lambda xs: f"{var}.level in [{', '.join(xs)}]"),
            ]
        if refs:
            options.append(st.sampled_from(["d0", "d1"]))
    if kind == "num" and refs:
        options.append(st.sampled_from(["s0", "s1"]))
    return st.one_of(*options)


def expressions(loop: bool) -> st.SearchStrategy[str]:
    return st.one_of(untyped(loop), *[typed("bool", 3, "f" if loop else None)] * 3)


ACTIONS = st.tuples(
    st.sampled_from(["recommend", "consider", "advise_against", "warn", "classify", "request"]),
    st.sampled_from(["c0", "c1", "c2", "c3"]),
    st.sampled_from(["", ' "Do it."']),
    st.sampled_from(["", " strength strong", " strength moderate", " strength bogus"]),
    st.sampled_from(["", " urgency routine", " urgency critical"]),
    st.sampled_from([" cite S", " cite S \"p. 1\", T", " cite NOPE", "", " cite S against T"]),
).map(lambda t: f"  {t[0]} {t[1]}{t[2]}{t[3]}{t[4]}{t[5]}\n")

PATTERNS = st.one_of(st.tuples(st.sampled_from(["<", "<=", ">=", ">", "=="]), NUMBER_LIT)
                     .map(" ".join),
                     st.tuples(NUMBER_LIT, NUMBER_LIT).map(lambda t: f"{t[0]} .. {t[1]}"),
                     st.sampled_from(ENUMS), NUMBER_LIT,
                     st.lists(st.sampled_from(ENUMS), min_size=1, max_size=3)
                     .map(lambda xs: "[" + ", ".join(xs) + "]"))


def items(loop: bool) -> st.SearchStrategy[str]:
    expr = expressions(loop)
    name = st.sampled_from(["d0", "d1", "d2"])
    define = st.tuples(name, expr).map(lambda t: f"define {t[0]}: {t[1]}\n")
    rule = st.tuples(st.sampled_from(["r0", "r1", "r2", "S1.a"]), st.one_of(st.just(""), expr),
                     st.lists(expr, max_size=2), st.lists(ACTIONS, min_size=1, max_size=2)).map(
        lambda t: f"rule {t[0]}:\n"
                  + (f"  when {t[1]}\n" if t[1] else "")
                  + "".join(f"  unless {u}\n" for u in t[2]) + "".join(t[3]))
    arm = st.tuples(PATTERNS, st.integers(-3, 9), st.sampled_from(["", " classify c9 \"k\""])
                    ).map(lambda t: f"  {t[0]} -> {t[1]}{t[2]}\n")
    source = st.one_of(expr, *[st.sampled_from(["num", "dur", "pct", "level"]).flatmap(
        lambda k: typed(k, 1, "f" if loop else None))] * 2)
    table = st.tuples(st.sampled_from(["s0", "s1"]), source, st.lists(arm, min_size=1, max_size=4),
                      st.booleans()).map(
        lambda t: f"score {t[0]} from {t[1]}:\n{''.join(t[2])}"
                  + ("  else -> 0\n" if t[3] else "") + "  cite S\n")
    comp = st.tuples(st.sampled_from(["k0", "k1"]), source,
                     st.lists(arm.map(lambda a: "  " + a.split(" classify")[0].rstrip() + "\n"),
                              min_size=1, max_size=3)).map(
        lambda t: f"  component {t[0]} from {t[1]}:\n{''.join(t[2])}")
    band = st.tuples(PATTERNS, st.sampled_from(["c5", "c6"])).map(
        lambda t: f"  band {t[0]} -> classify {t[1]}\n")
    summed = st.tuples(st.sampled_from(["s0", "s1"]), st.lists(comp, min_size=1, max_size=2),
                       st.lists(band, max_size=3)).map(
        lambda t: f"score {t[0]}:\n{''.join(t[1])}{''.join(t[2])}  cite S\n")
    invariant = st.tuples(st.lists(st.sampled_from(["c0", "c1", "c9", "zz"]), min_size=1,
                                   max_size=2), st.one_of(st.just(""), expr)).map(
        lambda t: 'invariant "i":\n  never ' + " and ".join(t[0])
                  + (f" when {t[1]}" if t[1] else "") + "\n")
    return st.one_of(define, rule, table, summed, invariant)


def indent(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


NOISY_PROGRAMS = st.tuples(
    st.lists(items(loop=False), max_size=5),
    st.lists(st.lists(items(loop=True), min_size=1, max_size=3), max_size=2),
).map(lambda t: HEADER + "".join(t[0])
      + "".join("for f in patient.fractures:\n" + "".join(indent(i) for i in body)
                for body in t[1]))

KINDS = ("recommend", "consider", "advise_against", "warn", "classify", "request")
SCORE_ARMS = {
    "num": ("< 1", "<= 3", "4 .. 6"), "dur": ("< 50 years", "<= 12 weeks", "4 weeks .. 3 months"),
    "pct": ("< 20 %", "<= 25 %", "10 % .. 40 %"), "level": ("T11 .. L2", "L1", "[C1, S5]"),
}


@st.composite
def valid_programs(draw: st.DrawFn) -> str:
    """Programs that usually check clean: declared names, unique ids, matching types."""
    out = [HEADER]
    out.append(f"define d0: {draw(typed('bool', 2, None, refs=False))}\n")
    out.append(f"define d1: {draw(typed('bool', 2, None, refs=False))} or d0\n")
    codes: list[str] = []
    for s_name in ("s0", "s1"):
        kind = draw(st.sampled_from(["num", "dur", "pct"]))
        arms = draw(st.lists(st.sampled_from(SCORE_ARMS[kind]), min_size=1, max_size=3,
                             unique=True))
        points = draw(st.lists(st.sampled_from(["0", "1", "-2", "1" + "0" * 30]),
                               min_size=len(arms) + 1, max_size=len(arms) + 1))
        src = draw(typed(kind, 1, None, refs=False))
        body = "".join(f"  {a} -> {p}\n" for a, p in zip(arms, points, strict=False))
        out.append(f"score {s_name} from {src}:\n{body}  else -> {points[-1]}\n  cite S\n")

    def rule(i: int, loop: bool) -> str:
        kind = draw(st.sampled_from(KINDS))
        code = f"{kind}_{i}"
        codes.append(code)
        var = "f" if loop else None
        when = draw(typed("bool", 3, var))
        unless = draw(st.lists(typed("bool", 2, var), max_size=1))
        return (f"rule r{i}:\n  when {when}\n" + "".join(f"  unless {u}\n" for u in unless)
                + f"  {kind} {code} \"Text.\" cite S\n")

    n_top = draw(st.integers(1, 4))
    out += [rule(i, False) for i in range(n_top)]
    if draw(st.booleans()):
        body = [rule(i, True) for i in range(n_top, n_top + draw(st.integers(1, 3)))]
        out.append("for f in patient.fractures:\n" + "".join(indent(r) for r in body))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["num", "dur", "pct"]))
        arms = draw(st.lists(st.sampled_from(SCORE_ARMS[kind]), min_size=1, max_size=2,
                             unique=True))
        src = draw(typed(kind, 1, "f", refs=False))
        body = "".join(f"    {a} -> {j} classify grade_{j}\n" for j, a in enumerate(arms))
        out.append(f"for f in patient.fractures:\n  score grade from {src}:\n{body}"
                   f"    else -> 9 classify grade_9\n    cite S\n")
    if codes and draw(st.booleans()):
        never = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=2, unique=True))
        cond = draw(st.one_of(st.just(""), typed("bool", 2, None)))
        out.append('invariant "i":\n  never ' + " and ".join(never)
                   + (f" when {cond}" if cond else "") + "\n")
    return "".join(out)


PROGRAMS = st.one_of(NOISY_PROGRAMS, valid_programs(), valid_programs())


@SETTINGS
@given(program=PROGRAMS)
def test_structured_programs(folder: Path, program: str) -> None:
    check_rules_bytes(program.encode("utf-8", "surrogatepass"), folder)
