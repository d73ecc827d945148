"""A plain reference interpreter: a direct tree walk of the AST, written from the
language reference alone, used to cross-check the compiled evaluators.

It shares nothing with ``spinerules.engine.compile``/``codegen`` except the checker's side tables
(which name a path refers to, and the type of each node).
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

from spinerules.checker import typesys as ts
from spinerules.checker.check import Checked, DefineRef, EnumRef, FieldRef, ScoreRef, VarRef
from spinerules.lang import nodes as n
from spinerules.lang.units import UNITS


class U:
    """Unknown (no paths: the reference only decides truth values)."""

    def __repr__(self) -> str:
        return "U"


UNKNOWN = U()


def _index(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return list(type(v)).index(v)
    return v


class Reference:
    def __init__(self, checked: Checked, record: Any, as_of: datetime.date) -> None:
        self.c = checked
        self.record = record
        self.as_of = as_of

    def ev(self, e: n.Expr, env: dict[str, Any]) -> Any:
        if isinstance(e, n.Number):
            return e.value * UNITS[e.unit][1] if e.unit else e.value
        if isinstance(e, n.Bool | n.String | n.Date):
            return e.value
        if isinstance(e, n.Today):
            return self.as_of
        if isinstance(e, n.Path):
            ref = self.c.refs[e.nid]
            if isinstance(ref, EnumRef):
                return ref.member
            if isinstance(ref, VarRef):
                return env[ref.name]
            if isinstance(ref, DefineRef):
                return self.ev(self.c.defines[ref.nid].expr, env)
            if isinstance(ref, ScoreRef):
                raise NotImplementedError
            assert isinstance(ref, FieldRef)
            obj = self.record if ref.root == "patient" else env[ref.root]
            for f in ref.fields:
                obj = getattr(obj, f)
                if obj is None:
                    return UNKNOWN
            t = self.c.types[e.nid]
            if isinstance(t, ts.QuantityT) and t.unit:
                return obj * UNITS[t.unit][1]
            return obj
        if isinstance(e, n.BoolOp):
            vals = [self.ev(o, env) for o in e.operands]
            if e.op == "and":
                if any(v is False for v in vals):
                    return False
                return UNKNOWN if any(v is UNKNOWN for v in vals) else True
            if any(v is True for v in vals):
                return True
            return UNKNOWN if any(v is UNKNOWN for v in vals) else False
        if isinstance(e, n.Not):
            v = self.ev(e.operand, env)
            return UNKNOWN if v is UNKNOWN else not v
        if isinstance(e, n.IsKnown):
            return (self.ev(e.operand, env) is not UNKNOWN) == e.known
        if isinstance(e, n.Compare):
            a, b = self.ev(e.left, env), self.ev(e.right, env)
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            a, b = _index(a), _index(b)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b,
                    "!=": a != b}[e.op]
        if isinstance(e, n.InRange):
            v, lo, hi = (self.ev(x, env) for x in (e.value, e.low, e.high))
            if UNKNOWN in (v, lo, hi):
                return UNKNOWN
            return _index(lo) <= _index(v) <= _index(hi)
        if isinstance(e, n.InSet):
            v = self.ev(e.value, env)
            if v is UNKNOWN:
                return UNKNOWN
            items = [self.ev(i, env) for i in e.items]
            if v in [i for i in items if i is not UNKNOWN]:
                return True
            return UNKNOWN if any(i is UNKNOWN for i in items) else False
        if isinstance(e, n.Arith):
            a, b = self.ev(e.left, env), self.ev(e.right, env)
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            if isinstance(a, datetime.date) and isinstance(b, datetime.date):
                return float((a - b).days)
            if isinstance(a, datetime.date):
                return a + datetime.timedelta(days=b if e.op == "+" else -b)
            if e.op == "/":
                if b == 0:
                    raise ZeroDivisionError
                return a / b
            return {"+": a + b, "-": a - b, "*": a * b}[e.op]
        if isinstance(e, n.Neg):
            v = self.ev(e.operand, env)
            return UNKNOWN if v is UNKNOWN else -v
        if isinstance(e, n.Quantifier):
            items = self.ev(e.source, env)
            if items is UNKNOWN:
                return UNKNOWN
            vals = [True if e.condition is None else self.ev(e.condition, {**env, e.var: x})
                    for x in items]
            if e.kind == "any":
                if True in vals:
                    return True
                return UNKNOWN if UNKNOWN in vals else False
            if e.kind == "all":
                if False in vals:
                    return False
                return UNKNOWN if UNKNOWN in vals else True
            return UNKNOWN if UNKNOWN in vals else float(sum(v is True for v in vals))
        raise AssertionError(e)
