"""Expressions to closures, built once per guideline with every name, overload and unit
resolved from the checker's side tables; at run time they only compute.
"""

from __future__ import annotations

import datetime
import enum
import keyword
import operator
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from spinerules.checker import typesys as ts
from spinerules.checker.check import (
    Checked,
    DefineRef,
    EnumRef,
    FieldRef,
    ScoreRef,
    VarRef,
    child_nodes,
)
from spinerules.engine.values import (
    COMPARE,
    FLIP,
    Bounded,
    Unknown,
    between_in,
    decide_between,
    k_and,
    k_not,
    k_or,
    merge,
)
from spinerules.lang import nodes as n
from spinerules.lang.units import UNITS

Thunk = Callable[["Env"], Any]


def absence_tests(checked: Checked) -> frozenset[int]:
    """The `known x` tests of the idiom `known x and <x, or a test of x>`: the idiom reads
    an unrecorded `x` as "no" (`known c and c` is false when `c` is not recorded)."""
    found: set[int] = set()
    for e in _all_exprs(checked):
        if not (isinstance(e, n.BoolOp) and e.op == "and"):
            continue
        for k in e.operands:
            if not (isinstance(k, n.IsKnown) and k.known and isinstance(k.operand, n.Path)):
                continue
            names = k.operand.names
            others = [o for o in e.operands if o is not k]
            if any(isinstance(x, n.Path) and x.names == names
                   for o in others for x in subtree(o)):
                found.add(k.nid)
    return frozenset(found)


def subtree(e: n.Node) -> Iterator[n.Node]:
    stack = [e]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(child_nodes(x))


def _all_exprs(checked: Checked) -> Iterator[n.Node]:
    roots: list[n.Node] = []
    items: list[n.Item] = list(checked.program.items())
    while items:
        item = items.pop()
        if isinstance(item, n.For):
            items.extend(item.items)
        elif isinstance(item, n.Define):
            roots.append(item.expr)
        elif isinstance(item, n.Rule):
            roots.extend([*([item.when] if item.when is not None else []), *item.unless])
    for r in roots:
        yield from subtree(r)


class BudgetExceededError(Exception):
    """Evaluation took more steps than the configured budget; ``node`` is where the count
    passed it (None when not known)."""

    def __init__(self, steps: int, node: n.Node | None = None) -> None:
        super().__init__(f"evaluation budget exhausted after {steps} steps")
        self.steps = steps
        self.node = node


class EvaluationError(Exception):
    """A run-time fault in a guideline expression (for example division by zero)."""

    def __init__(self, message: str, node: n.Node) -> None:
        super().__init__(message)
        self.node = node


def _decide_bounded(op: str, a: Any, b: Any) -> bool | None:
    """A comparison of an undetermined score with a known number, if its range decides it."""
    if isinstance(a, Bounded) and type(b) in (int, float):
        return decide_between(op, a.low, a.high, b)
    if isinstance(b, Bounded) and type(a) in (int, float):
        return decide_between(FLIP[op], b.low, b.high, a)
    return None


def shift_date(day: datetime.date, days: float, node: n.Node) -> datetime.date:
    """``day`` moved by ``days``; a date outside the years 1 to 9999 is an evaluation error."""
    try:
        return day + datetime.timedelta(days=days)
    except (OverflowError, ValueError):
        raise EvaluationError(f"the date {day.isoformat()} moved by {days:g} days falls "
                              "outside the years 1 to 9999", node) from None


#: ``Env.vals`` when there are no precomputed values (shared: never written to)
NO_VALUES: dict[Any, Any] = {}


class Env:
    """The state of one evaluation: the record, ``as_of``, loop bindings and caches.

    A child ``Env`` is made per loop iteration; ``root`` holds the global caches.
    """

    __slots__ = ("as_of", "budget", "cache", "memo", "parent", "paths", "record", "root",
                 "steps", "vals", "vars")

    def __init__(self, record: Any, as_of: datetime.date, budget: int,
                 parent: Env | None = None) -> None:
        self.record = record
        self.as_of = as_of
        self.parent = parent
        self.root: Env = parent.root if parent is not None else self
        self.vars: dict[str, Any] = dict(parent.vars) if parent is not None else {}
        self.paths: dict[str, str] = dict(parent.paths) if parent is not None else {}
        self.cache: dict[Any, Any] = {}
        # values (by node id) and define explanations (by (node id, depth)) that the
        # conditions, atoms and explanations of one evaluation share
        self.memo: dict[Any, Any] = {}
        # a trace's precomputed values of this block instance, by node id (see
        # ``evaluate.TraceValues``); empty when there are none
        self.vals: dict[Any, Any] = NO_VALUES
        self.budget = budget
        self.steps = 0

    def child(self, var: str, value: Any, path: str) -> Env:
        """A nested environment with one more loop variable bound."""
        env = Env(self.record, self.as_of, self.budget, self)
        env.vars[var] = value
        env.paths[var] = path
        return env

    def bound(self, var: str, value: Any, path: str) -> Env:
        """A quantifier's environment for one element: ``child``, sharing this block's
        define and score values (which cannot depend on the quantifier's variable), so a
        define used in a quantifier's condition is computed once per block, not per
        element."""
        env = self.child(var, value, path)
        env.cache = self.cache
        return env

    def step(self) -> None:
        """Count one unit of work against the budget."""
        root = self.root
        root.steps += 1
        if root.steps > root.budget:
            raise BudgetExceededError(root.steps)




_COMPUTED = (n.BoolOp, n.Not, n.IsKnown, n.Compare, n.InRange, n.InSet, n.Arith, n.Neg,
             n.Quantifier)
_NOT_THERE = object()


def _read_first(nid: int, thunk: Thunk) -> Thunk:
    """``thunk``, preceded by a look at the block's precomputed values (``Compiler.use_vals``):
    a known value there is the value (generated code computed it from the same record,
    ``tests/unit/test_trace_values.py`` holds them equal); unknown there, or not there, the
    closure runs and names the facts."""

    def read(env: Env) -> Any:
        v = env.vals.get(nid, _NOT_THERE)
        if v is _NOT_THERE or isinstance(v, Unknown):
            return thunk(env)
        return v
    return read


def kleene(parts: list[Thunk], decisive: bool) -> Thunk:
    """Kleene `and` (``decisive`` False) or `or` (True) of ``parts``, stopping at the first
    deciding value; the same as ``values.k_and``/``k_or`` over the parts' values, without
    a generator per call."""

    def run(env: Env) -> Any:
        unknown: list[Unknown] | None = None
        for p in parts:
            v = p(env)
            if v is decisive:
                return decisive
            if isinstance(v, Unknown):
                if unknown is None:
                    unknown = [v]
                else:
                    unknown.append(v)
        return merge(unknown) if unknown else not decisive
    return run


def member_index(cls: type[enum.Enum]) -> dict[enum.Enum, int]:
    """Position of each member of an ordered enumeration."""
    return {m: i for i, m in enumerate(cls)}


@attrs.define
class Compiler:
    """Compiles expressions of one checked guideline; ``scores`` is filled by the planner."""

    checked: Checked
    score_thunks: dict[int, Thunk] = attrs.field(factory=dict)
    loop_defines: set[int] = attrs.field(factory=set)
    #: the strict reading: these `known x` tests (the node ids of the "known x and x"
    #: idiom, ``absence_tests``) are unknown while `x` is, instead of false
    #: (``evaluate.Planner`` uses it to find what a decision assumed)
    strict: frozenset[int] = frozenset()
    #: for a trace: a node whose value the block's precomputed values (``Env.vals``,
    #: ``evaluate.TraceValues``) hold as known is read from there, not computed again;
    #: only the parts they hold as unknown run, to name the facts behind them
    use_vals: bool = False
    _define_thunks: dict[int, Thunk] = attrs.field(factory=dict)
    _thunks: dict[int, Thunk] = attrs.field(factory=dict)
    _strict_nodes: dict[int, bool] = attrs.field(factory=dict)

    def type_of(self, e: n.Expr) -> ts.Type:
        return self.checked.types.get(e.nid, ts.ERROR)

    def compile(self, e: n.Expr) -> Thunk:
        """The closure computing ``e`` (made once per node: closures are pure)."""
        if not e.nid:  # a node made outside the builder has no id to key it by
            return self._compile(e)
        try:
            return self._thunks[e.nid]
        except KeyError:
            thunk = self._compile(e)
            if self.use_vals and self._worth_reading(e):
                thunk = _read_first(e.nid, thunk)
            self._thunks[e.nid] = thunk
            return thunk

    def _worth_reading(self, e: n.Expr) -> bool:
        """Whether ``e``'s closure does work that a precomputed value can save (not a
        constant, `today`, an enumeration member or a loop variable), and whether that
        value is this reading's: the precomputed values are the plain reading's, so in the
        strict one a node that holds one of its `known` tests (itself, through a define)
        is never read from them."""
        if isinstance(e, n.Path):
            ref = self.checked.refs.get(e.nid)
            if not isinstance(ref, FieldRef | DefineRef | ScoreRef):
                return False
        elif not isinstance(e, _COMPUTED):
            return False
        return not self.strict or not self._strict_inside(e)

    def _strict_inside(self, e: n.Node) -> bool:
        """Whether ``e`` holds a `known` test of the strict reading, through its defines too
        (a score's value is the same in both readings: its closure is shared)."""
        seen = self._strict_nodes
        if e.nid in seen:
            return seen[e.nid]
        seen[e.nid] = False  # (a define cannot hold itself: the checker refuses cycles)
        if isinstance(e, n.IsKnown) and e.nid in self.strict:
            found = True
        elif isinstance(e, n.Path):
            ref = self.checked.refs.get(e.nid)
            found = isinstance(ref, DefineRef) and self._strict_inside(
                self.checked.defines[ref.nid].expr)
        else:
            found = any(self._strict_inside(c) for c in child_nodes(e))
        seen[e.nid] = found
        return found

    def _compile(self, e: n.Expr) -> Thunk:
        if isinstance(e, n.Number):
            value = e.value * UNITS[e.unit][1] if e.unit else e.value
            return lambda env: value
        if isinstance(e, n.String | n.Bool | n.Date):
            const = e.value
            return lambda env: const
        if isinstance(e, n.Today):
            return lambda env: env.as_of
        if isinstance(e, n.Path):
            return self.path(e)
        if isinstance(e, n.BoolOp):
            return kleene([self.compile(o) for o in e.operands], e.op == "or")
        if isinstance(e, n.Not):
            inner = self.compile(e.operand)
            return lambda env: k_not(inner(env))
        if isinstance(e, n.IsKnown):
            inner = self.compile(e.operand)
            if e.nid in self.strict:
                def strict_known(env: Env) -> Any:
                    v = inner(env)
                    return Unknown(v.paths) if isinstance(v, Unknown) else True
                return strict_known
            if e.known:
                return lambda env: not isinstance(inner(env), Unknown)
            return lambda env: isinstance(inner(env), Unknown)
        if isinstance(e, n.Compare):
            return self.compare(e)
        if isinstance(e, n.InRange):
            return self.in_range(e)
        if isinstance(e, n.InSet):
            return self.in_set(e)
        if isinstance(e, n.Arith):
            return self.arith(e)
        if isinstance(e, n.Neg):
            inner = self.compile(e.operand)

            def neg(env: Env) -> Any:
                v = inner(env)
                if isinstance(v, Unknown):  # a score's range stays with the score alone
                    return Unknown(v.paths) if isinstance(v, Bounded) else v
                return -v
            return neg
        if isinstance(e, n.Quantifier):
            return self.quantifier(e)
        raise AssertionError(f"cannot compile {e!r}")  # pragma: no cover

    # ------------------------------------------------------------------ names
    def path(self, e: n.Path) -> Thunk:
        ref = self.checked.refs.get(e.nid)
        if isinstance(ref, EnumRef):
            member = ref.member
            return lambda env: member
        if isinstance(ref, DefineRef):
            return self.define(ref.nid)
        if isinstance(ref, ScoreRef):
            nid = ref.nid
            return lambda env: self.score_thunks[nid](env)
        if isinstance(ref, VarRef):
            name = ref.name
            return lambda env: env.vars[name]
        assert isinstance(ref, FieldRef), f"unresolved path {e.names}"
        t = self.type_of(e)
        factor = UNITS[t.unit][1] if isinstance(t, ts.QuantityT) and t.unit in UNITS else None
        root, fields = ref.root, ref.fields
        dotted = ".".join(fields)

        if root == "patient":
            def get_patient(env: Env) -> Any:
                obj = env.record
                for f in fields:
                    obj = getattr(obj, f)
                    if obj is None:
                        return Unknown(frozenset({dotted}))
                return obj * factor if factor is not None else obj
            return get_patient

        def get_var(env: Env) -> Any:
            obj = env.vars[root]
            if isinstance(obj, Unknown):
                return obj
            for f in fields:
                obj = getattr(obj, f)
                if obj is None:
                    return Unknown(frozenset({f"{env.paths[root]}.{dotted}"}))
            return obj * factor if factor is not None else obj
        return get_var

    def define(self, nid: int) -> Thunk:
        if nid in self._define_thunks:
            return self._define_thunks[nid]
        cell: list[Thunk] = []
        local = nid in self.loop_defines
        key: Any = (nid, "strict") if self.strict else nid  # (the two readings differ)

        def run(env: Env) -> Any:
            cache = env.cache if local else env.root.cache
            try:
                return cache[key]
            except KeyError:
                value = cache[key] = cell[0](env)
                return value
        self._define_thunks[nid] = run
        cell.append(self.compile(self.checked.defines[nid].expr))
        return run

    # ------------------------------------------------------------------ operators
    def ordered_key(self, t: ts.Type) -> Callable[[Any], Any] | None:
        if isinstance(t, ts.EnumT) and t.ordered:
            index = member_index(t.cls)
            return index.__getitem__
        return None

    def matcher(self, p: n.Pattern, input_t: ts.Type) -> Callable[[Any], bool]:
        """The test of a score arm's or band's pattern (its values are constants)."""
        values = [self.compile(v)(None) for v in p.values]  # type: ignore[arg-type]
        key = self.ordered_key(input_t) or _same
        if p.kind == "else":
            return _anything
        if p.kind == "eq":
            first = values[0]
            return lambda x: bool(x == first)
        if p.kind == "set":
            return lambda x: x in values
        if p.kind == "range":
            lo, hi = key(values[0]), key(values[1])
            return lambda x: bool(lo <= key(x) <= hi)
        op, bound = COMPARE[p.op or "=="], key(values[0])
        return lambda x: bool(op(key(x), bound))

    def compare(self, e: n.Compare) -> Thunk:
        left, right = self.compile(e.left), self.compile(e.right)
        op = COMPARE[e.op]
        key = self.ordered_key(self.type_of(e.left)) if e.op not in ("==", "!=") else None

        name = e.op

        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            if isinstance(a, Unknown) or isinstance(b, Unknown):
                decided = _decide_bounded(name, a, b)
                if decided is not None:
                    return decided
                return Unknown((a.paths if isinstance(a, Unknown) else frozenset())
                               | (b.paths if isinstance(b, Unknown) else frozenset()))
            if key is not None:
                return op(key(a), key(b))
            return op(a, b)
        return run

    def in_range(self, e: n.InRange) -> Thunk:
        value, low, high = self.compile(e.value), self.compile(e.low), self.compile(e.high)
        key = self.ordered_key(self.type_of(e.value)) or (lambda x: x)

        def run(env: Env) -> Any:
            v, lo, hi = value(env), low(env), high(env)
            unknown = [x for x in (v, lo, hi) if isinstance(x, Unknown)]
            if len(unknown) == 1 and isinstance(v, Bounded):  # only the score is undetermined
                decided = between_in(v.low, v.high, lo, hi)
                if decided is not None:
                    return decided
            if unknown:
                return Unknown(frozenset().union(*(u.paths for u in unknown)))
            return key(lo) <= key(v) <= key(hi)
        return run

    def in_set(self, e: n.InSet) -> Thunk:
        value = self.compile(e.value)
        items = [self.compile(i) for i in e.items]

        def run(env: Env) -> Any:
            v = value(env)
            if isinstance(v, Unknown):
                return Unknown(v.paths)
            return k_or(x if isinstance(x, Unknown) else x == v for x in (i(env) for i in items))
        return run

    def arith(self, e: n.Arith) -> Thunk:
        left, right = self.compile(e.left), self.compile(e.right)
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        node = e
        if e.op == "-" and isinstance(lt, ts.DateT) and isinstance(rt, ts.DateT):
            def fn(a: Any, b: Any) -> Any:
                return float((a - b).days)
        elif isinstance(lt, ts.DateT):
            sign = 1 if e.op == "+" else -1

            def fn(a: Any, b: Any) -> Any:
                return shift_date(a, sign * b, node)
        elif e.op == "/":
            def fn(a: Any, b: Any) -> Any:
                if b == 0:
                    raise EvaluationError("division by zero", node)
                return a / b
        else:
            fn = {"+": operator.add, "-": operator.sub, "*": operator.mul}[e.op]  # type: ignore[assignment]

        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            if isinstance(a, Unknown) or isinstance(b, Unknown):
                return Unknown((a.paths if isinstance(a, Unknown) else frozenset())
                               | (b.paths if isinstance(b, Unknown) else frozenset()))
            return fn(a, b)
        return run

    def quantifier(self, e: n.Quantifier) -> Thunk:
        source = self.compile(e.source)
        cond = self.compile(e.condition) if e.condition is not None else None
        var, kind = e.var, e.kind
        src_path = _static_path(e.source)

        def run(env: Env) -> Any:
            items = source(env)
            if isinstance(items, Unknown):
                return items
            base = src_path(env)
            results: list[Any] = []
            for i, item in enumerate(items):
                env.step()
                if cond is None:
                    results.append(True)
                    continue
                r = cond(env.bound(var, item, f"{base}[{i}]"))
                if (r is True and kind == "any") or (r is False and kind == "all"):
                    return r  # decided: later elements cannot change it
                results.append(r)
            if kind == "any":
                return k_or(results)
            if kind == "all":
                return k_and(results)
            if any(isinstance(r, Unknown) for r in results):
                return merge(results)
            return float(sum(1 for r in results if r is True))
        return run


def _same(x: Any) -> Any:
    return x


def _anything(x: Any) -> bool:
    return True


def _static_path(e: n.Expr) -> Callable[[Env], str]:
    """How to name the elements of a list expression in Unknown paths."""
    if isinstance(e, n.Path):
        names = e.names
        if names[0] == "patient":
            dotted = ".".join(names[1:])
            return lambda env: dotted
        rest = ".".join(names[1:])

        def var_path(env: Env) -> str:
            base = env.paths.get(names[0], names[0])
            return f"{base}.{rest}" if rest else base
        return var_path
    return lambda env: "item"


# ---------------------------------------------------------------------- the work bound


_HUGE = 1 << 62  #: a static cost too large to count (a sum score of absurd size)


@attrs.frozen
class _BlockWork:
    """What one block instance costs: ``fixed`` steps, plus per element of the lists
    its quantifiers and loops go over."""

    fixed: int
    parts: tuple[tuple[n.Node, int], ...]  # each item's share of ``fixed`` (for locating)
    #: quantifiers without inner quantifiers, by list: (the list's patient fields or None,
    #: its closure, steps per element, the first quantifier, for locating)
    lists: tuple[tuple[tuple[str, ...] | None, Thunk, int, n.Node], ...]
    nested: tuple[n.Quantifier, ...]  # quantifiers with quantifiers inside
    loops: tuple[tuple[n.For, Thunk, tuple[str, ...] | None, _BlockWork], ...]
    #: the cost depends on the record only, not on loop variables (one count per loop)
    constant: bool


def _patient_fields(e: n.Expr, checked: Checked) -> tuple[str, ...] | None:
    ref = checked.refs.get(e.nid) if isinstance(e, n.Path) else None
    if isinstance(ref, FieldRef) and ref.root == "patient":
        return ref.fields
    return None


class Work:
    """The evaluation budget (``Limits.max_steps``), counted before an evaluation runs.

    The two evaluators (closures, and the generated fast path) compute lazily or eagerly
    in different orders, so counting the steps each takes would let one stop where the
    other does not. Instead one count, made here from the record before either runs,
    bounds the work of both: every expression node of every define, score, rule and
    invariant counts once per block instance (the top level, and each element of each
    `for`), including each item of an `in [...]` list, each score arm and band, and
    each total a sum score can reach; each element a quantifier goes over counts 1 plus
    its condition; each `for` element counts 1 plus its block (with the defines and scores
    of enclosing `for` blocks, which an inner block may compute again). An evaluation
    whose count passes the budget is refused (``BudgetExceededError``) at the item where
    it does, before anything runs.

    Counting takes microseconds for the usual record, and never more steps than the
    budget.
    """

    def __init__(self, checked: Checked, compiler: Compiler) -> None:
        self.checked = checked
        self.compiler = compiler
        self._expr: dict[int, tuple[int, tuple[n.Quantifier, ...]]] = {}
        self.top = self._block(list(checked.program.items()), (), top=True)
        # When no list depends on a loop variable, the count depends only on the lengths
        # of the record's lists: counts are kept by those lengths (and the budget)
        self._fields: tuple[tuple[str, ...], ...] | None = None
        self._known: dict[tuple[int, ...], tuple[int, n.Node | None, bool]] = {}
        self._key: Callable[[Any, int], tuple[int, ...]] | None = None
        if self.top.constant:
            fields: dict[tuple[str, ...], None] = {}
            blocks = [self.top]
            while blocks:
                b = blocks.pop()
                fields.update((f, None) for f, _, _, _ in b.lists if f is not None)
                for _, _, f, inner in b.loops:
                    if f is not None:
                        fields[f] = None
                    blocks.append(inner)
            self._fields = tuple(fields)
            self._key = _lengths_key(self._fields)

    # -- static part ------------------------------------------------------------------
    def expr(self, e: n.Expr) -> tuple[int, tuple[n.Quantifier, ...]]:
        """``e``'s node count (quantifier conditions left out) and its outermost
        quantifiers, whose conditions count per element."""
        if e.nid and e.nid in self._expr:
            return self._expr[e.nid]
        count = 0
        quants: list[n.Quantifier] = []
        stack: list[n.Node] = [e]
        while stack:
            x = stack.pop()
            count += 1
            if isinstance(x, n.Quantifier):
                quants.append(x)
                stack.append(x.source)
                continue
            stack.extend(child_nodes(x))
        out = (count, tuple(quants))
        if e.nid:
            self._expr[e.nid] = out
        return out

    def _score(self, s: n.Score) -> tuple[int, tuple[n.Quantifier, ...]]:
        def arms(xs: tuple[n.Arm, ...]) -> int:
            return sum(1 + len(a.pattern.values) for a in xs)
        if s.source is not None:
            count, qs = self.expr(s.source)
            return count + arms(s.arms), qs
        count = arms(s.bands)
        quants: list[n.Quantifier] = []
        totals = {0.0}  # the totals it can reach (all unknown), each tried on every band
        for c in s.components:
            c_count, c_quants = self.expr(c.source)
            quants.extend(c_quants)
            points = {a.points for a in c.arms} or {0.0}
            count += c_count + arms(c.arms) + len(totals) * len(points)
            if len(totals) * len(points) > 1_000_000:
                return _HUGE, tuple(quants)
            totals = {t + p for t in totals for p in points}
        return min(count + len(totals) * len(s.bands), _HUGE), tuple(quants)

    def _block(self, items: list[n.Item], outer: tuple[n.Define | n.Score, ...],
               top: bool) -> _BlockWork:
        fixed = 0
        parts: list[tuple[n.Node, int]] = []
        quants: list[tuple[n.Node, n.Quantifier]] = []
        named: list[n.Define | n.Score] = []
        for item in [*outer, *items]:
            counted: list[tuple[int, tuple[n.Quantifier, ...]]] = []
            if isinstance(item, n.Define):
                counted.append(self.expr(item.expr))
                named.append(item)
            elif isinstance(item, n.Score):
                counted.append(self._score(item))
                named.append(item)
            elif isinstance(item, n.Rule):
                counted.extend(self.expr(x) for x in (
                    *([item.when] if item.when is not None else []), *item.unless))
                counted.append((len(item.actions), ()))
            elif isinstance(item, n.Invariant) and item.when is not None:
                counted.append(self.expr(item.when))
            elif isinstance(item, n.For):  # (`outer` holds defines and scores only)
                counted.append(self.expr(item.source))
            for c, qs in counted:
                fixed = min(fixed + c, _HUGE)
                parts.append((item, c))
                quants.extend((item, q) for q in qs)
        # an inner block may compute this block's defines and scores again (in its own
        # environment); the top level's are computed once, in the top environment
        inner_outer = () if top else tuple(named)
        loops = []
        for item in items:
            if isinstance(item, n.For):
                inner = self._block(list(item.items), inner_outer, top=False)
                loops.append((item, self.compiler.compile(item.source),
                              _patient_fields(item.source, self.checked), inner))
        lists: dict[Any, tuple[tuple[str, ...] | None, Thunk, int, n.Node]] = {}
        nested: list[n.Quantifier] = []
        for _item, q in quants:
            if q.condition is None:
                per = 1
            else:
                per, inner_q = self.expr(q.condition)
                per += 1
                if inner_q:
                    nested.append(q)
                    continue
            fields = _patient_fields(q.source, self.checked)
            key = fields if fields is not None else q.nid
            if key in lists:
                f, thunk, old, first = lists[key]
                lists[key] = (f, thunk, min(old + per, _HUGE), first)
            else:
                lists[key] = (fields, self.compiler.compile(q.source), per, q)
        constant = not nested and all(f is not None for f, _, _, _ in lists.values()) and \
            all(fields is not None and inner.constant for _, _, fields, inner in loops)
        return _BlockWork(fixed, tuple(parts), tuple(lists.values()), tuple(nested),
                          tuple(loops), constant)

    # -- counting -----------------------------------------------------------------------
    def check(self, record: Any, as_of: datetime.date, budget: int) -> int:
        """The count for one record; raises ``BudgetExceededError`` past ``budget``."""
        key: tuple[int, ...] | None = None
        if self._key is not None:
            key = self._key(record, budget)
        elif self._fields is not None:
            env = Env(record, as_of, budget)
            key = (budget, *(self._length(f, _never, env) for f in self._fields))
        if key is not None:
            known = self._known.get(key)
            if known is not None:
                steps, node, over = known
                if over:
                    raise BudgetExceededError(steps, node)
                return steps
        env = Env(record, as_of, budget)
        counter = _Counter(budget)
        try:
            self._count(self.top, env, counter, None)
        except BudgetExceededError as exc:
            if key is not None:
                self._remember(key, (exc.steps, exc.node, True))
            raise
        if key is not None:
            self._remember(key, (counter.steps, None, False))
        return counter.steps

    @property
    def list_fields(self) -> tuple[tuple[str, ...], ...] | None:
        """The paths of the record's lists whose lengths key the counts kept (``known``);
        None when the counts are not kept by lengths (a list depends on a loop variable)."""
        return self._fields

    @property
    def known(self) -> dict[tuple[int, ...], tuple[int, n.Node | None, bool]]:
        """The counts kept: ``(budget, length of each list of list_fields)`` -> (steps, the
        node where the budget is passed or None, whether it is). Code that reads a record
        given as JSON looks its key up here (``codegen.JsonGenerator``)."""
        return self._known

    def _remember(self, key: tuple[int, ...], value: tuple[int, n.Node | None, bool]) -> None:
        if len(self._known) >= 4096:  # (lengths are bounded, but their combinations less)
            self._known.clear()
        self._known[key] = value

    @staticmethod
    def _length(fields: tuple[str, ...] | None, thunk: Thunk, env: Env) -> int:
        if fields is not None:  # a list of the record: read directly
            obj = env.record
            for f in fields:
                obj = getattr(obj, f)
                if obj is None:
                    return 0
            return len(obj)
        items = thunk(env)
        return 0 if isinstance(items, Unknown) else len(items)

    def _count(self, block: _BlockWork, env: Env, counter: _Counter,
               at: n.Node | None) -> None:
        if counter.steps + block.fixed > counter.budget:  # find the item that passes it
            for node, c in block.parts:
                counter.add(c, node)
        counter.add(block.fixed, at)
        for fields, thunk, per, node in block.lists:
            counter.add(self._length(fields, thunk, env) * per, node)
        for q in block.nested:
            self._quantifier(q, env, counter)
        for loop, thunk, fields, inner in block.loops:
            if inner.constant and fields is not None:
                length = self._length(fields, thunk, env)
                if length:  # every element costs the same: count one, times the length
                    one = _Counter(counter.budget)
                    self._count(inner, env, one, loop)
                    each = 1 + one.steps
                    if counter.steps + length * each > counter.budget:
                        # count up to the element that passes the budget, then through it,
                        # which raises at the item where it does
                        counter.steps += (counter.budget - counter.steps) // each * each + 1
                        self._count(inner, env, counter, loop)
                    counter.add(length * each, loop)
                continue
            items = thunk(env)
            if isinstance(items, Unknown):
                continue
            for i, element in enumerate(items):
                counter.add(1, loop)
                self._count(inner, env.child(loop.var, element, f"[{i}]"), counter, loop)

    def _quantifier(self, q: n.Quantifier, env: Env, counter: _Counter) -> None:
        items = self.compiler.compile(q.source)(env)
        if isinstance(items, Unknown):
            return
        assert q.condition is not None  # (only quantifiers with quantifiers inside)
        count, inner = self.expr(q.condition)
        for i, element in enumerate(items):
            counter.add(1 + count, q)
            child = env.bound(q.var, element, f"[{i}]")
            for iq in inner:
                if iq.condition is None or not self.expr(iq.condition)[1]:
                    per = 1 + (self.expr(iq.condition)[0] if iq.condition is not None else 0)
                    items_i = self.compiler.compile(iq.source)(child)
                    if not isinstance(items_i, Unknown):
                        counter.add(len(items_i) * per, iq)
                else:
                    self._quantifier(iq, child, counter)


def _lengths_key(fields: tuple[tuple[str, ...], ...]
                 ) -> Callable[[Any, int], tuple[int, ...]] | None:
    """A function giving ``(budget, length of each record list in fields)`` (0 for a
    missing one), as ``Work.check`` keys its counts, generated as straight-line code (the
    key of every call); None if a name is not a plain identifier. (Code reading a record
    given as JSON makes the same key itself: ``codegen.JsonGenerator``.)"""
    lines = ["def key(record, budget):"]
    for i, path in enumerate(fields):
        if not all(f.isidentifier() and not keyword.iskeyword(f) for f in path):
            return None
        lines.append("    x = record")
        for f in path:
            lines.append(f"    if x is not None: x = x.{f}")
        lines.append(f"    n{i} = 0 if x is None else len(x)")
    lines.append("    return (budget, " + "".join(f"n{i}, " for i in range(len(fields))) + ")")
    namespace: dict[str, Any] = {"len": len, "__builtins__": {}}
    exec(compile("\n".join(lines), "<record list lengths>", "exec"), namespace)  # field names only
    key: Callable[[Any, int], tuple[int, ...]] = namespace["key"]
    return key


def _never(env: Env) -> Any:  # pragma: no cover - record lists are read directly
    raise AssertionError("not a record list")


class _Counter:
    __slots__ = ("budget", "steps")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.steps = 0

    def add(self, k: int, node: n.Node | None) -> None:
        self.steps += k
        if self.steps > self.budget:
            raise BudgetExceededError(self.steps, node)
