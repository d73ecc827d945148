"""A checked guideline as z3 formulas over one symbolic patient record.

Every fact is a pair (``known``, ``value``): ``known`` false is a missing key or ``null``,
so Kleene's three-valued logic is encoded exactly. A three-valued condition is the pair
``(T, F)`` of formulas "certainly true" and "certainly false" (unknown: neither).

What is encoded, as the engine (``engine/compile.py``, ``engine/evaluate.py``) computes it:

- facts of any depth of the record type, with their schema ranges (and integer fields
  integral) as constraints; enumerations as member indexes (ordered ones compare by
  index); numbers with units in the engine's base units (days, percentage points); dates as
  day numbers; ``today`` as a symbolic ``as_of``; strings as z3 strings;
- lists as a symbolic length ``0..max_list`` and that many symbolic elements: every
  answer holds for lists of at most ``max_list`` elements, and says so;
- ``and``/``or``/``not``, ``known``/``unknown``, comparisons, ``in a..b``, ``in [...]``,
  arithmetic (division by a constant only), ``any``/``all``/``count``;
- defines (once per block instance), table and sum scores with the ranges that decide a
  comparison while a component is unknown (``values.Bounded``), bands decided when every
  reachable total falls in one band (exactly, by reachable totals), ``for`` blocks per
  element, rules, requests and invariants.

A construct this module cannot encode exactly raises :class:`Unsupported` with the node,
so the caller reports a located diagnostic instead of a proof that could be wrong.
"""

from __future__ import annotations

import datetime
import enum
import fractions
import types
import typing
from collections.abc import Iterator
from typing import Any

import attrs
import z3  # type: ignore[import-untyped]

from spinerules.checker import typesys as ts
from spinerules.checker.check import Checked, DefineRef, EnumRef, FieldRef, ScoreRef, VarRef
from spinerules.lang import nodes as n
from spinerules.lang.units import UNITS

#: the dates a symbolic date (a fact or ``as_of``) may take
DATE_LOW = datetime.date(1900, 1, 1).toordinal()
DATE_HIGH = datetime.date(2100, 12, 31).toordinal()
AS_OF_LOW = datetime.date(2000, 1, 1).toordinal()
AS_OF_HIGH = datetime.date(2099, 12, 31).toordinal()
POSITIVE = ("recommend", "consider")


class Unsupported(Exception):
    """A construct the encoding does not cover; ``node`` locates it."""

    def __init__(self, message: str, node: n.Node) -> None:
        super().__init__(message)
        self.node = node


def real(x: float) -> z3.ArithRef:
    """The exact rational of a Python float (what the engine computes with)."""
    fr = fractions.Fraction(x)
    return z3.RealVal(f"{fr.numerator}/{fr.denominator}")


TRUE, FALSE = z3.BoolVal(True), z3.BoolVal(False)


@attrs.frozen
class V:
    """One value: ``known``, ``val`` (a z3 term, a ``SymList`` or a ``SymRecord``), the kind
    (``bool``, ``num``, ``enum``, ``str``, ``date``, ``list``, ``record``) and, for an
    undetermined score, ``rng``: (has a range, low, high)."""

    known: Any
    val: Any
    kind: str
    rng: tuple[Any, Any, Any] | None = None

    @property
    def t(self) -> Any:
        return z3.And(self.known, self.val)

    @property
    def f(self) -> Any:
        return z3.And(self.known, z3.Not(self.val))


def tri(t: Any, f: Any) -> V:
    """A three-valued condition from its "true" and "false" formulas."""
    return V(z3.Or(t, f), t, "bool")


def _inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


class SymRecord:
    """A symbolic instance of an attrs record class; variables are made on first use."""

    def __init__(self, enc: Encoder, cls: type, path: str, present: Any) -> None:
        self.enc = enc
        self.cls = cls
        self.path = path
        self.present = present  # a z3 Bool (or TRUE for list elements and the patient)
        self.fields = ts.record_fields(cls)
        self.hints = typing.get_type_hints(cls)
        self.leaves: dict[str, V] = {}
        self.subs: dict[str, SymRecord] = {}
        self.lists: dict[str, SymList] = {}

    def _name(self, field: str) -> str:
        return f"{self.path}.{field}" if self.path else field

    def get(self, field: str) -> V:
        info = self.fields[field]
        t = info.type
        if isinstance(t, ts.RecordT):
            if field not in self.subs:
                present = z3.Bool(f"present:{self._name(field)}")
                self.enc.base.append(z3.Implies(present, self.present))
                self.subs[field] = SymRecord(self.enc, t.cls, self._name(field), present)
            sub = self.subs[field]
            return V(sub.present, sub, "record")
        if isinstance(t, ts.ListT):
            if field not in self.lists:
                known = z3.Bool(f"known:{self._name(field)}")
                self.enc.base.append(z3.Implies(known, self.present))
                self.lists[field] = SymList(self.enc, t.elem, self._name(field), known)
            lst = self.lists[field]
            return V(lst.known, lst, "list")
        if field not in self.leaves:
            known = z3.Bool(f"known:{self._name(field)}")
            self.enc.base.append(z3.Implies(known, self.present))
            annotation = _inner(self.hints[field])
            self.leaves[field] = self.enc.leaf(self._name(field), t, annotation, info, known)
        return self.leaves[field]


class SymList:
    """A symbolic list: ``known``, a length ``0..max_list`` and ``max_list`` elements."""

    def __init__(self, enc: Encoder, elem: ts.Type, path: str, known: Any) -> None:
        self.enc = enc
        self.elem = elem
        self.path = path
        self.known = known
        self.length = z3.Int(f"len:{path}")
        enc.base.append(z3.And(self.length >= 0, self.length <= enc.max_list))
        self.items: list[V] = []
        for i in range(enc.max_list):
            name = f"{path}[{i}]"
            if isinstance(elem, ts.RecordT):
                rec = SymRecord(enc, elem.cls, name, TRUE)
                self.items.append(V(TRUE, rec, "record"))
            else:
                info = ts.FieldInfo(name=name, type=elem)
                leaf = enc.leaf(name, elem, _annotation_of(elem), info, TRUE)
                self.items.append(leaf)

    def active(self, i: int) -> Any:
        return z3.And(self.known, self.length > i)


def _annotation_of(t: ts.Type) -> Any:
    if isinstance(t, ts.EnumT):
        return t.cls
    if isinstance(t, ts.BoolT):
        return bool
    if isinstance(t, ts.StringT):
        return str
    if isinstance(t, ts.DateT):
        return datetime.date
    return float


@attrs.define
class Env:
    """Loop and quantifier variables, and the key of the block instance (its ``for``
    elements) that defines and scores are computed once per."""

    vars: dict[str, V]
    block: tuple[str, ...] = ()
    block_env: Env | None = None

    def bind(self, var: str, value: V, key: str, loop: bool) -> Env:
        vs = dict(self.vars)
        vs[var] = value
        if loop:
            return Env(vs, (*self.block, key), None)
        return Env(vs, self.block, self.block_env or self)

    @property
    def home(self) -> Env:
        return self.block_env or self


@attrs.frozen
class RuleInstance:
    rule: n.Rule
    path: str  # the element it runs for ("" at the top level)
    active: Any  # its block instance exists
    fires: Any
    undetermined: Any
    env_key: tuple[str, ...] = ()
    #: the `all(...)` quantifiers its condition reaches: (node, "vacuously true" formula)
    vacuous: tuple[tuple[n.Quantifier, Any], ...] = ()
    env: Env | None = None  # its environment (to encode parts of its condition again)


@attrs.frozen
class Emission:
    """One way a code can be output: by a rule instance or a score arm or band."""

    code: str
    kind: str
    source: str  # rule id or score name
    node: n.Node
    fires: Any


class Encoder:
    """Encodes one checked guideline over a symbolic patient (shared with another
    encoder for ``diff``: pass its ``patient``)."""

    def __init__(self, checked: Checked, *, max_list: int = 3,
                 patient: SymRecord | None = None, as_of: Any = None,
                 base: list[Any] | None = None, prefix: str = "",
                 overrides: dict[str, V] | None = None,
                 node_overrides: dict[int, V] | None = None) -> None:
        self.checked = checked
        #: expressions replaced by a value, by node id
        self.node_overrides = node_overrides or {}
        #: facts replaced by a value, by their name in the symbolic record
        #: (``bone_health.dexa_done``, ``fractures[0].marrow_edema``)
        self.overrides = overrides or {}
        self.max_list = max_list
        self.prefix = prefix
        self.base: list[Any] = base if base is not None else []
        self.as_of = as_of if as_of is not None else z3.Int("as_of")
        if as_of is None:
            self.base.append(z3.And(self.as_of >= AS_OF_LOW, self.as_of <= AS_OF_HIGH))
        self.patient = patient or SymRecord(self, checked.record, "", TRUE)
        self.loop_items: set[int] = set()
        self._memo: dict[tuple[int, tuple[str, ...]], V] = {}
        self._vacuous_of: dict[tuple[int, tuple[str, ...]], list[tuple[n.Quantifier, Any]]] = {}
        self._collect: list[list[tuple[n.Quantifier, Any]]] = []
        self.rules: list[RuleInstance] = []
        self.emissions: list[Emission] = []
        self.invariants: list[tuple[n.Invariant, V | None]] = []
        self._score_memo: dict[Any, tuple[V, list[tuple[n.Action, Any]], Any]] = {}

    # ------------------------------------------------------------------ facts
    def leaf(self, name: str, t: ts.Type, annotation: Any, info: ts.FieldInfo,
             known: Any) -> V:
        """A scalar fact's variable, its schema constraints, in the engine's units."""
        base = self.base
        if isinstance(t, ts.BoolT):
            return V(known, z3.Bool(f"v:{name}"), "bool")
        if isinstance(t, ts.EnumT):
            v = z3.Int(f"v:{name}")
            base.append(z3.And(v >= 0, v < len(list(t.cls))))
            return V(known, v, "enum")
        if isinstance(t, ts.StringT):
            s = z3.String(f"v:{name}")
            base.append(z3.Length(s) <= 24)
            return V(known, s, "str")
        if isinstance(t, ts.DateT):
            d = z3.Int(f"v:{name}")
            base.append(z3.And(d >= DATE_LOW, d <= DATE_HIGH))
            return V(known, d, "date")
        if isinstance(t, ts.NumberT | ts.QuantityT):
            x = z3.Real(f"v:{name}")  # in the field's own unit (what JSON holds)
            if annotation is int:
                base.append(z3.IsInt(x))
            if info.min is not None:
                base.append(x >= real(info.min))
            if info.max is not None:
                base.append(x <= real(info.max))
            factor = UNITS[info.unit][1] if info.unit in UNITS else 1.0
            val = x if factor == 1.0 else x * real(factor)
            return V(known, val, "num")
        raise TypeError(f"no encoding for a field of type {t}")  # (checked types only)

    # ------------------------------------------------------------------ expressions
    def type_of(self, e: n.Expr) -> ts.Type:
        return self.checked.types.get(e.nid, ts.ERROR)

    def expr(self, e: n.Expr, env: Env) -> V:
        if self.node_overrides and e.nid in self.node_overrides:
            return self.node_overrides[e.nid]
        if isinstance(e, n.Number):
            value = e.value * UNITS[e.unit][1] if e.unit else e.value
            return V(TRUE, real(value), "num")
        if isinstance(e, n.Bool):
            return V(TRUE, z3.BoolVal(e.value), "bool")
        if isinstance(e, n.String):
            return V(TRUE, z3.StringVal(e.value), "str")
        if isinstance(e, n.Date):
            return V(TRUE, z3.IntVal(e.value.toordinal()), "date")
        if isinstance(e, n.Today):
            return V(TRUE, self.as_of, "date")
        if isinstance(e, n.Path):
            return self.path(e, env)
        if isinstance(e, n.BoolOp):
            parts = [self.expr(o, env) for o in e.operands]
            if e.op == "and":
                return tri(z3.And(*[p.t for p in parts]), z3.Or(*[p.f for p in parts]))
            return tri(z3.Or(*[p.t for p in parts]), z3.And(*[p.f for p in parts]))
        if isinstance(e, n.Not):
            inner = self.expr(e.operand, env)
            return tri(inner.f, inner.t)
        if isinstance(e, n.IsKnown):
            inner = self.expr(e.operand, env)
            k = inner.known
            return V(TRUE, k if e.known else z3.Not(k), "bool")
        if isinstance(e, n.Compare):
            return self.compare(e, env)
        if isinstance(e, n.InRange):
            return self.in_range(e, env)
        if isinstance(e, n.InSet):
            v = self.expr(e.value, env)
            items = [self.expr(i, env) for i in e.items]
            t = z3.And(v.known, z3.Or(*[z3.And(i.known, i.val == v.val) for i in items]))
            f = z3.And(v.known, z3.And(*[z3.And(i.known, i.val != v.val) for i in items]))
            return tri(t, f)
        if isinstance(e, n.Arith):
            return self.arith(e, env)
        if isinstance(e, n.Neg):
            v = self.expr(e.operand, env)
            return V(v.known, -v.val, "num")
        if isinstance(e, n.Quantifier):
            return self.quantifier(e, env)
        raise Unsupported(f"no encoding for {type(e).__name__}", e)

    def path(self, e: n.Path, env: Env) -> V:
        ref = self.checked.refs.get(e.nid)
        if isinstance(ref, EnumRef):
            return V(TRUE, z3.IntVal(_index(ref.member)), "enum")
        if isinstance(ref, DefineRef):
            return self.define(ref.nid, env)
        if isinstance(ref, ScoreRef):
            return self.score_value(ref.nid, env)
        if isinstance(ref, VarRef):
            return env.vars[ref.name]
        if not isinstance(ref, FieldRef):
            raise Unsupported("an unresolved name", e)
        cur = V(TRUE, self.patient, "record") if ref.root == "patient" else env.vars[ref.root]
        known = cur.known
        for f in ref.fields:
            rec = cur.val
            if not isinstance(rec, SymRecord):
                raise Unsupported("a field of a value that is not a record", e)
            cur = rec.get(f)
            known = z3.And(known, cur.known)
            if self.overrides and rec._name(f) in self.overrides:
                return self.overrides[rec._name(f)]
        return V(known, cur.val, cur.kind)

    def define(self, nid: int, env: Env) -> V:
        local = nid in self.loop_items
        key = (nid, env.home.block if local else ())
        if key in self._memo:
            for c in self._collect:
                c.extend(self._vacuous_of[key])
            return self._memo[key]
        home = env.home if local else Env({})
        self._collect.append([])
        value = self.expr(self.checked.defines[nid].expr, home)
        found = self._collect.pop()
        for c in self._collect:
            c.extend(found)
        self._memo[key] = value
        self._vacuous_of[key] = found
        return value

    def compare(self, e: n.Compare, env: Env) -> V:
        a, b = self.expr(e.left, env), self.expr(e.right, env)
        op = e.op
        res = _op(op, a.val, b.val)
        known = z3.And(a.known, b.known)
        t, f = z3.And(known, res), z3.And(known, z3.Not(res))
        # an undetermined score against a known number: decided when its range decides
        for s, other, o in ((a, b, op), (b, a, _FLIP[op])):
            if s.rng is not None and other.kind == "num":  # (a known number: ``other.known``)
                has, lo, hi = s.rng
                if o in ("==", "!="):
                    outside = z3.Or(other.val < lo, other.val > hi)
                    single = z3.And(lo == hi, hi == other.val)
                    yes, no = (single, outside) if o == "==" else (outside, single)
                else:
                    yes = z3.And(_op(o, lo, other.val), _op(o, hi, other.val))
                    no = z3.And(z3.Not(_op(o, lo, other.val)), z3.Not(_op(o, hi, other.val)))
                cond = z3.And(has, other.known)
                t, f = z3.Or(t, z3.And(cond, yes)), z3.Or(f, z3.And(cond, no))
        return tri(t, f)

    def in_range(self, e: n.InRange, env: Env) -> V:
        v, lo, hi = self.expr(e.value, env), self.expr(e.low, env), self.expr(e.high, env)
        known = z3.And(v.known, lo.known, hi.known)
        inside = z3.And(lo.val <= v.val, v.val <= hi.val)
        t, f = z3.And(known, inside), z3.And(known, z3.Not(inside))
        if v.rng is not None:
            has, low, high = v.rng
            cond = z3.And(has, lo.known, hi.known)
            t = z3.Or(t, z3.And(cond, lo.val <= low, high <= hi.val))
            f = z3.Or(f, z3.And(cond, z3.Or(high < lo.val, low > hi.val)))
        return tri(t, f)

    def arith(self, e: n.Arith, env: Env) -> V:
        a, b = self.expr(e.left, env), self.expr(e.right, env)
        known = z3.And(a.known, b.known)
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        if e.op == "-" and isinstance(lt, ts.DateT) and isinstance(rt, ts.DateT):
            return V(known, z3.ToReal(a.val - b.val), "num")
        if isinstance(lt, ts.DateT):
            # date + timedelta(days=x) moves by floor(x) days (and date - x by floor(-x))
            shift = z3.ToInt(b.val) if e.op == "+" else z3.ToInt(-b.val)
            return V(known, a.val + shift, "date")
        if e.op == "/":
            divisor = z3.simplify(b.val)
            if not (z3.is_rational_value(divisor) and divisor.as_fraction() != 0):
                raise Unsupported("division by a value that is not a non-zero constant "
                                  "(the engine stops on division by zero)", e)
            return V(known, a.val / divisor, "num")
        res = {"+": a.val + b.val, "-": a.val - b.val, "*": a.val * b.val}[e.op]
        return V(known, res, "num")

    def quantifier(self, e: n.Quantifier, env: Env) -> V:
        src = self.expr(e.source, env)
        lst = src.val
        if not isinstance(lst, SymList):
            raise Unsupported("a quantifier over something that is not a list", e)
        results: list[tuple[Any, V | None]] = []
        for i, item in enumerate(lst.items):
            active = lst.length > i
            if e.condition is None:
                results.append((active, None))
                continue
            inner = env.bind(e.var, item, f"{lst.path}[{i}]", loop=False)
            results.append((active, self.expr(e.condition, inner)))
        k = src.known
        if e.kind == "any":
            t = z3.Or(*[z3.And(a, c.t) for a, c in results if c is not None]) \
                if e.condition is not None else z3.Or(*[a for a, _ in results])
            f = z3.And(*[z3.Or(z3.Not(a), c.f) for a, c in results if c is not None]) \
                if e.condition is not None else z3.And(*[z3.Not(a) for a, _ in results])
            return tri(z3.And(k, t), z3.And(k, f))
        if e.kind == "all":
            if e.condition is None:
                return tri(k, FALSE)
            t = z3.And(*[z3.Or(z3.Not(a), c.t) for a, c in results if c is not None])
            f = z3.Or(*[z3.And(a, c.f) for a, c in results if c is not None])
            vac = z3.And(k, lst.length == 0)
            for c_list in self._collect:
                c_list.append((e, vac))
            return tri(z3.And(k, t), z3.And(k, f))
        # count
        if e.condition is None:
            return V(k, z3.ToReal(lst.length), "num")
        known = z3.And(k, *[z3.Or(z3.Not(a), c.known) for a, c in results if c is not None])
        total = z3.Sum(*[z3.If(z3.And(a, c.t), z3.RealVal(1), z3.RealVal(0))
                         for a, c in results if c is not None]) if results else z3.RealVal(0)
        return V(known, total, "num")

    # ------------------------------------------------------------------ scores
    def _matches(self, p: n.Pattern, x: Any) -> Any:
        if p.kind == "else":
            return TRUE
        values = [self.expr(v, Env({})).val for v in p.values]
        if p.kind == "eq":
            return x == values[0]
        if p.kind == "set":
            return z3.Or(*[x == v for v in values])
        if p.kind == "range":
            return z3.And(values[0] <= x, x <= values[1])
        return _op(p.op or "==", x, values[0])

    def _score(self, nid: int, env: Env) -> tuple[V, list[tuple[n.Action, Any]], Any]:
        """(its value, (action, fires) per arm or band action, undetermined with a
        pending action)."""
        s = self.checked.scores[nid]
        key = (-nid, env.home.block if nid in self.loop_items else ())
        cache = self._score_memo.get(key)
        if cache is not None:
            return cache
        home = env.home if nid in self.loop_items else Env({})
        if s.source is not None:
            src = self.expr(s.source, home)
            matched = FALSE
            value: Any = z3.RealVal(0)
            actions: list[tuple[n.Action, Any]] = []
            firsts = []
            for arm in s.arms:
                m = self._matches(arm.pattern, src.val)
                first = z3.And(src.known, m, z3.Not(matched))
                firsts.append((arm, first))
                matched = z3.Or(matched, m)
            for arm, first in reversed(firsts):
                value = z3.If(first, real(arm.points), value)
            for arm, first in firsts:
                if arm.action is not None:
                    actions.append((arm.action, first))
            pts = [a.points for a in s.arms]
            rng = (z3.Not(src.known), real(min(pts)), real(max(pts))) if pts else None
            out = V(z3.And(src.known, matched), value, "num", rng)
            pending = z3.And(z3.Not(src.known),
                             TRUE if any(a.action for a in s.arms) else FALSE)
        else:
            out, actions, pending = self._sum_score(s, home)
        self._score_memo[key] = (out, actions, pending)
        return out, actions, pending

    def _sum_score(self, s: n.Score, env: Env) -> tuple[V, list[tuple[n.Action, Any]], Any]:
        reach: dict[float, Any] = {0.0: TRUE}
        low: Any = z3.RealVal(0)
        high: Any = z3.RealVal(0)
        for c in s.components:
            src = self.expr(c.source, env)
            pts = list(dict.fromkeys(a.points for a in c.arms)) or [0.0]
            matched = FALSE
            got: Any = z3.RealVal(0)
            firsts = []
            for arm in c.arms:
                m = self._matches(arm.pattern, src.val)
                firsts.append((arm.points, z3.And(m, z3.Not(matched))))
                matched = z3.Or(matched, m)
            for p, first in reversed(firsts):
                got = z3.If(first, real(p), got)
            low = low + z3.If(src.known, got, real(min(pts)))
            high = high + z3.If(src.known, got, real(max(pts)))
            options = sorted({*pts, 0.0})
            nxt: dict[float, list[Any]] = {}
            for total, r in reach.items():
                for p in options:
                    allowed = z3.If(src.known, got == real(p), TRUE if p in pts else FALSE)
                    nxt.setdefault(total + p, []).append(z3.And(r, allowed))
            reach = {t: z3.simplify(z3.Or(*rs)) for t, rs in nxt.items()}
        single = z3.simplify(low == high)
        # band keys: the index of the first band matching a total (None: no band, or a
        # band without an action)
        keys: dict[Any, list[Any]] = {}
        for total, r in reach.items():
            k: int | None = None
            for i, b in enumerate(s.bands):
                if z3.is_true(z3.simplify(self._matches(b.pattern, real(total)))):
                    k = i if b.action is not None else None
                    break
            keys.setdefault(k, []).append(r)
        reached = {k: z3.Or(*rs) for k, rs in keys.items()}
        actions: list[tuple[n.Action, Any]] = []
        for k, r in reached.items():
            if k is None:
                continue
            others = [z3.Not(o) for kk, o in reached.items() if kk != k]
            action = s.bands[k].action
            assert action is not None
            actions.append((action, z3.And(r, *others)))
        several = z3.Or(*[z3.And(r1, r2) for k1, r1 in reached.items()
                          for k2, r2 in reached.items() if k1 is not None and k2 != k1]) \
            if len(reached) > 1 else FALSE
        out = V(single, low, "num", (z3.Not(single), low, high))
        return out, actions, several

    def score_value(self, nid: int, env: Env) -> V:
        return self._score(nid, env)[0]

    # ------------------------------------------------------------------ items
    def _mark_loops(self, items: Any) -> None:
        for item in items:
            if isinstance(item, n.For):
                for inner in item.items:
                    if isinstance(inner, n.Define | n.Score):
                        self.loop_items.add(inner.nid)
                self._mark_loops(item.items)

    def encode(self) -> Encoder:
        items = list(self.checked.program.items())
        self._mark_loops(items)
        self.block(items, Env({}), TRUE, "")
        for item in items:
            if isinstance(item, n.Invariant):
                self.invariants.append(
                    (item, self.expr(item.when, Env({})) if item.when is not None else None))
        return self

    def block(self, items: Any, env: Env, active: Any, path: str) -> None:
        for item in items:
            if isinstance(item, n.Score):
                _, actions, _pending = self._score(item.nid, env)
                for action, fires in actions:
                    self.emissions.append(Emission(action.code, action.kind, item.name, item,
                                                   z3.And(active, fires)))
            elif isinstance(item, n.Rule):
                self._collect.append([])
                parts = [self.expr(item.when, env)] if item.when is not None else []
                for u in item.unless:
                    x = self.expr(u, env)
                    parts.append(tri(x.f, x.t))
                vac = self._collect.pop()
                t = z3.And(*[p.t for p in parts]) if parts else TRUE
                f = z3.Or(*[p.f for p in parts]) if parts else FALSE
                fires = z3.And(active, t)
                ri = RuleInstance(item, path, active, fires,
                                  z3.And(active, z3.Not(t), z3.Not(f)), env.block,
                                  tuple(vac), env)
                self.rules.append(ri)
                for action in item.actions:
                    self.emissions.append(Emission(action.code, action.kind, item.rule_id,
                                                   item, fires))
            elif isinstance(item, n.For):
                src = self.expr(item.source, env)
                lst = src.val
                if not isinstance(lst, SymList):
                    raise Unsupported("a `for` over something that is not a list", item)
                for rule in _rules_in(item.items):  # the whole block is undetermined
                    self.rules.append(RuleInstance(rule, f"{lst.path}[*]", active, FALSE,
                                                   z3.And(active, z3.Not(src.known))))
                for i, elem in enumerate(lst.items):
                    inner = env.bind(item.var, elem, f"{lst.path}[{i}]", loop=True)
                    self.block(item.items, inner, z3.And(active, lst.active(i)),
                               f"{lst.path}[{i}]")

    # ------------------------------------------------------------------ outputs
    def fired(self, code: str) -> Any:
        """The code is output: recommended (any non-request kind) or requested."""
        return z3.Or(*[e.fires for e in self.emissions if e.code == code])

    def codes(self) -> list[str]:
        return list(dict.fromkeys(e.code for e in self.emissions))

    def requested_codes(self) -> set[str]:
        return {e.code for e in self.emissions if e.kind == "request"}

    def fired_kind(self, code: str, kinds: tuple[str, ...]) -> Any:
        return z3.Or(*[e.fires for e in self.emissions if e.code == code and e.kind in kinds])

    def rule_fires(self, rule: n.Rule) -> Any:
        return z3.Or(*[r.fires for r in self.rules if r.rule is rule])

    def rule_undetermined(self, rule: n.Rule) -> Any:
        return z3.Or(*[r.undetermined for r in self.rules if r.rule is rule])

    def rule_decided(self, rule: n.Rule) -> Any:
        return z3.Or(*[z3.And(r.active, z3.Not(r.undetermined)) for r in self.rules
                       if r.rule is rule and r.path[-3:] != "[*]"])

    def all_rules(self) -> list[n.Rule]:
        return list(dict.fromkeys(r.rule for r in self.rules))

    # ------------------------------------------------------------------ witnesses
    def witness(self, model: z3.ModelRef) -> tuple[dict[str, Any], datetime.date]:
        """The patient JSON and ``as_of`` a model describes (unknown facts left out)."""
        as_of = datetime.date.fromordinal(model.eval(self.as_of, model_completion=True)
                                          .as_long())
        return _record_json(self.patient, model), as_of


def _rules_in(items: Any) -> Iterator[n.Rule]:
    for item in items:
        if isinstance(item, n.Rule):
            yield item
        elif isinstance(item, n.For):
            yield from _rules_in(item.items)


def _index(member: enum.Enum) -> int:
    return list(type(member)).index(member)


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _op(op: str, a: Any, b: Any) -> Any:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    return a != b


def _is_true(model: z3.ModelRef, x: Any) -> bool:
    return bool(z3.is_true(model.eval(x, model_completion=True)))


def _scalar(model: z3.ModelRef, leaf: V, annotation: Any, t: ts.Type, info: ts.FieldInfo
            ) -> Any:
    x = leaf.val
    if leaf.kind == "bool":
        return _is_true(model, x)
    if leaf.kind == "enum":
        assert isinstance(t, ts.EnumT)
        return list(t.cls)[model.eval(x, model_completion=True).as_long()].value
    if leaf.kind == "str":
        return model.eval(x, model_completion=True).as_string()
    if leaf.kind == "date":
        return datetime.date.fromordinal(model.eval(x, model_completion=True).as_long()
                                         ).isoformat()
    factor = UNITS[info.unit][1] if info.unit in UNITS else 1.0
    v = model.eval(x, model_completion=True)
    fr = fractions.Fraction(v.as_fraction()) / fractions.Fraction(factor)
    if annotation is int or fr.denominator == 1:
        return int(fr)
    return float(fr)


def _record_json(rec: SymRecord, model: z3.ModelRef) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, leaf in rec.leaves.items():
        if _is_true(model, leaf.known):
            info = rec.fields[name]
            out[name] = _scalar(model, leaf, _inner(rec.hints[name]), info.type, info)
    for name, sub in rec.subs.items():
        if _is_true(model, sub.present):
            out[name] = _record_json(sub, model)
    for name, lst in rec.lists.items():
        if _is_true(model, lst.known):
            length = model.eval(lst.length, model_completion=True).as_long()
            items: list[Any] = []
            for item in lst.items[:length]:
                if isinstance(item.val, SymRecord):
                    items.append(_record_json(item.val, model))
                else:
                    info = ts.FieldInfo(name="", type=lst.elem)
                    items.append(_scalar(model, item, _annotation_of(lst.elem), lst.elem,
                                         info))
            out[name] = items
    return out


def pin(enc: Encoder, data: dict[str, Any], as_of: datetime.date) -> list[Any]:
    """Constraints that fix the symbolic patient to one concrete record (JSON, as
    ``dump_record`` writes it) and ``as_of``: the encoding's answers for that record can
    then be compared with the evaluator's (the differential tests do)."""
    out: list[Any] = [enc.as_of == as_of.toordinal()]
    _pin_record(enc.patient, data, out)
    return out


def _pin_value(leaf: V, t: ts.Type, info: ts.FieldInfo, value: Any, out: list[Any]) -> None:
    if value is None:
        out.append(z3.Not(leaf.known))
        return
    out.append(leaf.known)
    if leaf.kind == "bool":
        out.append(leaf.val == z3.BoolVal(bool(value)))
    elif leaf.kind == "enum":
        assert isinstance(t, ts.EnumT)
        members = [m.value for m in t.cls]
        out.append(leaf.val == members.index(value))
    elif leaf.kind == "str":
        out.append(leaf.val == z3.StringVal(value))
    elif leaf.kind == "date":
        out.append(leaf.val == datetime.date.fromisoformat(value).toordinal())
    else:
        factor = UNITS[info.unit][1] if info.unit in UNITS else 1.0
        out.append(leaf.val == real(float(value)) * real(factor) if factor != 1.0
                   else leaf.val == real(float(value)))


def _pin_record(rec: SymRecord, data: dict[str, Any], out: list[Any]) -> None:
    for name, leaf in rec.leaves.items():
        _pin_value(leaf, rec.fields[name].type, rec.fields[name], data.get(name), out)
    for name, sub in rec.subs.items():
        value = data.get(name)
        out.append(sub.present == z3.BoolVal(value is not None))
        _pin_record(sub, value or {}, out)
    for name, lst in rec.lists.items():
        value = data.get(name)
        if value is None:
            out.append(z3.Not(lst.known))
            continue
        if len(value) > len(lst.items):
            raise ValueError(f"{lst.path} has {len(value)} elements, more than max_list")
        out.extend([lst.known, lst.length == len(value)])
        for item, v in zip(lst.items, value, strict=False):
            if isinstance(item.val, SymRecord):
                _pin_record(item.val, v, out)
            else:
                _pin_value(item, lst.elem, ts.FieldInfo(name="", type=lst.elem), v, out)


def rule_parts(rule: n.Rule) -> list[tuple[n.Expr, bool]]:
    """A rule's conditions: each operand of a top-level `and` in `when`, each `unless`
    (``False``: the rule needs it false)."""
    out: list[tuple[n.Expr, bool]] = []
    if rule.when is not None:
        if isinstance(rule.when, n.BoolOp) and rule.when.op == "and":
            out += [(o, True) for o in rule.when.operands]
        else:
            out.append((rule.when, True))
    out += [(u, False) for u in rule.unless]
    return out
