"""The fast path: a checked guideline compiled to one Python function (jinja's way).

The function takes ``(record, as_of, budget)`` and returns the set of codes emitted. It is
built as a Python ``ast`` tree, never as text: every value from the guideline is an
``ast.Constant`` or an entry of a constants table, every name is generated here, and field
names are the record's own attribute names (already checked against the schema), so no
guideline text can become code. For the fast path, unknown is one sentinel (``_U``) with
no paths: a rule fires only when its condition is exactly true.

Example:
    >>> import datetime, spinerules
    >>> g = spinerules.load("vcf")
    >>> "genant_grade_1" in g.codes({"fractures": [{"level": "L1", "height_loss_pct": 22}]},
    ...                             as_of=datetime.date(2026, 2, 18))
    True
"""

from __future__ import annotations

import ast
import datetime
import enum
import itertools
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from spinerules.checker import typesys as ts
from spinerules.checker.check import Checked, DefineRef, EnumRef, FieldRef, ScoreRef, VarRef
from spinerules.engine.compile import (
    BudgetExceededError,
    Compiler,
    EvaluationError,
    Work,
    shift_date,
    subtree,
)
from spinerules.engine.values import (
    COMPARE,
    FLIP,
    UNDECIDED,
    SumBands,
    Unknown,
    between_in,
    decide_between,
)
from spinerules.lang import nodes as n
from spinerules.lang.units import UNITS
from spinerules.records.loader import json_check_lines

#: unknown, in generated code: one marker, compared by identity. It is an ``Unknown`` (with
#: no facts) so that values computed for a trace can be shown as they are.
_U = Unknown()

FastFn = Callable[[Any, datetime.date, int], set[str]]
#: (record, as_of, budget, limit, steps) -> the codes, or None when the JSON is refused
#: (or its budget count is not known within ``steps``)
JsonFastFn = Callable[[Any, datetime.date, int, int, int], set[str] | None]


def _counted(values: Iterable[Any], steps: list[int], budget: int, n: int
             ) -> Iterable[Any]:
    """``values``, once a quantifier's ``n`` elements are counted at once (those it may not
    reach too: the count is a backstop, ``compile.Work`` counted the record's lists
    before; code that ran only after that count counts none: ``Generator.counted``)."""
    steps[0] += n
    if steps[0] > budget:
        raise BudgetExceededError(steps[0])
    return values


def _kleene(values: Iterable[Any], decisive: bool) -> Any:
    """Kleene `any` (``decisive`` True) or `all` (False) over values, stopping at the
    first deciding one."""
    unknown = False
    for v in values:
        if v is decisive:
            return decisive
        if v is _U:
            unknown = True
    return _U if unknown else not decisive


def _kcount(values: Iterable[Any]) -> Any:
    """Kleene `count`: the number of true values, unknown if any value is."""
    total = 0
    unknown = False
    for v in values:
        if v is True:
            total += 1
        elif v is _U:
            unknown = True
    return _U if unknown else float(total)


def _div(a: float, b: float, node: n.Node) -> float:
    if b == 0:
        raise EvaluationError("division by zero", node)
    return a / b


def _sum_score(sums: SumBands, points: list[float | None]
               ) -> tuple[Any, str | None, tuple[float, float] | None]:
    """A sum score from its components' possible points -> (value or _U, the decided
    band's code, the range of the totals when undetermined); see ``values.SumBands``."""
    value, low, high, code, _ = sums.decide(points)
    if value is None:
        return _U, (None if code is UNDECIDED else code), (low, high)
    return value, code, None


def _bcmp(a: Any, ar: tuple[float, float] | None, b: Any, br: tuple[float, float] | None,
          op: str) -> Any:
    """A comparison where a side is a score: an undetermined score decides it when the
    whole range of its totals gives one answer (as ``values.decide_between``)."""
    if a is _U or b is _U:
        decided = None
        if a is _U and ar is not None and b is not _U:
            decided = decide_between(op, ar[0], ar[1], b)
        elif b is _U and br is not None and a is not _U:
            decided = decide_between(FLIP[op], br[0], br[1], a)
        return _U if decided is None else decided
    return COMPARE[op](a, b)


def _bin(v: Any, vr: tuple[float, float] | None, lo: Any, hi: Any) -> Any:
    """``score in lo..hi`` with the same rule."""
    if lo is _U or hi is _U:
        return _U
    if v is _U:
        decided = between_in(vr[0], vr[1], lo, hi) if vr is not None else None
        return _U if decided is None else decided
    return bool(lo <= v <= hi)


def _shift(day: datetime.date, sign: int, days: float, node: n.Node) -> datetime.date:
    return shift_date(day, sign * days, node)


def _located(tree: ast.Module) -> ast.Module:
    """``tree`` with every node at line 1, column 0, as ``ast.fix_missing_locations`` would
    place nodes built without a position (in a fraction of its time: a guideline's
    functions have tens of thousands of nodes)."""
    stack: list[Any] = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    node_type = ast.AST
    while stack:
        x = pop()
        if x._attributes:
            x.lineno = x.end_lineno = 1
            x.col_offset = x.end_col_offset = 0
        for f in x._fields:
            v = getattr(x, f, None)
            if type(v) is list:
                extend([i for i in v if isinstance(i, node_type)])
            elif isinstance(v, node_type):
                push(v)
    return tree


def _name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def _store(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Store())


def _lambda(params: list[str], body: ast.expr) -> ast.Lambda:
    """``lambda params: body`` (a walrus in ``body`` binds in the lambda's scope)."""
    return ast.Lambda(args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params],
                                         kwonlyargs=[], kw_defaults=[], defaults=[]),
                      body=body)


def _own_parts(stmt: ast.stmt) -> tuple[list[ast.AST], list[ast.stmt]]:
    """A statement's own expressions (and other non-statement parts), and the
    statements nested in it (bodies, branches, handlers' bodies)."""
    own: list[ast.AST] = []
    nested: list[ast.stmt] = []
    for _, value in ast.iter_fields(stmt):
        for part in value if isinstance(value, list) else [value]:
            if isinstance(part, ast.stmt):
                nested.append(part)
            elif isinstance(part, ast.ExceptHandler):
                if part.type is not None:
                    own.append(part.type)
                nested.extend(part.body)
            elif isinstance(part, ast.AST):
                own.append(part)
    return own, nested


def _share_temporaries(body: list[ast.stmt]) -> None:
    """Rename each temporary (``_t...``) that one statement alone uses to one of a few
    names the statements share (``_u0``, ``_u1``, ...: distinct within a statement).

    A generated function holds every temporary of every expression as a local of its own,
    and CPython makes a call's frame with all of them: over about 2,000 locals the frame
    no longer fits in the thread's stack of frames, and each call allocates memory for it
    from the system and frees it (about 10 us a call). A temporary used by one statement
    is dead once it ends, so the statements can share their names."""
    owner: dict[str, ast.stmt | None] = {}  # a temporary -> its one statement, or None
    units: list[tuple[ast.stmt, list[tuple[ast.Name, str]]]] = []
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        own, nested = _own_parts(stmt)
        names = [(node, node.id) for part in own for node in ast.walk(part)
                 if isinstance(node, ast.Name) and node.id.startswith("_t")]
        for _, name in names:
            if owner.setdefault(name, stmt) is not stmt:
                owner[name] = None
        units.append((stmt, names))
        stack.extend(reversed(nested))
    # the shared names: none that the function already uses (``_r``, say, is a score's)
    taken = {node.id for stmt in body for node in ast.walk(stmt) if isinstance(node, ast.Name)}
    shared = [f"_u{i}" for i in range(len(owner) + len(taken)) if f"_u{i}" not in taken]
    for stmt, names in units:
        renamed: dict[str, str] = {}
        for node, name in names:
            if owner[name] is stmt:
                node.id = renamed.setdefault(name, shared[len(renamed)])


def _is(a: ast.expr, b: ast.expr) -> ast.Compare:
    return ast.Compare(left=a, ops=[ast.Is()], comparators=[b])


def _ifexp(test: ast.expr, body: ast.expr, orelse: ast.expr) -> ast.IfExp:
    return ast.IfExp(test=test, body=body, orelse=orelse)


def _walrus(id_: str, value: ast.expr) -> ast.NamedExpr:
    return ast.NamedExpr(target=_store(id_), value=value)


U = _name("_U")
TRUE, FALSE = ast.Constant(True), ast.Constant(False)

_CMP = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE, "==": ast.Eq, "!=": ast.NotEq}


class Generator:
    """Builds the module AST of one guideline's fast function."""

    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.consts: dict[str, Any] = {}
        self.counter = itertools.count()
        self.vars: dict[str, str] = {}  # guideline loop variable -> python local
        self.defines: dict[int, str] = {}  # define nid -> local holding its value
        self.scores: dict[int, str] = {}
        self.bounds: dict[int, str] = {}  # score nid -> local holding (low, high) or None
        # each patient field read once, at the top of the function (as by hand): its local
        # by (fields, unit factor), and the statements that set them
        self.fields: dict[tuple[tuple[str, ...], float | None], str] = {}
        self.reads: list[ast.stmt] = []
        #: score nid -> the locals holding its inputs once computed (a table score's
        #: source, or each component of a sum), for subclasses that report them
        self.score_inputs: dict[int, list[str]] = {}
        #: a `for` loop's element (its python local) -> the fields of it the loop's body
        #: reads, each read once per element into a local, and the statements that do
        self.element_reads: dict[str, tuple[dict[Any, str], list[ast.stmt]]] = {}

    def fresh(self, prefix: str = "_t") -> str:
        return f"{prefix}{next(self.counter)}"

    def const(self, value: Any) -> ast.expr:
        if isinstance(value, bool | int | float | str) or value is None:
            return ast.Constant(value)
        key = self.fresh("_c")
        self.consts[key] = value
        return _name(key)

    def type_of(self, e: n.Expr) -> ts.Type:
        return self.checked.types.get(e.nid, ts.ERROR)

    # ------------------------------------------------------------------ expressions
    def expr(self, e: n.Expr) -> ast.expr:
        if isinstance(e, n.Number):
            return ast.Constant(e.value * UNITS[e.unit][1] if e.unit else e.value)
        if isinstance(e, n.Bool | n.String):
            return ast.Constant(e.value)
        if isinstance(e, n.Date):
            return self.const(e.value)
        if isinstance(e, n.Today):
            return _name("as_of")
        if isinstance(e, n.Path):
            return self.path(e)
        if isinstance(e, n.BoolOp):
            return self.boolop(e.op, [self.expr(o) for o in e.operands])
        if isinstance(e, n.Not):
            t = self.fresh()
            return _ifexp(_is(_walrus(t, self.expr(e.operand)), U), U,
                          ast.UnaryOp(op=ast.Not(), operand=_name(t)))
        if isinstance(e, n.IsKnown):
            op: ast.cmpop = ast.IsNot() if e.known else ast.Is()
            return ast.Compare(left=self.expr(e.operand), ops=[op], comparators=[U])
        if isinstance(e, n.Compare) and self.score_bounds(e.left) and self._constant(e.right):
            # the usual `score >= 3`: inline when the score is known, the range otherwise
            t, bound = self.fresh(), self.expr(e.right)
            return _ifexp(_is(_walrus(t, self.expr(e.left)), U), ast.Call(
                func=_name("_bcmp"), args=[_name(t), self.bounds_expr(e.left), bound,
                                           ast.Constant(None), ast.Constant(e.op)],
                keywords=[]), ast.Compare(left=_name(t), ops=[_CMP[e.op]()],
                                          comparators=[bound]))
        if isinstance(e, n.Compare) and (self.score_bounds(e.left) or self.score_bounds(e.right)):
            return ast.Call(func=_name("_bcmp"), args=[
                self.expr(e.left), self.bounds_expr(e.left), self.expr(e.right),
                self.bounds_expr(e.right), ast.Constant(e.op)], keywords=[])
        if isinstance(e, n.InRange) and self.score_bounds(e.value):
            return ast.Call(func=_name("_bin"), args=[
                self.expr(e.value), self.bounds_expr(e.value), self.expr(e.low),
                self.expr(e.high)], keywords=[])
        if isinstance(e, n.Compare):
            key = self.key(self.type_of(e.left)) if e.op not in ("==", "!=") else None
            return self.binary([e.left, e.right], lambda a, b: ast.Compare(
                left=key(a) if key else a, ops=[_CMP[e.op]()],
                comparators=[key(b) if key else b]))
        if isinstance(e, n.InRange):
            key = self.key(self.type_of(e.value))
            return self.binary([e.value, e.low, e.high], lambda v, lo, hi: ast.Compare(
                left=key(lo) if key else lo, ops=[ast.LtE(), ast.LtE()],
                comparators=[key(v) if key else v, key(hi) if key else hi]))
        if isinstance(e, n.InSet):
            items = [self.expr(i) for i in e.items]
            t = self.fresh()
            # Kleene `or` of equalities: an unknown item only matters if nothing matched
            eqs = [ast.Compare(left=_name(t), ops=[ast.Eq()], comparators=[i]) for i in items]
            unknown_items = [i for i in e.items if not self._constant(i)]
            inner: ast.expr
            if unknown_items:
                inner = self.boolop("or", [
                    self._unknown_guard(i_ast, eq)
                    for i_ast, eq in zip(items, eqs, strict=True)])
            else:
                inner = ast.Compare(left=_name(t), ops=[ast.In()],
                                    comparators=[ast.Tuple(elts=items, ctx=ast.Load())])
            return _ifexp(_is(_walrus(t, self.expr(e.value)), U), U, inner)
        if isinstance(e, n.Arith):
            return self.arith(e)
        if isinstance(e, n.Neg):
            t = self.fresh()
            return _ifexp(_is(_walrus(t, self.expr(e.operand)), U), U,
                          ast.UnaryOp(op=ast.USub(), operand=_name(t)))
        if isinstance(e, n.Quantifier):
            return self.quantifier(e)
        raise AssertionError(f"cannot generate {e!r}")  # pragma: no cover

    def _constant(self, e: n.Expr) -> bool:
        return isinstance(e, n.Number | n.Bool | n.String | n.Date) or isinstance(
            self.checked.refs.get(e.nid), EnumRef)

    def _unknown_guard(self, item: ast.expr, eq: ast.Compare) -> ast.expr:
        t = self.fresh()
        eq.comparators = [_name(t)]
        return _ifexp(_is(_walrus(t, item), U), U, eq)

    def key(self, t: ts.Type) -> Callable[[ast.expr], ast.expr] | None:
        """The position of an ordered enumeration's member, for comparisons: a constant
        for a member named in the guideline; else looked up by the member's text value
        (a string's hash is cached, an ``Enum``'s is a Python call)."""
        if isinstance(t, ts.EnumT) and t.ordered:
            members = list(t.cls)
            position = {m: i for i, m in enumerate(members)}
            by_value = all(type(m.value) is str for m in members)
            index = self.const({m.value: i for i, m in enumerate(members)} if by_value
                               else position)

            def key(x: ast.expr) -> ast.expr:
                member = self.consts.get(x.id) if isinstance(x, ast.Name) else None
                if isinstance(member, enum.Enum) and member in position:
                    return ast.Constant(position[member])
                if by_value:
                    x = ast.Attribute(value=x, attr="_value_", ctx=ast.Load())
                return ast.Subscript(value=index, slice=x, ctx=ast.Load())
            return key
        return None

    def score_bounds(self, e: n.Expr) -> str | None:
        """The local holding the range of the score ``e`` stands for (directly or through
        defines), if it is one: an undetermined score still decides some comparisons."""
        ref = self.checked.refs.get(e.nid) if isinstance(e, n.Path) else None
        if isinstance(ref, ScoreRef):
            return self.bounds.get(ref.nid)
        if isinstance(ref, DefineRef):
            return self.score_bounds(self.checked.defines[ref.nid].expr)
        return None

    def bounds_expr(self, e: n.Expr) -> ast.expr:
        name = self.score_bounds(e)
        return _name(name) if name is not None else ast.Constant(None)

    def binary(self, parts: list[n.Expr], build: Callable[..., ast.expr]) -> ast.expr:
        """``_U if any part is unknown else build(parts)``; constants need no check."""
        names: list[ast.expr] = []
        checks: list[ast.expr] = []
        for p in parts:
            code = self.expr(p)
            if self._constant(p):
                names.append(code)
                continue
            t = self.fresh()
            checks.append(_is(_walrus(t, code), U))
            names.append(_name(t))
        body = build(*names)
        if not checks:
            return body
        test = checks[0] if len(checks) == 1 else ast.BoolOp(op=ast.Or(), values=checks)
        return _ifexp(test, U, body)

    def boolop(self, op: str, parts: list[ast.expr]) -> ast.expr:
        """Kleene and/or with short-circuit on the deciding value."""
        decide = FALSE if op == "and" else TRUE
        temps = [self.fresh() for _ in parts]
        # build from the right: if part is decisive -> decisive, else continue
        tail: ast.expr = _ifexp(
            ast.BoolOp(op=ast.Or(), values=[_is(_name(t), U) for t in temps])
            if len(temps) > 1 else _is(_name(temps[0]), U),
            U, ast.Constant(op == "and"))
        for t, p in reversed(list(zip(temps, parts, strict=True))):
            tail = _ifexp(_is(_walrus(t, p), decide), decide, tail)
        return tail

    def arith(self, e: n.Arith) -> ast.expr:
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        node = self.const(e)
        if e.op == "-" and isinstance(lt, ts.DateT) and isinstance(rt, ts.DateT):
            def build(a: ast.expr, b: ast.expr) -> ast.expr:
                diff = ast.BinOp(left=a, op=ast.Sub(), right=b)
                return ast.Call(func=_name("float"), args=[
                    ast.Attribute(value=diff, attr="days", ctx=ast.Load())], keywords=[])
        elif isinstance(lt, ts.DateT):
            sign = 1 if e.op == "+" else -1

            def build(a: ast.expr, b: ast.expr) -> ast.expr:
                return ast.Call(func=_name("_shift"), args=[a, ast.Constant(sign), b, node],
                                keywords=[])
        elif e.op == "/":
            def build(a: ast.expr, b: ast.expr) -> ast.expr:
                return ast.Call(func=_name("_div"), args=[a, b, node], keywords=[])
        else:
            op = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult}[e.op]()

            def build(a: ast.expr, b: ast.expr) -> ast.expr:
                return ast.BinOp(left=a, op=op, right=b)
        return self.binary([e.left, e.right], build)

    def quantifier(self, e: n.Quantifier) -> ast.expr:
        source = self.expr(e.source)
        local = self.fresh("_v")
        saved = self.vars.get(e.var)
        self.vars[e.var] = local
        self.element_of(local, source)
        cond = self.expr(e.condition) if e.condition is not None else TRUE
        if saved is None:
            del self.vars[e.var]
        else:
            self.vars[e.var] = saved
        # each element's condition in a lambda, not a generator expression: a walrus in a
        # comprehension binds in the enclosing function, where every temporary of every
        # quantifier would become a cell made on each call (hundreds in a large guideline);
        # in a lambda they are the lambda's own locals
        items = self.fresh()
        gen = ast.Call(func=_name("map"), args=[_lambda([local], cond), _name(items)],
                       keywords=[])
        if not self.counted:
            gen = ast.Call(func=_name("_counted"), args=[
                gen, _name("_steps"), _name("budget"),
                ast.Call(func=_name("len"), args=[_name(items)], keywords=[])], keywords=[])
        args: list[ast.expr] = [gen]
        if e.kind != "count":
            args.append(ast.Constant(e.kind == "any"))  # (the deciding value)
        call = ast.Call(func=_name("_kcount" if e.kind == "count" else "_kleene"), args=args,
                        keywords=[])
        return _ifexp(_is(_walrus(items, source), U), U, call)

    def path(self, e: n.Path) -> ast.expr:
        ref = self.checked.refs.get(e.nid)
        if isinstance(ref, EnumRef):
            return self.const(ref.member)
        if isinstance(ref, DefineRef):
            return _name(self.defines[ref.nid])
        if isinstance(ref, ScoreRef):
            return _name(self.scores[ref.nid])
        if isinstance(ref, VarRef):
            return _name(self.vars[ref.name])
        assert isinstance(ref, FieldRef)
        base: ast.expr = _name("record") if ref.root == "patient" else _name(self.vars[ref.root])
        t = self.type_of(e)
        factor = UNITS[t.unit][1] if isinstance(t, ts.QuantityT) and t.unit in UNITS else None
        if not ref.fields:
            return base
        if ref.root == "patient":  # the record's fields do not change: read each once
            key = (tuple(ref.fields), factor)
            if key not in self.fields:
                local = self.fields[key] = self.fresh("_f")
                self.reads.append(ast.Assign(targets=[_store(local)],
                                             value=self.field(base, ref.fields, factor)))
            return _name(self.fields[key])
        return self.element_read(ref.root, (tuple(ref.fields), factor),
                                 lambda: self.field(base, ref.fields, factor))

    def element_read(self, root: str, key: Any, read: Callable[[], ast.expr]) -> ast.expr:
        """A field of loop variable ``root``: for a `for` loop's element, a local read
        once per element at the top of the loop's body (``loop_body``); else ``read()``
        where it is used (a quantifier's element)."""
        cache = self.element_reads.get(self.vars[root])
        if cache is None:
            return read()
        known, statements = cache
        if key not in known:
            local = known[key] = self.fresh("_e")
            statements.append(ast.Assign(targets=[_store(local)], value=read()))
        return _name(known[key])

    def element_of(self, var: str, source: ast.expr) -> None:
        """The local ``var`` holds each element of the list ``source`` in turn (a loop's or
        a quantifier's; for ``JsonGenerator``'s rows)."""

    def loop_body(self, var: str, make: Callable[[], list[ast.stmt]]) -> list[ast.stmt]:
        """``make()``, the body of a `for` loop whose element is the local ``var``, after
        the reads of the element's fields it uses (each once, ``element_read``)."""
        reads: list[ast.stmt] = []
        self.element_reads[var] = ({}, reads)
        try:
            body = make()
        finally:
            del self.element_reads[var]
        return reads + body

    def field(self, base: ast.expr, fields: Iterable[str], factor: float | None) -> ast.expr:
        """``base.a.b`` (times the unit factor), or ``_U`` if any step is None."""
        tmp = self.fresh()
        checks: list[ast.expr] = []
        current = base
        for f in fields:
            checks.append(_is(_walrus(tmp, ast.Attribute(value=current, attr=f,
                                                         ctx=ast.Load())), ast.Constant(None)))
            current = _name(tmp)
        value: ast.expr = _name(tmp)
        if factor is not None and factor != 1.0:
            value = ast.BinOp(left=value, op=ast.Mult(), right=ast.Constant(factor))
        test = checks[0] if len(checks) == 1 else ast.BoolOp(op=ast.Or(), values=checks)
        return _ifexp(test, U, value)

    # ------------------------------------------------------------------ statements
    def block(self, block_items: Iterable[n.Item], block: int = 0,
              index: ast.expr | None = None) -> Iterator[ast.stmt]:
        """A block's statements; ``block`` names it (0, or its `for`'s id) and ``index``
        holds its loop element's position (for ``ValuesGenerator``'s snapshots)."""
        items = list(block_items)
        yield from self.named(items)
        yield from self.defined(block, index or ast.Constant(0))
        for item in items:
            if isinstance(item, n.Rule):
                yield from self.rule(item)
            elif isinstance(item, n.For):
                yield from self.loop(item)

    def named(self, items: list[n.Item]) -> Iterator[ast.stmt]:
        """A block's defines and scores, in an order where each follows what it uses."""
        for named in self.ordered(items):
            if isinstance(named, n.Define):
                yield from self.set_define(named)
            else:
                yield from self.score(named)

    def set_define(self, d: n.Define) -> Iterator[ast.stmt]:
        yield ast.Assign(targets=[_store(self.defines[d.nid])], value=self.expr(d.expr))

    def ordered(self, items: list[n.Item]) -> list[n.Define | n.Score]:
        pending = [i for i in items if isinstance(i, n.Define | n.Score)]
        for i in pending:
            if isinstance(i, n.Define):
                self.defines[i.nid] = self.fresh("_d")
            else:
                self.scores[i.nid] = self.fresh("_s")
                self.bounds[i.nid] = self.fresh("_r")
        local = {i.nid for i in pending}
        deps = {i.nid: self.uses(i) & local for i in pending}
        done: set[int] = set()
        out: list[n.Define | n.Score] = []
        while pending:
            ready = [i for i in pending if deps[i.nid] <= done]
            if not ready:  # pragma: no cover - the checker rejects cycles
                ready = pending[:1]
            for i in ready:
                out.append(i)
                done.add(i.nid)
                pending.remove(i)
        return out

    def uses(self, item: n.Node) -> set[int]:
        found: set[int] = set()
        stack: list[Any] = [item]
        while stack:
            x = stack.pop()
            if isinstance(x, n.Path):
                ref = self.checked.refs.get(x.nid)
                if isinstance(ref, DefineRef | ScoreRef):
                    found.add(ref.nid)
            elif isinstance(x, n.Node):
                for f in attrs.fields(type(x)):
                    if f.name not in ("nid", "span"):
                        stack.append(getattr(x, f.name))
            elif isinstance(x, tuple):
                stack.extend(x)
        return found

    def condition(self, r: n.Rule) -> ast.expr:
        """A rule's condition, Kleene: its `when` and not each `unless`."""
        parts = [self.expr(r.when)] if r.when is not None else []
        for u in r.unless:
            t = self.fresh()
            parts.append(_ifexp(_is(_walrus(t, self.expr(u)), U), U,
                                ast.UnaryOp(op=ast.Not(), operand=_name(t))))
        return TRUE if not parts else parts[0] if len(parts) == 1 \
            else self.boolop("and", parts)

    def add_codes(self, codes: list[str]) -> ast.stmt:
        if len(codes) == 1:
            return ast.Expr(ast.Call(func=ast.Attribute(value=_name("codes"), attr="add",
                                                        ctx=ast.Load()),
                                     args=[ast.Constant(codes[0])], keywords=[]))
        return ast.Expr(ast.Call(func=ast.Attribute(value=_name("codes"), attr="update",
                                                    ctx=ast.Load()),
                                 args=[ast.Tuple(elts=[ast.Constant(c) for c in codes],
                                                 ctx=ast.Load())], keywords=[]))

    def truth(self, e: n.Expr, want: bool) -> ast.expr:
        """A test that holds exactly when ``e``'s (Kleene) value is ``want``: a rule only
        asks whether its condition is true, so `and`/`or`/`not` need no unknowns kept.
        (`a and b` is true when both are true, false when either is false; dually for
        `or`; `not a` is true when `a` is false.)"""
        if isinstance(e, n.BoolOp):
            every = (e.op == "and") == want
            return ast.BoolOp(op=ast.And() if every else ast.Or(),
                              values=[self.truth(o, want) for o in e.operands])
        if isinstance(e, n.Not):
            return self.truth(e.operand, not want)
        return _is(self.expr(e), TRUE if want else FALSE)

    def rule(self, r: n.Rule) -> Iterator[ast.stmt]:
        codes = [a.code for a in r.actions if a.kind != "request"]
        if not codes:
            return
        tests = []
        if r.when is not None:
            tests.append(self.truth(r.when, True))
        tests += [self.truth(u, False) for u in r.unless]
        test = tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests) \
            if tests else TRUE
        yield ast.If(test=test, body=[self.add_codes(codes)], orelse=[])

    def defined(self, block: int, index: ast.expr) -> Iterator[ast.stmt]:
        """Statements once a block's defines and scores are set (none here)."""
        yield from ()

    def loop(self, loop: n.For) -> Iterator[ast.stmt]:
        items, var, i = self.fresh(), self.fresh("_v"), self.fresh("_i")
        source = self.expr(loop.source)
        self.vars[loop.var] = var
        self.element_of(var, source)
        body = self.loop_body(var, lambda: list(self.block(loop.items, loop.nid, _name(i))))
        del self.vars[loop.var]
        target = ast.Tuple(elts=[_store(i), _store(var)], ctx=ast.Store())
        enumerated = ast.Call(func=_name("enumerate"), args=[_name(items)], keywords=[])
        yield ast.Assign(targets=[_store(items)], value=source)
        yield ast.If(test=ast.Compare(left=_name(items), ops=[ast.IsNot()], comparators=[U]),
                     body=[ast.For(target=target, iter=enumerated,
                                   body=[*self.step(), *(body or [ast.Pass()])], orelse=[])],
                     orelse=[])

    #: the generated code runs only once ``compile.Work`` counted its steps within the
    #: budget: loops and quantifiers count none (else they count each element, a backstop)
    counted = False

    def step(self) -> list[ast.stmt]:
        """A loop's count of one step for each element (none when ``counted``)."""
        if self.counted:
            return []
        return ast.parse("_steps[0] += 1\nif _steps[0] > budget: _budget(_steps[0])").body

    def matcher(self, p: n.Pattern, t: ts.Type, x: ast.expr) -> ast.expr:
        key = self.key(t)
        vals = [self.expr(v) for v in p.values]
        k: Callable[[ast.expr], ast.expr] = key or (lambda a: a)
        if p.kind == "else":
            return TRUE
        if p.kind == "eq":
            return ast.Compare(left=x, ops=[ast.Eq()], comparators=[vals[0]])
        if p.kind == "set":
            return ast.Compare(left=x, ops=[ast.In()],
                               comparators=[ast.Tuple(elts=vals, ctx=ast.Load())])
        if p.kind == "range":
            return ast.Compare(left=k(vals[0]), ops=[ast.LtE(), ast.LtE()],
                               comparators=[k(x), k(vals[1])])
        return ast.Compare(left=k(x), ops=[_CMP[p.op or "=="]()], comparators=[k(vals[0])])

    def score(self, s: n.Score) -> Iterator[ast.stmt]:
        out, rng = self.scores[s.nid], self.bounds[s.nid]
        if s.source is not None:
            t = self.type_of(s.source)
            x = self.fresh()
            self.score_inputs[s.nid] = [x]
            yield ast.Assign(targets=[_store(x)], value=self.expr(s.source))
            points = [a.points for a in s.arms]
            whole: ast.expr = ast.Tuple(
                elts=[ast.Constant(min(points)), ast.Constant(max(points))],
                ctx=ast.Load()) if points else ast.Constant(None)
            yield ast.Assign(targets=[_store(rng)], value=_ifexp(
                _is(_name(x), U), whole, ast.Constant(None)))
            chain: list[ast.stmt] = [ast.Assign(targets=[_store(out)], value=U)]
            for arm in reversed(s.arms):
                body: list[ast.stmt] = [ast.Assign(targets=[_store(out)],
                                                   value=ast.Constant(arm.points))]
                if arm.action is not None:
                    body.append(self.add_codes([arm.action.code]))
                chain = [ast.If(test=self.matcher(arm.pattern, t, _name(x)), body=body,
                                orelse=chain)]
            yield ast.If(test=_is(_name(x), U), body=[ast.Assign(targets=[_store(out)],
                                                                  value=U)], orelse=chain)
            return
        options: list[ast.expr] = []  # per component: its points, None when unknown
        inputs = self.score_inputs[s.nid] = []
        for comp in s.components:
            t = self.type_of(comp.source)
            x = self.fresh()
            inputs.append(x)
            pick: ast.expr = ast.Constant(0.0)
            for arm in reversed(comp.arms):
                pick = _ifexp(self.matcher(arm.pattern, t, _name(x)),
                              ast.Constant(arm.points), pick)
            options.append(_ifexp(_is(_walrus(x, self.expr(comp.source)), U),
                                  ast.Constant(None), pick))
        matcher = Compiler(self.checked).matcher
        sums = SumBands([tuple(a.points for a in comp.arms) for comp in s.components],
                        [matcher(b.pattern, ts.NUMBER) for b in s.bands],
                        [b.action.code if b.action else None for b in s.bands])
        band_code = self.fresh()
        yield ast.Assign(
            targets=[ast.Tuple(elts=[_store(out), _store(band_code), _store(rng)],
                               ctx=ast.Store())],
            value=ast.Call(func=_name("_sum_score"), args=[
                self.const(sums), ast.List(elts=options, ctx=ast.Load())], keywords=[]))
        yield ast.If(test=ast.Compare(left=_name(band_code), ops=[ast.IsNot()],
                                      comparators=[ast.Constant(None)]),
                     body=[ast.Expr(ast.Call(func=ast.Attribute(
                         value=_name("codes"), attr="add", ctx=ast.Load()),
                         args=[_name(band_code)], keywords=[]))], orelse=[])

    #: the generated function's name, its first statements and the local it returns
    FUNCTION, SETUP, RESULT = "_fast", "codes = set()\n_steps = [0]", "codes"

    ARGS: tuple[str, ...] = ("record", "as_of", "budget")

    def check_first(self) -> list[ast.stmt]:
        """Statements that check the record first (none: an attrs record is checked)."""
        return []

    def finish(self, body: list[ast.stmt]) -> None:
        """The function's body once made, before its check (nothing to do here)."""

    def module(self) -> ast.Module:
        body = list(self.block(self.checked.program.items()))
        self.finish(body)
        prologue = [*ast.parse(self.SETUP).body, *self.check_first(), *self.reads]
        fn = ast.FunctionDef(
            name=self.FUNCTION, args=ast.arguments(
                posonlyargs=[], args=[ast.arg(arg=a) for a in self.ARGS],
                kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=[*prologue, *body, ast.Return(_name(self.RESULT))], decorator_list=[],
            returns=None)
        if sys.version_info >= (3, 12):  # pragma: no cover - depends on the interpreter
            fn.type_params = []
        _share_temporaries(fn.body)
        return _located(ast.Module(body=[fn], type_ignores=[]))


class DecisionsGenerator(Generator):
    """The base of the generated functions that decide rules for a result or a trace
    (``outcomes.OutcomeGenerator`` and its subclasses): a condition read strictly too (a
    rule in ``always`` uses the idiom `known x and x`; each `known x` of ``strict`` is
    unknown while `x` is, and a define that reads one gets a second, strict local), and
    the values of a fired rule's atoms (its `because`), each computed once.
    """

    def __init__(self, checked: Checked, always: frozenset[int],
                 atoms: dict[int, list[n.Expr]], strict: frozenset[int]) -> None:
        super().__init__(checked)
        self.always = always
        self.atoms = atoms  # rule node id -> the nodes its `because` shows
        self.strict = strict  # the `known x` tests read strictly (``compile.absence_tests``)
        self.reading_strictly = False
        self.strict_defines: dict[int, str] = {}  # define nid -> local of its strict value
        self._has_strict: dict[int, bool] = {}
        #: a define's expression node id -> the define's nid, once its value is set (a
        #: `because` often shows a define and its expression: the value is not computed
        #: twice)
        self.bodies: dict[int, int] = {}
        #: while a fired rule's `because` values are made: the nodes whose value its
        #: firing fixes (``fixed_by``)
        self.fixed: dict[int, bool] = {}
        #: nodes whose (plain) value a local already holds (``outcomes.ValuesGenerator``)
        self.known: dict[int, str] = {}

    def set_define(self, d: n.Define) -> Iterator[ast.stmt]:
        yield from super().set_define(d)
        if self.has_strict(d.nid):  # its strict value too, for the rules that read it so
            self.reading_strictly = True
            try:
                value = self.expr(d.expr)
            finally:
                self.reading_strictly = False
            local = self.strict_defines[d.nid] = self.fresh("_ds")
            yield ast.Assign(targets=[_store(local)], value=value)
        self.bodies[d.expr.nid] = d.nid

    def has_strict(self, nid: int) -> bool:
        """Whether define ``nid`` reads a strict test (itself or through other defines)."""
        found = self._has_strict.get(nid)
        if found is None:
            self._has_strict[nid] = False  # (the checker rejects cycles)
            found = False
            for x in subtree(self.checked.defines[nid].expr):
                if isinstance(x, n.IsKnown) and x.nid in self.strict:
                    found = True
                    break
                ref = self.checked.refs.get(x.nid) if isinstance(x, n.Path) else None
                if isinstance(ref, DefineRef) and self.has_strict(ref.nid):
                    found = True
                    break
            self._has_strict[nid] = found
        return found

    def shown(self, r: n.Rule) -> ast.Tuple:
        """The values of a fired rule's atoms (its `because`)."""
        self.fixed = fixed_by(r)
        try:
            return ast.Tuple(elts=[self.expr(a) for a in self.atoms.get(r.nid, [])],
                             ctx=ast.Load())
        finally:
            self.fixed = {}

    def expr(self, e: n.Expr) -> ast.expr:
        fixed = self.fixed.get(e.nid)
        if fixed is not None:
            return ast.Constant(fixed)
        if not self.reading_strictly and e.nid in self.known:
            return _name(self.known[e.nid])
        body_of = self.bodies.get(e.nid)
        if body_of is not None:  # a define's expression: its value is the define's
            if self.reading_strictly and body_of in self.strict_defines:
                return _name(self.strict_defines[body_of])
            return _name(self.defines[body_of])
        if self.reading_strictly:
            if isinstance(e, n.IsKnown) and e.nid in self.strict:
                return _ifexp(_is(self.expr(e.operand), U), U, TRUE)
            ref = self.checked.refs.get(e.nid) if isinstance(e, n.Path) else None
            if isinstance(ref, DefineRef) and ref.nid in self.strict_defines:
                return _name(self.strict_defines[ref.nid])
        return super().expr(e)


def fixed_by(r: n.Rule) -> dict[int, bool]:
    """The nodes of a rule's condition whose value is known when the rule fires: its
    `when` is true, each `unless` false; the operands of a true `and` are true, those of
    a false `or` false, the operand of a `not` the opposite (Kleene logic)."""
    out: dict[int, bool] = {}

    def walk(e: n.Expr, value: bool) -> None:
        out[e.nid] = value
        if isinstance(e, n.BoolOp) and (e.op == "and") == value:
            for o in e.operands:
                walk(o, value)
        elif isinstance(e, n.Not):
            walk(e.operand, not value)
    if r.when is not None:
        walk(r.when, True)
    for u in r.unless:
        walk(u, False)
    return out


class JsonGenerator(Generator):
    """Builds the fast function of a guideline for a record given as JSON (dicts, lists,
    strings, numbers): ``fn(record, as_of, budget, limit)``. It first checks the record as
    ``records.loader.json_ok`` does (``json_check_lines``, ``limit`` the longest list
    allowed) and returns None if something is wrong (the loader then names it); that same
    pass keeps each of the record's values the guideline reads as the record loader makes
    it (an enumeration's string as its member, a date's text as a date, a number of a
    ``float`` field as a float, a list of those as a tuple), and those of a list's
    elements in rows (``ROWS``). Without rows, it reads ``d.get(name)`` where the record's
    function reads ``element.name``, converted so. Records stay dicts. So it gives the
    codes the record's function gives on the record the loader builds, without building it.
    """

    FUNCTION = "_fast_json"
    ARGS = ("record", "as_of", "budget", "limit", "steps")
    #: a list of records the guideline reads is checked element by element inline, and
    #: each element's values it reads are kept in a tuple, its row, as they are checked:
    #: the list's local holds the rows, and an element's value is read from its row
    ROWS = True

    def __init__(self, checked: Checked, work: Work | None = None) -> None:
        super().__init__(checked)
        self.json_state(work)

    def json_state(self, work: Work | None) -> None:
        """What reading JSON adds to a generator (``outcomes.JsonOutcomeGenerator`` too)."""
        self.var_cls: dict[str, type | None] = {}  # loop variable -> its record class
        #: a path of the record's fields -> the local the check sets to its value, and
        #: its value, an expression of ``v`` as the loader makes it (``json_check_lines``)
        self.bound: dict[tuple[str, ...], tuple[str, str]] = {}
        self.work = work
        #: a list's path -> the values of an element its rows keep: by the element's
        #: fields, the position in the row and its value, an expression of ``v``
        self.rows: dict[tuple[str, ...], dict[tuple[str, ...], tuple[int, str]]] = {}
        self.row_lists: dict[str, tuple[str, ...]] = {}  # a local holding rows -> its list
        self.row_vars: dict[str, tuple[str, ...]] = {}  # an element's local -> its list
        self.row_loops: list[ast.For] = []  # the loops over rows (found by ``finish``)

    def check_first(self) -> list[ast.stmt]:
        """The check (``json_check_lines``: None when the record is refused), then the
        budget: the count of a record with lists of the same lengths, kept by ``work``
        (``compile.Work.known``, keyed by ``steps``, the step budget, and the lengths),
        must say it is within the budget (None when it is not known, or not within: the
        record is then loaded and counted, and the count kept)."""
        lengths: list[ast.expr] = []
        if self.work is not None:
            fields = self.work.list_fields
            if fields is None:  # (counts not kept by lengths: the record's way)
                raise NotImplementedError("the budget count depends on loop variables")
            for path in fields:
                if path not in self.bound:
                    self.bound[path] = (self.fresh("_w"), "v")
                local = _name(self.bound[path][0])
                lengths.append(_ifexp(_is(local, U), ast.Constant(0), ast.Call(
                    func=_name("len"), args=[local], keywords=[])))
        rows = {path: [(fields, value) for fields, (_, value) in sorted(
            columns.items(), key=lambda c: c[1][0])] for path, columns in self.rows.items()}
        made = json_check_lines(self.checked.record, self.bound, missing="_U", rows=rows)
        if made is None:
            raise NotImplementedError("the record's JSON cannot be checked by generated code")
        lines, names = made
        self.consts.update(names)
        self.consts["Exception"] = Exception
        out: list[ast.stmt] = [ast.Try(
            body=ast.parse("\n".join(lines)).body, handlers=[ast.ExceptHandler(
                type=_name("Exception"), name=None, body=[ast.Return(ast.Constant(None))])],
            orelse=[], finalbody=[])]
        if self.work is not None:
            known = self.const(self.work.known)
            count = self.fresh()
            out.append(ast.Assign(targets=[_store(count)], value=ast.Call(
                func=ast.Attribute(value=known, attr="get", ctx=ast.Load()), args=[
                    ast.Tuple(elts=[_name("steps"), *lengths], ctx=ast.Load())],
                keywords=[])))
            out.append(ast.If(test=ast.BoolOp(op=ast.Or(), values=[
                _is(_name(count), ast.Constant(None)),
                ast.Subscript(value=_name(count), slice=ast.Constant(2), ctx=ast.Load())]),
                body=[ast.Return(ast.Constant(None))], orelse=[]))
        return out

    def _bind(self, var: str, source: n.Expr) -> type | None:
        t = self.type_of(source)
        elem = t.elem if isinstance(t, ts.ListT) else None
        saved = self.var_cls.get(var)
        self.var_cls[var] = elem.cls if isinstance(elem, ts.RecordT) else None
        return saved

    def quantifier(self, e: n.Quantifier) -> ast.expr:
        saved = self._bind(e.var, e.source)
        try:
            return super().quantifier(e)
        finally:
            self.var_cls[e.var] = saved

    def loop(self, loop: n.For) -> Iterator[ast.stmt]:
        saved = self._bind(loop.var, loop.source)
        try:
            yield from super().loop(loop)
        finally:
            self.var_cls[loop.var] = saved

    @property
    def counted(self) -> bool:  # type: ignore[override]
        # a record is read only once its steps were counted within the budget
        return self.work is not None

    def finish(self, body: list[ast.stmt]) -> None:
        """A loop over rows unpacks each: ``for i, (a, _, b) in enumerate(rows)`` for the
        values its body reads (``element_read``'s ``a = row[0]``...), once the rows are
        known whole, unless the body uses the row itself; ``for a, _, b in rows`` when it
        does not use the position either."""
        self.row_loops = [
            node for statement in body for node in ast.walk(statement)
            if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple)
            and isinstance(var := node.target.elts[-1], ast.Name) and var.id in self.row_vars]
        for loop in self.row_loops:
            target = loop.target
            assert isinstance(target, ast.Tuple) and isinstance(target.elts[1], ast.Name)
            row = target.elts[1].id
            reads: dict[int, str] = {}
            rest: list[ast.stmt] = []
            for statement in loop.body:
                if isinstance(statement, ast.Assign) \
                        and isinstance(read := statement.value, ast.Subscript) \
                        and isinstance(read.value, ast.Name) and read.value.id == row \
                        and isinstance(read.slice, ast.Constant) \
                        and isinstance(read.slice.value, int) \
                        and isinstance(statement.targets[0], ast.Name):
                    reads[read.slice.value] = statement.targets[0].id
                else:
                    rest.append(statement)
            if any(isinstance(x, ast.Name) and x.id == row
                   for statement in rest for x in ast.walk(statement)):
                continue  # (the row itself is used)
            width = len(self.rows[self.row_vars[row]])
            unpacked = ast.Tuple(elts=[_store(reads.get(k, "_")) for k in range(width)],
                                 ctx=ast.Store())
            loop.body = rest or [ast.Pass()]
            index = target.elts[0]
            assert isinstance(index, ast.Name) and isinstance(loop.iter, ast.Call)
            if any(isinstance(x, ast.Name) and x.id == index.id
                   for statement in rest for x in ast.walk(statement)):
                target.elts[1] = unpacked
            else:  # (nor its position: ``for a, _, b in rows``)
                loop.target, loop.iter = unpacked, loop.iter.args[0]

    def element_of(self, var: str, source: ast.expr) -> None:
        if isinstance(source, ast.Name) and source.id in self.row_lists:
            self.row_vars[var] = self.row_lists[source.id]

    def set_define(self, d: n.Define) -> Iterator[ast.stmt]:
        for statement in super().set_define(d):
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Name) \
                    and statement.value.id in self.row_lists:  # (another name of the list)
                self.row_lists[self.defines[d.nid]] = self.row_lists[statement.value.id]
            yield statement

    def path(self, e: n.Path) -> ast.expr:
        ref = self.checked.refs.get(e.nid)
        if not isinstance(ref, FieldRef) or not ref.fields:
            return super().path(e)
        cls = self.checked.record if ref.root == "patient" else self.var_cls.get(ref.root)
        if cls is None:
            raise NotImplementedError(f"no record class for {ref.root}")
        base: ast.expr = _name("record") if ref.root == "patient" else _name(self.vars[ref.root])
        t = self.type_of(e)
        factor = UNITS[t.unit][1] if isinstance(t, ts.QuantityT) and t.unit in UNITS else None
        annotation = _annotation(cls, ref.fields)
        fields = tuple(ref.fields)

        def converted() -> str:  # the value, from ``v`` as the record loader makes it
            value: ast.expr = _name("v")  # (set by the check: ``json_check_lines``)
            if factor is not None and factor != 1.0:
                value = ast.BinOp(left=value, op=ast.Mult(), right=ast.Constant(factor))
            return ast.unparse(value)
        if ref.root != "patient":
            of = self.row_vars.get(self.vars[ref.root])
            if of is None:
                return self.element_read(ref.root, (fields, factor), lambda: (
                    self.json_field(base, ref.fields, factor, annotation)))
            # a value of the element's row (set by the check: ``check_first``)
            columns = self.rows[of]
            if fields not in columns:
                columns[fields] = (len(columns), converted())
            elif columns[fields][1] != converted():  # pragma: no cover - a field, one unit
                raise NotImplementedError("an element's field read in two units")
            index = ast.Constant(columns[fields][0])
            return self.element_read(ref.root, (fields, factor), lambda: ast.Subscript(
                value=base, slice=index, ctx=ast.Load()))
        key = (fields, factor)
        if key not in self.fields:
            # set by the check (``check_first``) as it looks the value up, converted
            local = self.fields[key] = self.fresh("_f")
            if fields in self.bound:  # (the same field in another unit: read it again)
                self.reads.append(ast.Assign(targets=[_store(local)], value=self.json_field(
                    _name("record"), fields, factor, annotation)))
            else:
                self.bound[fields] = (local, converted())
                element = _records_of(annotation) if self.ROWS else None
                if element is not None and json_check_lines(element, {}) is not None:
                    self.rows[fields] = {}  # (its local holds the list's rows)
                    self.row_lists[local] = fields
        return _name(self.fields[key])

    def json_field(self, base: ast.expr, fields: Iterable[str], factor: float | None,
                   annotation: Any) -> ast.expr:
        """``base.get(a).get(b)`` converted (times the unit factor), or ``_U`` if any
        step is None."""
        tmp = self.fresh()
        checks: list[ast.expr] = []
        current = base
        for f in fields:
            read = ast.Call(func=ast.Attribute(value=current, attr="get", ctx=ast.Load()),
                            args=[ast.Constant(f)], keywords=[])
            checks.append(_is(_walrus(tmp, read), ast.Constant(None)))
            current = _name(tmp)
        value = self.convert(_name(tmp), annotation)
        if factor is not None and factor != 1.0:
            value = ast.BinOp(left=value, op=ast.Mult(), right=ast.Constant(factor))
        test = checks[0] if len(checks) == 1 else ast.BoolOp(op=ast.Or(), values=checks)
        return _ifexp(test, U, value)

    def convert(self, x: ast.expr, annotation: Any) -> ast.expr:
        """``x``, a checked JSON value of a field, as the record loader makes it."""
        tp = _optional(annotation)
        origin = typing.get_origin(tp)
        if tp is float:
            return ast.Call(func=_name("float"), args=[x], keywords=[])
        if tp is datetime.date:
            return ast.Call(func=self.const(datetime.date.fromisoformat), args=[x], keywords=[])
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return ast.Subscript(value=self.const({m.value: m for m in tp}), slice=x,
                                 ctx=ast.Load())
        if tp in (bool, int, str) or origin is typing.Literal or (
                isinstance(tp, type) and attrs.has(tp)):
            return x  # (a record stays a dict)
        if origin in (tuple, list):
            element = typing.get_args(tp)[0]
            inner = _optional(element)
            if isinstance(inner, type) and attrs.has(inner):
                return x  # a list of records: a list of dicts, each read in turn
            item = self.fresh("_x")
            one = self.convert(_name(item), element)
            if element is not inner:  # (optional elements)
                one = _ifexp(_is(_name(item), ast.Constant(None)), ast.Constant(None), one)
            listed = ast.ListComp(elt=one, generators=[ast.comprehension(
                target=_store(item), iter=x, ifs=[], is_async=0)])
            if origin is list:
                return listed
            return ast.Call(func=self.const(tuple), args=[listed], keywords=[])
        raise NotImplementedError(f"cannot read {tp!r} from JSON")


def _optional(annotation: Any) -> Any:
    """``X`` for ``X | None``, else the annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        raise NotImplementedError(f"cannot read {annotation!r} from JSON")
    return annotation


def _records_of(annotation: Any) -> type | None:
    """The record class of a list of records (its elements not optional), else None."""
    tp = _optional(annotation)
    if typing.get_origin(tp) not in (tuple, list):
        return None
    element = typing.get_args(tp)[0]
    return element if isinstance(element, type) and attrs.has(element) else None


def _annotation(cls: type, fields: Iterable[str]) -> Any:
    """The annotation of the field at the end of ``fields`` from record class ``cls``."""
    annotation: Any = cls
    for f in fields:
        owner = _optional(annotation)
        if not (isinstance(owner, type) and attrs.has(owner)):
            raise NotImplementedError(f"{owner!r} is not a record")
        annotation = typing.get_type_hints(owner)[f]
    return annotation


#: the key of a ``ValuesFn`` snapshot's (block, iteration) stamp; node ids are positive
MARK = -1

#: per block instance: (its values, its rules' values and facts); see outcomes.ValuesGenerator
ValuesFn = Callable[[Any, datetime.date, int], Iterable[tuple[dict[Any, Any], dict[Any, Any]]]]


def _budget(steps: int) -> None:
    raise BudgetExceededError(steps)


def _compile(gen: Generator, name: str) -> Any:
    module = gen.module()
    namespace: dict[str, Any] = {
        "_U": _U, "_kleene": _kleene, "_kcount": _kcount, "_counted": _counted, "_div": _div,
        "_sum_score": _sum_score, "_bcmp": _bcmp, "_bin": _bin, "_shift": _shift,
        "_budget": _budget,
        "float": float, "set": set, "enumerate": enumerate, "len": len, "map": map,
        "range": range, "__builtins__": {},
    }
    namespace.update(gen.consts)
    code = compile(module, filename=f"<spinerules:{gen.checked.program.entry}>", mode="exec")
    exec(code, namespace)  # the AST above, built from checked nodes: no guideline text
    return namespace[name]


def generate(checked: Checked) -> FastFn:
    """Compile a checked guideline's fast function."""
    fn: FastFn = _compile(Generator(checked), "_fast")
    return fn


def generate_json(checked: Checked, work: Work | None = None) -> JsonFastFn:
    """Compile a checked guideline's fast function for JSON records (see
    ``JsonGenerator``); raises ``NotImplementedError`` for a record it cannot read."""
    fn: JsonFastFn = _compile(JsonGenerator(checked, work), "_fast_json")
    return fn


def source_of(checked: Checked) -> str:
    """The generated function as Python text, for reading and debugging."""
    return ast.unparse(Generator(checked).module())
