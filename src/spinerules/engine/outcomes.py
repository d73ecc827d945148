"""Everything a result needs, from generated code: ``evaluate`` with the trace off (#18).

The closures of ``evaluate.Planner`` name, with every unknown value, the facts behind it
(``values.Unknown.paths``); that is what a result's undetermined rules, missing facts and
pending recommendations are made of. Generated code (``codegen``) knows unknown as one
marker (``_U``) and decides every rule in a fraction of the closures' time. The generator
here adds the rest: where a value is unknown, and only there, generated code works out the
facts behind it by the closures' rules (``OutcomeGenerator.paths``: a Kleene `and`/`or`, a
comparison, an arithmetic, a quantifier: the facts of the parts that are unknown; a field:
its own path; a define or a score: the facts kept with its value). The function walks the
guideline in the evaluator's order (per block: its scores, its rules, its loops, each
element in turn) and returns what happened, as events; ``evaluate._Run.replay`` turns them
into the result the closures' walk would have built, field for field
(``tests/properties/test_decided_results.py``).

Events (``binding``: the enclosing loops' ``(variable, element path)`` pairs):

- ``(FIRED, rule, binding, shown, assumed, requested)``: a rule whose condition is true;
  ``shown`` the values of its atoms (its `because`), ``assumed`` the facts its strict
  reading is unknown on (it fired only by reading their absence as "no") or None,
  ``requested`` the facts its request asks for (its `unknown x` operands that are unknown);
- ``(UNDETERMINED, rule, binding, facts)``: a rule whose condition is unknown;
- ``(ASSUMED, rule, binding, facts)``: a rule that is false only by reading an absence as
  "no" (these two: one per rule, at its first, with the facts of every loop element);
- ``(SCORED, score, binding, suffix, inputs, facts)``: a score's inputs (unknown as
  ``_U``) and the facts behind the unknown ones; ``suffix`` names the loop element;
- ``(NO_LIST, for, binding, facts)``: a loop over a list that is not recorded;
- ``(INVARIANTS, values)``: the value of each invariant's `when` (None without one).

Rules, scores and loops are named by their node ids. The function returns the events and
the codes emitted, by the rules that fired and the scores' arms and bands (a result's
codes without building it).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from spinerules.checker.check import Checked, DefineRef, FieldRef, ScoreRef
from spinerules.engine.codegen import (
    FALSE,
    MARK,
    TRUE,
    DecisionsGenerator,
    JsonGenerator,
    U,
    ValuesFn,
    _compile,
    _ifexp,
    _is,
    _lambda,
    _name,
    _store,
    _walrus,
)
from spinerules.engine.compile import Work
from spinerules.lang import nodes as n

FIRED, UNDETERMINED, ASSUMED, SCORED, NO_LIST, INVARIANTS = range(6)

Event = tuple[Any, ...]
#: the events, and the codes emitted
Outcome = tuple[list[Event], set[str]]
#: (record, as_of, budget) -> the outcome; for a record given as JSON, (record, as_of,
#: budget, limit, steps) -> the outcome, or None when the JSON is refused or its budget
#: count is not known within ``steps`` (``JsonGenerator``)
OutcomeFn = Callable[..., Outcome | None]

_E: frozenset[str] = frozenset()


@attrs.frozen
class OutcomeSpec:
    """What the generated function needs from the plan (``evaluate.Planner.plan``)."""

    always: frozenset[int]  #: the rules with the idiom `known x and x`
    atoms: dict[int, list[n.Expr]]  #: rule nid -> the nodes its `because` shows
    strict: frozenset[int]  #: the `known x` tests read strictly (``compile.absence_tests``)
    probes: dict[int, list[n.Expr]]  #: rule nid -> the operands of its `unknown x` tests
    invariants: list[n.Invariant]
    #: rule nid (of ``always``) -> the operands of its idiom's `known` tests (None: the
    #: rule is read strictly whatever they are)
    checks: dict[int, tuple[n.Expr, ...] | None]


def _one(path: str) -> frozenset[str]:
    return frozenset((path,))


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    return _E.union(*sets)


def _fstring(*parts: ast.expr | str) -> ast.expr:
    """An f-string of ``parts`` (text, or expressions giving text)."""
    values: list[ast.expr] = [
        ast.Constant(p) if isinstance(p, str) else
        ast.FormattedValue(value=p, conversion=-1, format_spec=None) for p in parts]
    return ast.JoinedStr(values=values)


class OutcomeGenerator(DecisionsGenerator):
    """Builds the function returning an evaluation's events (see the module)."""

    FUNCTION = "_outcome"
    SETUP = ("codes = set()\n_steps = [0]\n_ev = []\n_add = _ev.append\n_seen = {}\n"
             "_bind0 = ()\n_sfx0 = ''")
    RESULT = "_out"

    def __init__(self, checked: Checked, spec: OutcomeSpec) -> None:
        super().__init__(checked, spec.always, spec.atoms, spec.strict)
        self.checks = spec.checks
        self.probes = spec.probes
        self.invariants = spec.invariants
        self.var_paths: dict[str, ast.expr] = {}  # loop variable -> its element's path
        self.define_paths: dict[int, str] = {}  # define nid -> local of its facts
        self.strict_define_paths: dict[int, str] = {}  # the same, read strictly
        self.score_paths: dict[int, str] = {}  # score nid -> local of its facts
        self.bind, self.sfx = "_bind0", "_sfx0"  # the locals of the current block's binding
        self.consts.update({"_one": _one, "_union": _union, "_E": _E})

    # ------------------------------------------------------------------ facts
    def paths(self, e: n.Expr) -> ast.expr:
        """The facts behind ``e``'s value, as the closures name them; the code runs only
        where that value is unknown (in the current reading)."""
        if isinstance(e, n.Path):
            return self.path_paths(e)
        if isinstance(e, n.BoolOp):
            return self.unknown_parts(list(e.operands))
        if isinstance(e, n.Not | n.Neg):
            return self.paths(e.operand)
        if isinstance(e, n.IsKnown):
            if self.reading_strictly and e.nid in self.strict:
                return self.paths(e.operand)
            return _name("_E")  # (never unknown)
        if isinstance(e, n.Compare):
            return self.unknown_parts([e.left, e.right])
        if isinstance(e, n.InRange):
            return self.unknown_parts([e.value, e.low, e.high])
        if isinstance(e, n.Arith):
            return self.unknown_parts([e.left, e.right])
        if isinstance(e, n.InSet):
            t = self.fresh()
            return _ifexp(_is(_walrus(t, self.expr(e.value)), U), self.paths(e.value),
                          self.unknown_parts(list(e.items)))
        if isinstance(e, n.Quantifier):
            return self.quantifier_paths(e)
        return _name("_E")  # a constant, `today`

    def unknown(self, code: ast.expr) -> ast.expr:
        """``code is _U``, through a local (as ``codegen`` does: `is` with an operand
        the compiler folds into a constant, `1 + 2`, is a warning); False for a constant."""
        if isinstance(code, ast.Constant):
            return ast.Constant(False)
        if isinstance(code, ast.Name):
            return _is(code, U)
        return _is(_walrus(self.fresh(), code), U)

    def unknown_of(self, e: n.Expr) -> ast.expr:
        """A test that ``e``'s value is unknown: for a comparison of plain values (no
        score, whose range can decide it), that one of its operands is."""
        if isinstance(e, n.Compare | n.InRange):
            operands = [e.left, e.right] if isinstance(e, n.Compare) else [
                e.value, e.low, e.high]
            if not any(self.score_bounds(o) for o in operands):
                tests = [self.unknown_of(o) for o in operands if not self._constant(o)]
                if not tests:
                    return ast.Constant(False)
                return tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.Or(), values=tests)
        if isinstance(e, n.InSet) and all(self._constant(i) for i in e.items):
            return self.unknown_of(e.value)
        if isinstance(e, n.Not | n.Neg):
            return self.unknown_of(e.operand)
        return self.unknown(self.expr(e))

    def unknown_parts(self, parts: list[n.Expr]) -> ast.expr:
        """The facts of those of ``parts`` that are unknown (all of them are computed)."""
        varying = [p for p in parts if not self._constant(p)]
        if not varying:
            return _name("_E")
        if len(varying) == 1:  # the whole is unknown: so is its one varying part
            return self.paths(varying[0])
        out: ast.expr | None = None
        for p in varying:
            facts = self.paths(p)
            if isinstance(facts, ast.Name) and facts.id == "_E":
                continue  # (a part that is never unknown, `known x`)
            one = _ifexp(self.unknown_of(p), facts, _name("_E"))
            out = one if out is None else ast.BinOp(left=out, op=ast.BitOr(), right=one)
        return out or _name("_E")

    def path_paths(self, e: n.Path) -> ast.expr:
        ref = self.checked.refs.get(e.nid)
        if isinstance(ref, DefineRef):
            if self.reading_strictly and ref.nid in self.strict_define_paths:
                return _name(self.strict_define_paths[ref.nid])
            return _name(self.define_paths[ref.nid])
        if isinstance(ref, ScoreRef):
            return _name(self.score_paths[ref.nid])
        if isinstance(ref, FieldRef) and ref.fields:
            dotted = ".".join(ref.fields)
            if ref.root == "patient":
                return self.const(frozenset((dotted,)))
            return ast.Call(func=_name("_one"), args=[
                _fstring(self.var_paths[ref.root], "." + dotted)], keywords=[])
        return _name("_E")  # an enumeration member, a loop variable itself

    def path_string(self, source: n.Expr) -> ast.expr:
        """How the closures name a list's elements (``compile._static_path``)."""
        if isinstance(source, n.Path):
            names = source.names
            if names[0] == "patient":
                return ast.Constant(".".join(names[1:]))
            rest = ".".join(names[1:])
            base = self.var_paths.get(names[0]) or ast.Constant(names[0])
            return _fstring(base, "." + rest) if rest else base
        return ast.Constant("item")

    def quantifier_paths(self, e: n.Quantifier) -> ast.expr:
        """The facts of the elements whose condition is unknown (when the whole is, no
        element decided it), or of the list itself when it is not recorded."""
        if e.condition is None:
            return self.paths(e.source)  # (unknown only when the list is)
        items, index, local = self.fresh(), self.fresh("_qi"), self.fresh("_v")
        source = self.expr(e.source)
        base = self.path_string(e.source)
        saved = self.vars.get(e.var), self.var_paths.get(e.var)
        self.vars[e.var] = local
        self.var_paths[e.var] = _fstring(base, "[", _name(index), "]")
        try:
            unknown, facts = self.unknown_of(e.condition), self.paths(e.condition)
        finally:
            for table, old in ((self.vars, saved[0]), (self.var_paths, saved[1])):
                if old is None:
                    table.pop(e.var, None)
                else:
                    table[e.var] = old  # type: ignore[assignment]
        # a lambda per element, not a comprehension (see ``Generator.quantifier``)
        each = ast.Call(func=_name("map"), args=[
            _lambda([index, local], ast.IfExp(test=unknown, body=facts, orelse=_name("_E"))),
            ast.Call(func=_name("range"), args=[
                ast.Call(func=_name("len"), args=[_name(items)], keywords=[])], keywords=[]),
            _name(items)], keywords=[])
        return _ifexp(_is(_walrus(items, source), U), self.paths(e.source),
                      ast.Call(func=_name("_union"), args=[each], keywords=[]))

    def condition_paths(self, r: n.Rule) -> ast.expr:
        """The facts behind a rule's unknown condition (its `when`, its `unless`es)."""
        parts = [*([r.when] if r.when is not None else []), *r.unless]
        return self.unknown_parts(parts)

    # ------------------------------------------------------------------ statements
    def add(self, *elts: ast.expr) -> ast.stmt:
        return ast.Expr(ast.Call(func=_name("_add"), args=[ast.Tuple(elts=list(elts),
                                                                      ctx=ast.Load())],
                                 keywords=[]))

    def once(self, tag: int, nid: ast.expr, bind: ast.expr, facts: ast.expr
             ) -> list[ast.stmt]:
        """An ``UNDETERMINED`` or ``ASSUMED`` event, once per rule: in a loop, the first
        element's is kept, with the facts of the later ones added to it (in ``_seen``). A
        result lists such a rule once, with all of them (``evaluate._Run.undetermine``);
        one event per element would hold the square of a long list's facts. At the top
        level, a rule runs once."""
        if self.bind == "_bind0":
            return [self.add(ast.Constant(tag), nid, bind, facts)]
        got, kept = self.fresh(), self.fresh()
        key = ast.Tuple(elts=[ast.Constant(tag), nid], ctx=ast.Load())
        return [ast.Assign(targets=[_store(got)], value=facts), ast.If(
            test=_is(_walrus(kept, ast.Call(func=ast.Attribute(
                value=_name("_seen"), attr="get", ctx=ast.Load()), args=[key], keywords=[])),
                ast.Constant(None)),
            body=[ast.Assign(targets=[ast.Subscript(value=_name("_seen"), slice=key,
                                                    ctx=ast.Store()), _store(kept)],
                             value=ast.Call(func=_name("set"), args=[_name(got)],
                                            keywords=[])),
                  self.add(ast.Constant(tag), nid, bind, _name(kept))],
            orelse=[ast.AugAssign(target=_store(kept), op=ast.BitOr(), value=_name(got))])]

    def block(self, block_items: Iterable[n.Item], block: int = 0,
              index: ast.expr | None = None) -> Iterator[ast.stmt]:
        items = list(block_items)
        yield from self.named(items)
        # then the events, in the evaluator's order: scores, rules, loops
        for item in items:
            if isinstance(item, n.Score):
                yield self.add(ast.Constant(SCORED), ast.Constant(item.nid), _name(self.bind),
                               _name(self.sfx), *self.score_values(item))
        for item in items:
            if isinstance(item, n.Rule):
                yield from self.rule(item)
        for item in items:
            if isinstance(item, n.For):
                yield from self.loop(item)
        if block == 0:
            if self.invariants:
                yield self.add(ast.Constant(INVARIANTS), self.whens())
            # the events, and the codes emitted (by the rules that fired, the scores' arms
            # and bands)
            yield ast.Assign(targets=[_store("_out")], value=ast.Tuple(
                elts=[_name("_ev"), _name("codes")], ctx=ast.Load()))

    def whens(self) -> ast.expr:
        """The value of each invariant's `when` (None without one), in order."""
        return ast.Tuple(elts=[self.expr(i.when) if i.when is not None else ast.Constant(None)
                               for i in self.invariants], ctx=ast.Load())

    def set_define(self, d: n.Define) -> Iterator[ast.stmt]:
        yield from super().set_define(d)  # its value (and its strict value, if it has one)
        local = self.fresh("_dp")
        yield ast.If(test=_is(_name(self.defines[d.nid]), U), body=[
            ast.Assign(targets=[_store(local)], value=self.paths(d.expr))], orelse=[])
        self.define_paths[d.nid] = local
        if d.nid in self.strict_defines:
            self.reading_strictly = True
            try:
                facts = self.paths(d.expr)
            finally:
                self.reading_strictly = False
            local = self.fresh("_dsp")
            yield ast.If(test=_is(_name(self.strict_defines[d.nid]), U), body=[
                ast.Assign(targets=[_store(local)], value=facts)], orelse=[])
            self.strict_define_paths[d.nid] = local

    def score(self, s: n.Score) -> Iterator[ast.stmt]:
        yield from super().score(s)
        sources = [s.source] if s.source is not None else [c.source for c in s.components]
        facts: ast.expr | None = None
        for x, source in zip(self.score_inputs[s.nid], sources, strict=True):
            one = _ifexp(_is(_name(x), U), self.paths(source), _name("_E"))
            facts = one if facts is None else ast.BinOp(left=facts, op=ast.BitOr(), right=one)
        local = self.score_paths[s.nid] = self.fresh("_sp")
        yield ast.Assign(targets=[_store(local)], value=facts or _name("_E"))

    def score_values(self, s: n.Score) -> tuple[ast.expr, ast.expr]:
        """A score's inputs (unknown as ``_U``) and the facts behind the unknown ones, as
        ``ScorePlan.from_values`` takes them."""
        return (ast.Tuple(elts=[_name(x) for x in self.score_inputs[s.nid]], ctx=ast.Load()),
                _name(self.score_paths[s.nid]))

    def rule(self, r: n.Rule) -> Iterator[ast.stmt]:
        v = self.fresh()
        yield ast.Assign(targets=[_store(v)], value=self.condition(r))
        nid, bind = ast.Constant(r.nid), _name(self.bind)
        requested: ast.expr = ast.Constant(None)
        if any(a.kind == "request" for a in r.actions):
            requested = self.unknown_probes(self.probes.get(r.nid, []))

        emits = [a.code for a in r.actions if a.kind != "request"]

        def fired(assumed: ast.expr) -> list[ast.stmt]:
            event = self.add(ast.Constant(FIRED), nid, bind, self.shown(r), assumed, requested)
            return [event, self.add_codes(emits)] if emits else [event]

        def undecided() -> list[ast.stmt]:
            return self.once(UNDETERMINED, nid, bind, self.condition_paths(r))

        if r.nid not in self.always:
            yield ast.If(test=_is(_name(v), TRUE), body=fired(ast.Constant(None)), orelse=[
                ast.If(test=ast.Compare(left=_name(v), ops=[ast.IsNot()],
                                        comparators=[FALSE]), body=undecided(), orelse=[])])
            return
        # the idiom `known x and x`: a decided rule is read strictly too (``strict_test``)
        yield ast.If(test=_is(_name(v), TRUE), body=[
            ast.If(test=self.strict_test(r), body=fired(self.assumed(r)),
                   orelse=fired(ast.Constant(None)))], orelse=[
            ast.If(test=_is(_name(v), FALSE), body=[
                ast.If(test=self.strict_test(r),
                       body=self.once(ASSUMED, nid, bind, self.assumed(r)), orelse=[])],
                   orelse=undecided())])

    def strict_test(self, r: n.Rule) -> ast.expr:
        """For a decided rule with the idiom `known x and x`: whether its decision rests on
        reading an absence as "no": its condition read strictly is unknown, when one of
        the idiom's operands is unknown (else the readings agree; ``checks`` None:
        always)."""
        self.reading_strictly = True
        try:
            test = self.unknown(self.condition(r))
        finally:
            self.reading_strictly = False
        checks = self.checks.get(r.nid)
        if checks is None:
            return test
        differ = [self.unknown(self.expr(c)) for c in checks]
        return ast.BoolOp(op=ast.And(), values=[
            differ[0] if len(differ) == 1 else ast.BoolOp(op=ast.Or(), values=differ), test])

    def assumed(self, r: n.Rule) -> ast.expr:
        """The facts a decision assumed absent (``strict_test``)."""
        self.reading_strictly = True
        try:
            return self.condition_paths(r)
        finally:
            self.reading_strictly = False

    def unknown_probes(self, probes: list[n.Expr]) -> ast.expr:
        out: ast.expr | None = None
        for p in probes:
            one = _ifexp(self.unknown(self.expr(p)), self.paths(p), _name("_E"))
            out = one if out is None else ast.BinOp(left=out, op=ast.BitOr(), right=one)
        return out or _name("_E")

    def loop(self, loop: n.For) -> Iterator[ast.stmt]:
        items, var, i = self.fresh(), self.fresh("_v"), self.fresh("_i")
        path, bind, sfx = self.fresh("_p"), self.fresh("_bind"), self.fresh("_sfx")
        base = self.path_string(loop.source)
        yield ast.Assign(targets=[_store(items)], value=self.expr(loop.source))
        missing = self.add(ast.Constant(NO_LIST), ast.Constant(loop.nid), _name(self.bind),
                           self.paths(loop.source))
        outer_bind, outer_sfx = self.bind, self.sfx
        self.vars[loop.var], self.var_paths[loop.var] = var, _name(path)
        self.bind, self.sfx = bind, sfx
        try:
            body = self.loop_body(var, lambda: list(self.block(loop.items, loop.nid, _name(i))))
        finally:
            self.bind, self.sfx = outer_bind, outer_sfx
            del self.vars[loop.var], self.var_paths[loop.var]
        setup = [
            *ast.parse("_steps[0] += 1\nif _steps[0] > budget: _budget(_steps[0])").body,
            ast.Assign(targets=[_store(path)], value=_fstring(base, "[", _name(i), "]")),
            ast.Assign(targets=[_store(bind)], value=ast.BinOp(
                left=_name(outer_bind), op=ast.Add(), right=ast.Tuple(elts=[ast.Tuple(
                    elts=[ast.Constant(loop.var), _name(path)], ctx=ast.Load())],
                    ctx=ast.Load()))),
            # a score's name in a loop: `name@path`, but for the first element of the
            # first loop (``evaluate._Run.block``)
            ast.Assign(targets=[_store(sfx)], value=_ifexp(
                ast.BoolOp(op=ast.And(), values=[
                    ast.Compare(left=_name(i), ops=[ast.Eq()], comparators=[ast.Constant(0)]),
                    ast.UnaryOp(op=ast.Not(), operand=_name(outer_sfx))]),
                ast.Constant(""), _fstring(_name(outer_sfx), "@", _name(path))))]
        target = ast.Tuple(elts=[_store(i), _store(var)], ctx=ast.Store())
        enumerated = ast.Call(func=_name("enumerate"), args=[_name(items)], keywords=[])
        yield ast.If(test=_is(_name(items), U), body=[missing], orelse=[
            ast.For(target=target, iter=enumerated, body=[*setup, *body], orelse=[])])


#: the keys of a rule's facts in a ``ValuesGenerator`` snapshot: ``(rule nid, FACTS)`` when
#: its condition is unknown, ``(rule nid, ASSUMED_FACTS)`` when its decision assumed some;
#: ``(score nid, SCORE_INPUTS)``: a score's inputs and the facts behind the unknown ones;
#: ``WHENS``, in the top level's: the value of each invariant's `when` (as ``INVARIANTS``);
#: ``ROWS``: the block's atoms as a trace shows them (see ``ValuesGenerator``)
FACTS, ASSUMED_FACTS, SCORE_INPUTS, WHENS, ROWS = "facts", "assumed", "score", "whens", "rows"

#: per block, the atoms a trace shows: (text, node id, show, polarity, whether ``show`` is
#: ``evaluate.show_value``, which leaves a truth value as it is)
Rows = dict[int, list[tuple[str, int, Callable[[Any], Any], bool, bool]]]


class ValuesGenerator(OutcomeGenerator):
    """Builds a function computing, for a trace, the values of chosen nodes in each block.

    ``wanted`` maps a block (0 for the top level, else its ``for``'s node id) to the nodes
    whose values a trace shows there. The function walks the guideline as the evaluator
    does (each block, then each iteration of each of its loops, in order) and yields one
    dict per block instance (a generator: one is made as the walk takes it, so a long
    list's snapshots and their facts are not all held at once): node id -> value, with
    ``_U`` for unknown, and under
    ``MARK`` the block and the iteration it belongs to, so a reader can check it is in
    step; with a second dict, of the block's scores and rules: under ``(score nid,
    SCORE_INPUTS)`` a score's inputs and the facts behind the unknown ones; under a
    rule's node id its condition's value; under ``(nid, FACTS)`` the facts behind it
    when it is unknown; under ``(nid, ASSUMED_FACTS)``, for a rule with the idiom
    `known x and x` that is decided, the facts its decision assumed absent
    (``strict_test``), else None; in the top level's, under ``WHENS``, the invariants'
    `when`s (as the ``INVARIANTS`` event gives them); under ``ROWS``, given ``rows``, the
    block's atoms as the trace shows them, ``(text, shown value, polarity)`` (None when
    one of them is not among the values). The closures' walk takes these instead of
    running the rules' conditions (``evaluate._Run.traced_rule``), then lets them go
    (the values stay with the trace's explanations; the facts of a long list's rules
    would not fit beside them).
    """

    FUNCTION, RESULT = "_values", "_out"
    SETUP = OutcomeGenerator.SETUP + "\n_out = None"

    def __init__(self, checked: Checked, wanted: dict[int, list[n.Expr]],
                 spec: OutcomeSpec, rows: Rows | None = None) -> None:
        super().__init__(checked, spec)
        self.wanted = wanted
        self.rows = rows or {}
        self.top: dict[int, str] = {}  # the top level's values: node id -> local

    def block(self, block_items: Iterable[n.Item], block: int = 0,
              index: ast.expr | None = None) -> Iterator[ast.stmt]:
        items = list(block_items)
        yield from self.named(items)
        yield from self.snapshot([i for i in items if isinstance(i, n.Rule)],
                                 [i for i in items if isinstance(i, n.Score)], block,
                                 index or ast.Constant(0))
        for item in items:
            if isinstance(item, n.For):
                yield from self.loop(item)

    def shown_rows(self, rows: list[tuple[str, int, Callable[[Any], Any], bool, bool]],
                   here: dict[int, str]) -> ast.expr:  # (one block's ``Rows``)
        """A block's atoms as a trace shows them (``evaluate._Run.block``'s own way:
        a truth value as itself where ``show`` is ``show_value``), from the block's values
        or the top level's (a top-level define's node in a loop); None when one is in
        neither (the walk then reads it its own way)."""
        out: list[ast.expr] = []
        consts: dict[int, str] = {}  # (one name per function shown with, and for ``bool``)

        def const(value: Any) -> ast.expr:
            if id(value) not in consts:
                name = self.const(value)
                assert isinstance(name, ast.Name)
                consts[id(value)] = name.id
            return _name(consts[id(value)])
        for text, nid, show, polarity, plain in rows:
            local = here.get(nid) or self.top.get(nid)
            if local is None:
                return ast.Constant(None)
            x = _name(local)
            shown: ast.expr = ast.Call(func=const(show), args=[x], keywords=[])
            if plain:
                shown = _ifexp(_is(ast.Attribute(value=x, attr="__class__", ctx=ast.Load()),
                                   const(bool)), x, shown)
            out.append(ast.Tuple(elts=[ast.Constant(text), shown, ast.Constant(polarity)],
                                 ctx=ast.Load()))
        return ast.List(elts=out, ctx=ast.Load())

    def snapshot(self, rules: list[n.Rule], scores: list[n.Score], block: int,
                 index: ast.expr) -> Iterator[ast.stmt]:
        """The block instance's snapshot, taken once its defines and scores are set."""
        keys: list[ast.expr | None] = [ast.Constant(MARK)]
        values: list[ast.expr] = [ast.Tuple(elts=[ast.Constant(block), index], ctx=ast.Load())]
        here: dict[int, str] = {}
        for e in self.wanted.get(block, []):  # each in a local: the rules' conditions
            local = self.fresh("_k")              # and facts read them there
            yield ast.Assign(targets=[_store(local)], value=self.expr(e))
            self.known[e.nid] = here[e.nid] = local
            keys.append(ast.Constant(e.nid))
            values.append(_name(local))
        if block == 0:
            self.top = here
        rule_keys: list[ast.expr | None] = []
        rule_values: list[ast.expr] = []
        if block in self.rows:
            rule_keys.append(ast.Constant(ROWS))
            rule_values.append(self.shown_rows(self.rows[block], here))
        for sc in scores:  # (as the ``SCORED`` event gives them)
            rule_keys.append(ast.Tuple(elts=[ast.Constant(sc.nid), ast.Constant(SCORE_INPUTS)],
                                       ctx=ast.Load()))
            rule_values.append(ast.Tuple(elts=list(self.score_values(sc)), ctx=ast.Load()))
        for r in rules:
            v = self.fresh()
            yield ast.Assign(targets=[_store(v)], value=self.condition(r))
            rule_keys += [ast.Constant(r.nid), ast.Tuple(
                elts=[ast.Constant(r.nid), ast.Constant(FACTS)], ctx=ast.Load())]
            rule_values += [_name(v), _ifexp(_is(_name(v), U), self.condition_paths(r),
                                             ast.Constant(None))]
            if r.nid in self.always:
                rule_keys.append(ast.Tuple(
                    elts=[ast.Constant(r.nid), ast.Constant(ASSUMED_FACTS)], ctx=ast.Load()))
                rule_values.append(_ifexp(ast.BoolOp(op=ast.And(), values=[
                    ast.Compare(left=_name(v), ops=[ast.IsNot()], comparators=[U]),
                    self.strict_test(r)]), self.assumed(r), ast.Constant(None)))
        if block == 0 and self.invariants:
            rule_keys.append(ast.Constant(WHENS))
            rule_values.append(self.whens())
        yield ast.Expr(ast.Yield(ast.Tuple(elts=[
            ast.Dict(keys=keys, values=values), ast.Dict(keys=rule_keys, values=rule_values)],
            ctx=ast.Load())))


def generate_values(checked: Checked, wanted: dict[int, list[n.Expr]], spec: OutcomeSpec,
                    rows: Rows | None = None) -> ValuesFn:
    """Compile the function that computes a trace's values (see ``ValuesGenerator``)."""
    fn: ValuesFn = _compile(ValuesGenerator(checked, wanted, spec, rows), "_values")
    return fn


class JsonOutcomeGenerator(JsonGenerator, OutcomeGenerator):
    """``OutcomeGenerator`` over a record given as JSON, which it checks first as
    ``records.loader.json_ok`` does (None: refused; see ``codegen.JsonGenerator``): the
    events it returns are those of the record the loader would have built."""

    FUNCTION = "_outcome_json"
    SETUP, RESULT = OutcomeGenerator.SETUP, OutcomeGenerator.RESULT
    ROWS = False  # (an element's facts are read from its dict, with their paths)

    def __init__(self, checked: Checked, spec: OutcomeSpec, work: Work | None = None
                 ) -> None:
        OutcomeGenerator.__init__(self, checked, spec)
        self.json_state(work)

    def quantifier_paths(self, e: n.Quantifier) -> ast.expr:
        saved = self._bind(e.var, e.source)
        try:
            return super().quantifier_paths(e)
        finally:
            self.var_cls[e.var] = saved


def _generator(checked: Checked, spec: OutcomeSpec, json: bool, work: Work | None
               ) -> OutcomeGenerator:
    return JsonOutcomeGenerator(checked, spec, work) if json else OutcomeGenerator(
        checked, spec)


def generate_outcomes(checked: Checked, spec: OutcomeSpec, json: bool = False,
                      work: Work | None = None) -> OutcomeFn:
    """Compile the function returning an evaluation's events, for records (or, with
    ``json``, for records given as JSON, within the budget counts kept by ``work``;
    ``NotImplementedError`` for a record type it cannot read so)."""
    gen = _generator(checked, spec, json, work)
    fn: OutcomeFn = _compile(gen, gen.FUNCTION)
    return fn


def outcome_source(checked: Checked, spec: OutcomeSpec, json: bool = False,
                   work: Work | None = None) -> str:
    """The generated function as Python text, for reading and debugging."""
    return ast.unparse(_generator(checked, spec, json, work).module())
