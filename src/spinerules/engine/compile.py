"""Expressions to closures, built once per guideline with every name, overload and unit
resolved from the checker's side tables; at run time they only compute.
"""

from __future__ import annotations

import datetime
import enum
import operator
from collections.abc import Callable
from typing import Any

import attrs

from spinerules.checker import typesys as ts
from spinerules.checker.check import Checked, DefineRef, EnumRef, FieldRef, ScoreRef, VarRef
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


class BudgetExceededError(Exception):
    """Evaluation took more steps than the configured budget."""

    def __init__(self, steps: int) -> None:
        super().__init__(f"evaluation budget exhausted after {steps} steps")
        self.steps = steps


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
NO_VALUES: dict[int, Any] = {}


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
        self.cache: dict[int, Any] = {}
        # values (by node id) and define explanations (by (node id, depth)) that the
        # conditions, atoms and explanations of one evaluation share
        self.memo: dict[Any, Any] = {}
        # a trace's precomputed values of this block instance, by node id (see
        # ``evaluate.TraceValues``); empty when there are none
        self.vals: dict[int, Any] = NO_VALUES
        self.budget = budget
        self.steps = 0

    def child(self, var: str, value: Any, path: str) -> Env:
        """A nested environment with one more loop variable bound."""
        env = Env(self.record, self.as_of, self.budget, self)
        env.vars[var] = value
        env.paths[var] = path
        return env

    def step(self) -> None:
        """Count one unit of work against the budget."""
        root = self.root
        root.steps += 1
        if root.steps > root.budget:
            raise BudgetExceededError(root.steps)




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
    _define_thunks: dict[int, Thunk] = attrs.field(factory=dict)
    _thunks: dict[int, Thunk] = attrs.field(factory=dict)

    def type_of(self, e: n.Expr) -> ts.Type:
        return self.checked.types.get(e.nid, ts.ERROR)

    def compile(self, e: n.Expr) -> Thunk:
        """The closure computing ``e`` (made once per node: closures are pure)."""
        if not e.nid:  # a node made outside the builder has no id to key it by
            return self._compile(e)
        try:
            return self._thunks[e.nid]
        except KeyError:
            thunk = self._thunks[e.nid] = self._compile(e)
            return thunk

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

        def run(env: Env) -> Any:
            cache = env.cache if local else env.root.cache
            try:
                return cache[nid]
            except KeyError:
                value = cache[nid] = cell[0](env)
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
                r = cond(env.child(var, item, f"{base}[{i}]"))
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
