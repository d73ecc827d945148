"""The printer and the parser are inverses (issue #2, the language front end).

For generated well-formed ASTs (built node by node, below): ``parse(print(ast)) == ast``,
and printing again gives the same text. Laying the printed text out differently (other
indentation, lines joined, extra parentheses) and adding comments anywhere does not change
the AST; ``fmt`` keeps every comment, in order, and is idempotent. The same holds for every
bundled guideline file.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinerules.lang import nodes as n
from spinerules.lang.parser import ITEM_KEYWORDS, parse
from spinerules.lang.printer import format_source, print_expr, print_file
from spinerules.lang.resources import grammar_path, guidelines_dir
from spinerules.lang.source import Source
from spinerules.lang.units import UNITS

SETTINGS = settings(max_examples=250, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: every keyword of the grammar (and the quantifiers): generated names avoid them
KEYWORDS = frozenset(re.findall(r'"([a-z_]+)"', grammar_path().read_text())) | {
    "any", "all", "count"}

# ----------------------------------------------------------------------------- strategies

names = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(
    lambda s: s not in KEYWORDS)
upper_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True)
dotted = st.lists(names, min_size=1, max_size=3).map(".".join)
texts = st.text(max_size=12)
units = st.none() | st.sampled_from(sorted(UNITS))
numbers = st.integers(-10_000, 10_000).map(float) | st.floats(
    -1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
points = st.integers(-5, 20).map(float) | st.sampled_from([0.5, 1.25, -2.5])


def number(unit: st.SearchStrategy[str | None] = units) -> st.SearchStrategy[n.Number]:
    return st.builds(n.Number, value=numbers, unit=unit)


paths = st.lists(names, min_size=1, max_size=3).map(lambda ns: n.Path(names=tuple(ns)))
leaves = st.one_of(
    number(), paths, paths, st.builds(n.String, value=texts),
    st.builds(n.Bool, value=st.booleans()), st.builds(n.Date, value=st.dates()),
    st.just(n.Today()))


def _compound(inner: st.SearchStrategy[n.Expr]) -> st.SearchStrategy[n.Expr]:
    pairs = st.tuples(inner, inner)
    return st.one_of(
        st.builds(n.BoolOp, op=st.sampled_from(["and", "or"]),
                  operands=st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(n.Not, operand=inner),
        st.builds(n.IsKnown, operand=inner, known=st.booleans()),
        pairs.flatmap(lambda lr: st.builds(
            n.Compare, op=st.sampled_from(["<", "<=", "==", "!=", ">=", ">"]),
            left=st.just(lr[0]), right=st.just(lr[1]))),
        st.builds(n.InRange, value=inner, low=inner, high=inner),
        st.builds(n.InSet, value=inner, items=st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(n.Arith, op=st.sampled_from(["+", "-", "*", "/"]), left=inner, right=inner),
        # the builder folds a minus into a number literal, so `Neg` never holds one
        st.builds(n.Neg, operand=inner.filter(lambda e: not isinstance(e, n.Number))),
        st.builds(n.Quantifier, kind=st.sampled_from(["any", "all", "count"]), var=names,
                  source=inner, condition=st.none() | inner),
    )


exprs: st.SearchStrategy[n.Expr] = st.recursive(leaves, _compound, max_leaves=10)


def _operators(inner: st.SearchStrategy[n.Expr]) -> st.SearchStrategy[n.Expr]:
    return st.one_of(
        st.builds(n.BoolOp, op=st.sampled_from(["and", "or"]),
                  operands=st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(n.Not, operand=inner),
        st.builds(n.IsKnown, operand=inner, known=st.booleans()),
        st.builds(n.Compare, op=st.sampled_from(["<", "=="]), left=inner, right=inner),
        st.builds(n.InRange, value=inner, low=inner, high=inner),
        st.builds(n.Arith, op=st.sampled_from(["+", "-", "*", "/"]), left=inner, right=inner),
        st.builds(n.Neg, operand=inner.filter(lambda e: not isinstance(e, n.Number))))


#: operators nested in each other (few leaf kinds, so precedence meets precedence often)
operator_soup: st.SearchStrategy[n.Expr] = st.recursive(
    st.one_of(number(st.none()), paths), _operators, max_leaves=12)

citations = st.builds(n.Citation, key=upper_names, locator=st.none() | texts)
cite_lists = st.lists(citations, max_size=3).map(tuple)


def actions(short: bool = False) -> st.SearchStrategy[n.Action]:
    return st.builds(
        n.Action,
        kind=st.sampled_from(["recommend", "consider", "advise_against", "warn", "classify",
                              "request"]),
        code=names, text=st.none() | texts, strength=st.none() | names,
        urgency=st.none() | names,
        cites=st.just(()) if short else cite_lists,
        against=st.just(()) if short else cite_lists)


operands = st.one_of(
    st.builds(n.Number, value=numbers, unit=units),
    names.map(lambda s: n.Path(names=(s,))),
    st.builds(n.Bool, value=st.booleans()), st.builds(n.String, value=texts))
patterns = st.one_of(
    st.just(n.Pattern(kind="else")),
    st.builds(n.Pattern, kind=st.just("cmp"), op=st.sampled_from(["<", "<=", ">", ">=", "!="]),
              values=operands.map(lambda v: (v,))),
    st.builds(n.Pattern, kind=st.just("range"), values=st.tuples(operands, operands)),
    st.builds(n.Pattern, kind=st.just("eq"), values=operands.map(lambda v: (v,))),
    st.builds(n.Pattern, kind=st.just("set"),
              values=st.lists(operands, min_size=1, max_size=3).map(tuple)))
arms = st.builds(n.Arm, pattern=patterns, points=points, action=st.none() | actions(True))
comp_arms = st.builds(n.Arm, pattern=patterns, points=points)
bands = st.builds(n.Arm, pattern=patterns, points=st.just(0.0), action=actions(True))
score_cites = st.tuples(cite_lists, cite_lists).filter(lambda ca: bool(ca[0] or ca[1]))



def _spellable(arms: list[n.Arm]) -> bool:
    """In `-> 1 classify c` followed by `"x" -> 2`, the grammar reads `"x"` as the text
    of `classify c`: an arm without text cannot precede an arm whose pattern starts with
    a string, so no parse gives that AST (and the printer refuses it)."""
    return not any(
        a.action is not None and a.action.text is None and b.pattern.kind in ("eq", "range")
        and isinstance(b.pattern.values[0], n.String) for a, b in itertools.pairwise(arms))


table_scores = st.builds(
    lambda name, source, arms, ca: n.Score(name=name, source=source, arms=tuple(arms),
                                           cites=ca[0], against=ca[1]),
    names, exprs, st.lists(arms, min_size=1, max_size=3).filter(_spellable), score_cites)
sum_scores = st.builds(
    lambda name, comps, bands, ca: n.Score(name=name, source=None, components=tuple(comps),
                                           bands=tuple(bands), cites=ca[0], against=ca[1]),
    names,
    st.lists(st.builds(n.Component, name=names, source=exprs, ask=st.none() | texts,
                       arms=st.lists(comp_arms, min_size=1, max_size=3).map(tuple)),
             min_size=1, max_size=2),
    st.lists(bands, max_size=2), score_cites)

defines = st.builds(n.Define, name=names, expr=exprs)
rules = st.builds(n.Rule, rule_id=dotted, when=st.none() | exprs,
                  unless=st.lists(exprs, max_size=2).map(tuple),
                  actions=st.lists(actions(), min_size=1, max_size=2).map(tuple))
scores = table_scores | sum_scores


def _fors(inner: st.SearchStrategy[n.Item]) -> st.SearchStrategy[n.Item]:
    return st.builds(n.For, var=names, source=exprs,
                     items=st.lists(inner, min_size=1, max_size=3).map(tuple))


loop_items: st.SearchStrategy[n.Item] = st.recursive(
    defines | rules | scores, _fors, max_leaves=4)

headers = st.builds(n.Header, id=names, title=texts, version=st.none() | texts,
                    record=st.none() | dotted, status=st.none() | names,
                    review=st.none() | st.dates(), description=st.none() | texts)
modules = st.builds(n.Module, name=dotted, title=st.none() | texts)
imports = st.builds(n.Import, path=texts)
sources = st.builds(
    n.Source, key=upper_names, title=st.none() | texts, authors=st.none() | texts,
    publisher=st.none() | texts, journal=st.none() | texts,
    year=st.none() | st.integers(0, 3000), doi=st.none() | texts, pmid=st.none() | texts,
    url=st.none() | texts, evidence=st.none() | texts, note=st.none() | texts,
    unverified=st.none() | texts | st.just("identifiers not verified"),
).filter(lambda s: any(getattr(s, f) is not None for f in (
    "title", "authors", "publisher", "journal", "year", "doi", "pmid", "url", "evidence",
    "note", "unverified")))
invariants = st.builds(n.Invariant, name=texts,
                       codes=st.lists(names, min_size=1, max_size=3).map(tuple),
                       when=st.none() | exprs)
score_expects = st.builds(
    lambda name, low, span: n.ScoreExpect(name=name, low=low, high=low + span),
    names, points, st.sampled_from([0.0, 0.0, 1.0, 3.5, -1.0]))
tests = st.builds(
    n.Test, name=texts, given=st.none() | texts, as_of=st.none() | st.dates(),
    expect=st.lists(names, max_size=3).map(tuple),
    expect_not=st.lists(names, max_size=3).map(tuple),
    expect_missing=st.lists(names, max_size=3).map(tuple),
    expect_scores=st.lists(score_expects, max_size=2).map(tuple),
).filter(lambda t: any((t.given, t.as_of, t.expect, t.expect_not, t.expect_missing,
                        t.expect_scores)))

items = st.one_of(headers, modules, imports, sources, invariants, tests, loop_items,
                  defines, rules)
files = st.lists(items, min_size=1, max_size=5).map(
    lambda xs: n.File(name="gen.rules", items=tuple(xs)))

# ----------------------------------------------------------------------------- helpers


def parsed(text: str, name: str = "gen.rules") -> n.File:
    tree, problems = parse(Source(name, text))
    assert tree is not None, (text, problems)
    assert not [d for d in problems if d.is_error], (text, problems)
    return tree


def loud(e: n.Expr) -> str:
    """An expression with every operation in parentheses: parses to the same AST."""
    if isinstance(e, n.BoolOp):
        return "(" + f" {e.op} ".join(loud(o) for o in e.operands) + ")"
    if isinstance(e, n.Not):
        return f"(not {loud(e.operand)})"
    if isinstance(e, n.IsKnown):
        return f"({'known' if e.known else 'unknown'} {loud(e.operand)})"
    if isinstance(e, n.Compare | n.Arith):
        return f"({loud(e.left)} {e.op} {loud(e.right)})"
    if isinstance(e, n.InRange):
        return f"({loud(e.value)} in {loud(e.low)} .. {loud(e.high)})"
    if isinstance(e, n.InSet):
        return f"({loud(e.value)} in [{', '.join(loud(i) for i in e.items)}])"
    if isinstance(e, n.Neg):
        return f"(-{loud(e.operand)})"
    if isinstance(e, n.Quantifier):
        cond = "" if e.condition is None else f": {loud(e.condition)}"
        return f"({e.kind}({e.var} in {loud(e.source)}{cond}))"
    return f"({print_expr(e)})"


_ITEM_LINE = re.compile(r"\s*(" + "|".join(ITEM_KEYWORDS) + r")\b")


_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _split_points(line: str) -> list[int]:
    """The spaces of a line that lie between two tokens (not in a string literal)."""
    code = _STRING.sub(lambda m: "x" * len(m.group(0)), line)
    first = len(code) - len(code.lstrip())
    return [i for i, ch in enumerate(code) if ch == " " and i > first and code[i - 1] != " "]


@st.composite
def messy(draw: st.DrawFn, text: str, comments: bool) -> tuple[str, list[str]]:
    """The same source laid out differently: lines that do not start an item re-indented
    or joined to the line before; with ``comments``, comments on their own lines, between
    two tokens (the line goes on below) and at line ends. Returns the text and its
    comments in order."""
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip() or _ITEM_LINE.match(line):
            out.append(line)  # an item's column decides `for` nesting: keep it
        elif out and out[-1].strip() and draw(st.booleans()):
            out[-1] += " " * draw(st.integers(1, 3)) + line.strip()
        else:
            out.append(" " * draw(st.integers(0, 9)) + line.strip())
    if not comments:
        return "\n".join(out), []
    body = st.text(st.characters(exclude_characters="\n\r"), max_size=10)
    result: list[str] = []
    found: list[str] = []

    def comment() -> str:
        c = "#" + draw(body)
        found.append(c.rstrip())
        return c

    for line in out:
        if draw(st.integers(0, 4)) == 0:
            result.append(" " * draw(st.integers(0, 6)) + comment())
        points = _split_points(line)
        if points and draw(st.integers(0, 3)) == 0:
            at = draw(st.sampled_from(points))
            result.append(line[:at] + " " + comment())
            line = " " * draw(st.integers(0, 9)) + line[at + 1:]
        if line.strip() and draw(st.integers(0, 3)) == 0:
            line += " " * draw(st.integers(0, 3)) + comment()
        result.append(line)
    return "\n".join(result), found


def comment_texts(text: str) -> list[str]:
    return [c.text for c in parsed(text).comments]


# ----------------------------------------------------------------------------- properties


@SETTINGS
@given(files)
def test_print_then_parse_gives_the_same_ast(file: n.File) -> None:
    text = print_file(file)
    again = parsed(text)
    assert again == file, text
    assert print_file(again) == text


@SETTINGS
@given(exprs | operator_soup)
def test_parentheses_are_exactly_what_precedence_needs(e: n.Expr) -> None:
    canonical = print_expr(e)
    assert parsed(f"define x: {canonical}").items[0] == n.Define(name="x", expr=e)
    noisy = parsed(f"define x: {loud(e)}")
    assert noisy.items[0] == n.Define(name="x", expr=e)
    assert print_file(noisy) == print_file(parsed(f"define x: {canonical}"))


@SETTINGS
@given(files, st.data())
def test_layout_does_not_change_the_ast_and_fmt_is_canonical(file: n.File,
                                                             data: st.DataObject) -> None:
    canonical = print_file(file)
    text, _ = data.draw(messy(canonical, comments=False))
    assert parsed(text) == file, text
    formatted, _ = format_source(Source("gen.rules", text))
    assert formatted == canonical, text


@SETTINGS
@given(files, st.data())
def test_fmt_keeps_comments_in_order_and_is_idempotent(file: n.File,
                                                       data: st.DataObject) -> None:
    text, comments = data.draw(messy(print_file(file), comments=True))
    assert parsed(text) == file, text
    assert comment_texts(text) == comments
    formatted, _ = format_source(Source("gen.rules", text))  # checks AST and comments
    assert formatted is not None
    assert comment_texts(formatted) == comments
    again, _ = format_source(Source("gen.rules", formatted))
    assert again == formatted, text


# ----------------------------------------------------------------------------- bundled


BUNDLED = sorted(guidelines_dir().rglob("*.rules"))


def _rel(p: Path) -> str:
    return p.relative_to(guidelines_dir()).as_posix()


def test_there_are_bundled_guidelines() -> None:
    assert len(BUNDLED) >= 10


@pytest.mark.parametrize("path", BUNDLED, ids=_rel)
def test_fmt_is_idempotent_on_bundled_guidelines(path: Path) -> None:
    source = Source(_rel(path), path.read_text(encoding="utf-8"))
    formatted, problems = format_source(source)  # raises if the AST or comments change
    assert formatted is not None, problems
    assert comment_texts(formatted) == [c.text for c in parsed(source.text).comments]
    again, _ = format_source(Source(source.name, formatted))
    assert again == formatted
