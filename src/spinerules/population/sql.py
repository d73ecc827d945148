"""A checked guideline compiled to one SQL query (sqlglot expressions, never pasted text).

The query reads a relation of patients in the nested layout (``layout.py``: one row per
patient, one column per top-level field of the record, records as STRUCTs, lists as
LISTs of STRUCTs, enumerations as their JSON spelling, quantities in the field's unit) with
a ``__row`` column numbering the rows, and returns one row per patient:

``__row``, ``patient`` (the record's ``id``), ``codes`` (recommended, considered, advised
against, warned, classified), ``missing`` (the guideline's requests that fired),
``fired`` and ``undetermined`` (rule ids), ``scores`` (a list of
``{name, value, low, high}``, named as the engine names them, ``tlics@fractures[1]`` for
the second fracture). ``outputs`` asks for some of these columns only (``("codes",)``: what
``Guideline.codes`` gives), and the query then computes nothing the others alone need.

Three-valued logic is SQL's: an unknown fact is NULL, ``AND``/``OR``/``NOT`` are Kleene's,
and every operator that the engine makes unknown when an operand is unknown is written so
that SQL gives NULL too (``x in lo..hi`` is not ``lo <= x AND x <= hi``, which SQL decides
to false when one side is). An undetermined score is NULL with its range in two more
columns, so that ``tlics >= 5`` is decided when every total it can still reach agrees, as
the engine decides it. Quantifiers become higher-order list functions with lambdas; a
``for`` block runs on the list exploded to one row per element, and its outcomes are
aggregated back per patient.

What the query does not compute: explanations (``because``), citations, conflicts and
invariants, and the engine's own request for facts no guideline request asks for
(``ask_for_missing_facts``), which needs the names of the facts behind each unknown; the
per-rule ``undetermined`` list says which rules wait on facts. A construct the translation
does not cover is a located diagnostic (``SR701``) at compile time.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import attrs
import sqlglot
from sqlglot import exp

from spinerules.checker import typesys as ts
from spinerules.checker.check import (
    Checked,
    DefineRef,
    EnumRef,
    FieldRef,
    ScoreRef,
    VarRef,
)
from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.units import UNITS

DIALECTS = ("duckdb", "spark")
#: the result columns a query can give, after ``__row`` and ``patient``
OUTPUTS = ("codes", "missing", "fired", "undetermined", "scores")

#: keys of sum-score bands: a band without an action (or no band) is -1, undecided -2
_NONE_KEY, _UNDECIDED_KEY = -1, -2
#: the most masks of unknown components a sum score is translated with (2 ** 12)
_MAX_COMPONENTS = 12


class TranslationError(Exception):
    """The guideline uses a construct the SQL translation does not cover."""

    def __init__(self, diagnostics: list[dg.Diagnostic], sources: dict[str, Any]) -> None:
        super().__init__(dg.render_all(diagnostics, sources))
        self.diagnostics = diagnostics


@attrs.frozen
class RuleInfo:
    rule_id: str
    location: str
    codes: tuple[str, ...]  # its actions' codes, requests left out
    requests: tuple[str, ...]  # its request actions' codes
    loop: bool


@attrs.frozen
class ScoreInfo:
    name: str
    location: str
    loop: bool
    bands: tuple[tuple[str, str | None], ...]  # (pattern text, its action's code or None)


@attrs.frozen
class CompiledQuery:
    """The query of one guideline at one ``as_of``, for one dialect."""

    guideline: str
    dialect: str
    as_of: datetime.date
    relation: str
    expression: exp.Expr = attrs.field(repr=False)
    rules: tuple[RuleInfo, ...]
    scores: tuple[ScoreInfo, ...]
    codes: tuple[str, ...]
    requests: tuple[str, ...]

    def sql(self, pretty: bool = True) -> str:
        text: str = self.expression.sql(dialect=self.dialect, pretty=pretty)
        return text


def _q(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _t(name: str) -> exp.Table:
    return exp.Table(this=_q(name))


def _col(name: str) -> exp.Column:
    return exp.column(_q(name))


def _num(value: float) -> exp.Expr:
    return exp.cast(exp.Literal.number(repr(float(value))), exp.DataType.Type.DOUBLE)


def _int(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _str(value: str) -> exp.Expr:
    return exp.Literal.string(value)


def _isnull(e: exp.Expr) -> exp.Expr:
    return exp.Is(this=exp.paren(e.copy(), copy=False), expression=exp.Null())


def _notnull(e: exp.Expr) -> exp.Expr:
    return exp.not_(_isnull(e))


def _true(e: exp.Expr) -> exp.Expr:
    """``e`` is TRUE (NULL and FALSE give FALSE)."""
    return exp.Coalesce(this=exp.paren(e.copy(), copy=False), expressions=[exp.false()])


def _case(whens: list[tuple[exp.Expr, exp.Expr]],
          default: exp.Expr | None = None) -> exp.Expr:
    if not whens:
        return default if default is not None else exp.Null()
    c = exp.Case()
    for cond, then in whens:
        c = c.when(cond, then, copy=False)
    if default is not None:
        c = c.else_(default, copy=False)
    return c


def _and(*parts: exp.Expr) -> exp.Expr:
    return exp.and_(*[exp.paren(p, copy=False) for p in parts], copy=False)


def _or(*parts: exp.Expr) -> exp.Expr:
    return exp.or_(*[exp.paren(p, copy=False) for p in parts], copy=False)


_CMP: dict[str, type[exp.Expr]] = {
    "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "==": exp.EQ, "!=": exp.NEQ}


def _cmp(op: str, a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return _CMP[op](this=exp.paren(a, copy=False), expression=exp.paren(b, copy=False))


class _Untranslatable(Exception):
    def __init__(self, node: n.Node, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.node = node
        self.what = what
        self.hint = hint


@attrs.define
class _ScoreCols:
    value: str
    low: str
    high: str
    bounded: str
    code: str


@attrs.define
class _Block:
    """The columns computed for one block: the top level (one row per patient) or a
    ``for`` (one row per element); each column has a level, and each level is one CTE."""

    key: int  # 0: top, else the `for`'s node id
    var: str | None = None
    #: the loop variables of every `for` over the same list (one exploded relation)
    names: set[str] = attrs.field(factory=set)
    loop: n.For | None = None
    cols: dict[str, tuple[exp.Expr, int]] = attrs.field(factory=dict)

    def add(self, name: str, e: exp.Expr, level: int) -> tuple[exp.Expr, int]:
        if name not in self.cols:
            self.cols[name] = (e, level + 1)
        return _col(name), self.cols[name][1]


@attrs.define
class _Pack:
    """``any``/``all`` quantifiers over one list of the patient, read in one pass (DuckDB):
    each element gives two bits per quantifier (slot ``i``: bit ``2i`` decides, bit
    ``2i + 1`` is unknown), OR-ed over the list (``list_bit_or``)."""

    column: str
    param: str
    source: exp.Expr
    terms: list[exp.Expr] = attrs.field(factory=list)

    #: quantifiers per pack (two bits each in a BIGINT: at most 31). DuckDB's lambda
    #: slows down as its body grows: on `spine`, packs of 6 to 8 cost two thirds of one
    #: pack of 22 (``benchmarks/population.py``)
    SLOTS = 8

    def body(self) -> exp.Expr:
        body: exp.Expr = self.terms[0]
        for t in self.terms[1:]:
            body = exp.Add(this=body, expression=t)
        return body

    def build(self) -> exp.Expr:
        """The pack read from the list, with a lambda (a pack of a ``for`` block's rows)."""
        fn = exp.Lambda(this=self.body(), expressions=[exp.to_identifier(self.param)])
        return exp.func("list_bit_or", exp.Transform(this=self.source.copy(), expression=fn))

    def aggregate(self) -> exp.Expr:
        """The pack over the list exploded to one row per element (the element in column
        ``__e``): ``bit_or`` of the same bits, grouped by patient (a top-level pack)."""
        body = self.body().copy()
        for c in list(body.find_all(exp.Column)):
            if c.name == self.param and not c.table:
                c.replace(_col("__e"))
        return exp.func("bit_or", body)


class SqlCompiler:
    """Compiles one checked guideline to a ``CompiledQuery``."""

    def __init__(self, checked: Checked, *, guideline: str, dialect: str = "duckdb",
                 as_of: datetime.date, relation: str = "patients",
                 outputs: tuple[str, ...] = OUTPUTS) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (one of {', '.join(DIALECTS)})")
        unknown = [o for o in outputs if o not in OUTPUTS]
        if unknown or not outputs:
            raise ValueError(f"unknown outputs {unknown!r} (some of {', '.join(OUTPUTS)})")
        self.checked = checked
        self.guideline = guideline
        self.dialect = dialect
        self.as_of = as_of
        self.relation = relation
        #: the result columns asked for (after ``__row`` and ``patient``), in OUTPUTS order
        self.outputs = tuple(o for o in OUTPUTS if o in outputs)
        self.problems: list[dg.Diagnostic] = []
        self.top = _Block(0)
        self.blocks: list[_Block] = [self.top]
        self.owner: dict[int, _Block] = {}  # define / score nid -> its block
        self.scores: dict[int, _ScoreCols] = {}
        self._lambda = itertools.count()
        self._by_source: dict[Any, _Block] = {}
        self._loop_block: dict[int, _Block] = {}
        #: the open pack of quantifiers per (block, list), and every pack made
        self._open_packs: dict[tuple[int, str], _Pack] = {}
        self._packs: list[tuple[_Block, _Pack]] = []

    # ------------------------------------------------------------------ helpers
    def type_of(self, e: n.Expr) -> ts.Type:
        return self.checked.types.get(e.nid, ts.ERROR)

    def fail(self, node: n.Node, what: str, hint: str = "") -> _Untranslatable:
        return _Untranslatable(node, what, hint)

    def enum_key(self, t: ts.Type, e: exp.Expr) -> exp.Expr:
        """An ordered enumeration's position (its members compare in declaration order)."""
        assert isinstance(t, ts.EnumT)
        members = [str(m.value) for m in t.cls]
        if isinstance(e, exp.Literal) and e.is_string and e.this in members:
            return _int(members.index(e.this))
        return _case(
            [(exp.EQ(this=exp.paren(e.copy(), copy=False), expression=_str(m)), _int(i))
             for i, m in enumerate(members)])

    def enum_members(self, t: ts.Type) -> list[str]:
        assert isinstance(t, ts.EnumT)
        return [str(m.value) for m in t.cls]

    @staticmethod
    def const_member(e: exp.Expr, members: list[str]) -> int | None:
        """The position of a constant member (an enum literal), else None."""
        if isinstance(e, exp.Literal) and e.is_string and e.this in members:
            return members.index(e.this)
        return None

    def enum_between(self, t: ts.Type, x: exp.Expr, lo: int, hi: int) -> exp.Expr:
        """``lo <= position(x) <= hi`` as membership (NULL stays NULL): the positions of an
        ordered enumeration are compile-time constants, so a comparison with a constant
        member is a set of members."""
        members = self.enum_members(t)[max(lo, 0):hi + 1]
        if not members:
            return _case([(_isnull(x), exp.Null())], exp.false())
        return exp.In(this=exp.paren(x.copy(), copy=False), expressions=[_str(m) for m in members])

    def enum_compare(self, t: ts.Type, op: str, a: exp.Expr, b: exp.Expr) -> exp.Expr | None:
        """An ordered comparison with one constant side, as membership (else None)."""
        members = self.enum_members(t)
        last = len(members) - 1
        kb, ka = self.const_member(b, members), self.const_member(a, members)
        if kb is not None:
            x, k, o = a, kb, op
        elif ka is not None:
            x, k, o = b, ka, _FLIP[op]
        else:
            return None
        lo, hi = {"<": (0, k - 1), "<=": (0, k), ">": (k + 1, last), ">=": (k, last)}[o]
        return self.enum_between(t, x, lo, hi)

    def constant(self, e: n.Expr) -> exp.Expr:
        """A pattern's value (a constant): number, string, bool, date or enum member."""
        v, _ = self.expr(e, self.top, {})
        return v

    # ------------------------------------------------------------------ expressions
    def expr(self, e: n.Expr, blk: _Block, lam: dict[str, str]) -> tuple[exp.Expr, int]:
        """``e`` as SQL in block ``blk`` (``lam``: quantifier variables -> lambda
        parameters), and the level of the columns it reads (0: input columns only)."""
        if isinstance(e, n.Number):
            return _num(e.value * UNITS[e.unit][1] if e.unit else e.value), 0
        if isinstance(e, n.String):
            return _str(e.value), 0
        if isinstance(e, n.Bool):
            return (exp.true() if e.value else exp.false()), 0
        if isinstance(e, n.Date):
            return exp.cast(_str(e.value.isoformat()), exp.DataType.Type.DATE), 0
        if isinstance(e, n.Today):
            return exp.cast(_str(self.as_of.isoformat()), exp.DataType.Type.DATE), 0
        if isinstance(e, n.Path):
            return self.path(e, blk, lam)
        if isinstance(e, n.BoolOp):
            parts = [self.expr(o, blk, lam) for o in e.operands]
            fold = _and if e.op == "and" else _or
            return fold(*[p for p, _ in parts]), max(lv for _, lv in parts)
        if isinstance(e, n.Not):
            inner, lv = self.expr(e.operand, blk, lam)
            return exp.not_(exp.paren(inner, copy=False)), lv
        if isinstance(e, n.IsKnown):
            inner, lv = self.expr(e.operand, blk, lam)
            return (_notnull(inner) if e.known else _isnull(inner)), lv
        if isinstance(e, n.Compare):
            return self.compare(e, blk, lam)
        if isinstance(e, n.InRange):
            return self.in_range(e, blk, lam)
        if isinstance(e, n.InSet):
            v, lv = self.expr(e.value, blk, lam)
            items = [self.expr(i, blk, lam) for i in e.items]
            # SQL's IN is Kleene's: NULL value -> NULL; a match -> TRUE; else NULL if an
            # item is NULL, else FALSE (the engine's k_or over the equalities)
            return exp.In(this=exp.paren(v, copy=False), expressions=[i for i, _ in items]), \
                max([lv, *(x for _, x in items)])
        if isinstance(e, n.Arith):
            return self.arith(e, blk, lam)
        if isinstance(e, n.Neg):
            inner, lv = self.expr(e.operand, blk, lam)
            return exp.Neg(this=exp.paren(inner, copy=False)), lv
        if isinstance(e, n.Quantifier):
            return self.quantifier(e, blk, lam)
        raise self.fail(e, f"the expression `{type(e).__name__}`")  # pragma: no cover

    def path(self, e: n.Path, blk: _Block, lam: dict[str, str]) -> tuple[exp.Expr, int]:
        ref = self.checked.refs.get(e.nid)
        if isinstance(ref, EnumRef):
            return _str(str(ref.member.value)), 0
        if isinstance(ref, DefineRef):
            return self.define(ref.nid, blk)
        if isinstance(ref, ScoreRef):
            cols, lv = self.score(ref.nid, blk)
            return _col(cols.value), lv
        if isinstance(ref, VarRef):
            return self.var(ref.name, blk, lam, e), 0
        if not isinstance(ref, FieldRef):
            raise self.fail(e, "an unresolved name")
        if ref.root == "patient":
            fields = list(ref.fields)
            base: exp.Expr = _col(fields.pop(0))
        else:
            base = self.var(ref.root, blk, lam, e)
            fields = list(ref.fields)
        for f in fields:
            base = exp.Dot(this=base, expression=_q(f))
        t = self.type_of(e)
        if isinstance(t, ts.QuantityT | ts.NumberT):
            base = exp.cast(base, exp.DataType.Type.DOUBLE)
            if isinstance(t, ts.QuantityT) and t.unit in UNITS and UNITS[t.unit][1] != 1.0:
                base = exp.Mul(this=base, expression=_num(UNITS[t.unit][1]))
        return base, 0

    def var(self, name: str, blk: _Block, lam: dict[str, str], node: n.Node) -> exp.Expr:
        if name in lam:
            return exp.column(_q(lam[name]))
        if name in blk.names:
            return _col("__e")
        raise self.fail(node, f"the loop variable `{name}` outside its block")

    def define(self, nid: int, blk: _Block) -> tuple[exp.Expr, int]:
        owner = self.owner.get(nid, self.top)
        name = f"__d{nid}"
        if owner is self.top and blk is not self.top:  # computed per patient, carried
            self.define(nid, self.top)
            return _col(name), 0
        if owner is not blk:
            raise self.fail(self.checked.defines[nid], "a define of another `for` block")
        if name in blk.cols:
            return _col(name), blk.cols[name][1]
        d = self.checked.defines[nid]
        ref = self.checked.refs.get(d.expr.nid) if isinstance(d.expr, n.Path) else None
        if isinstance(ref, ScoreRef | DefineRef) and self.score_alias(d.expr) is not None:
            # an alias of a score keeps the score's range (the engine's define returns the
            # score's own undetermined value): compile uses of the alias as the score
            return self.expr(d.expr, blk, {})
        value, lv = self.expr(d.expr, blk, {})
        return blk.add(name, value, lv)

    def score_alias(self, e: n.Expr) -> int | None:
        """The score a path names, directly or through defines that only rename it."""
        seen: set[int] = set()
        while isinstance(e, n.Path):
            ref = self.checked.refs.get(e.nid)
            if isinstance(ref, ScoreRef):
                return ref.nid
            if not isinstance(ref, DefineRef) or ref.nid in seen:
                return None
            seen.add(ref.nid)
            e = self.checked.defines[ref.nid].expr
        return None

    def compare(self, e: n.Compare, blk: _Block, lam: dict[str, str]
                ) -> tuple[exp.Expr, int]:
        a, la = self.expr(e.left, blk, lam)
        b, lb = self.expr(e.right, blk, lam)
        lt = self.type_of(e.left)
        plain: exp.Expr | None = None
        if e.op not in ("==", "!=") and isinstance(lt, ts.EnumT) and lt.ordered:
            plain = self.enum_compare(lt, e.op, a, b)
            if plain is None:
                a, b = self.enum_key(lt, a), self.enum_key(lt, b)
        if plain is None:
            plain = _cmp(e.op, a, b)
        level = max(la, lb)
        # an undetermined score compared with a known number: decided by its range
        for side, other, op in ((e.left, b, e.op), (e.right, a, _FLIP[e.op])):
            s = self.score_alias(side)
            if s is None or not isinstance(self.type_of(
                    e.right if side is e.left else e.left), ts.NumberT | ts.QuantityT):
                continue
            cols, ls = self.score(s, blk)
            level = max(level, ls)
            decided = _decide_between(op, _col(cols.low), _col(cols.high), other.copy())
            plain = _case([(_and(_isnull(_col(cols.value)), _col(cols.bounded),
                                 _notnull(other.copy())), decided)], plain)
            break
        return plain, level

    def in_range(self, e: n.InRange, blk: _Block, lam: dict[str, str]
                 ) -> tuple[exp.Expr, int]:
        v, lv = self.expr(e.value, blk, lam)
        lo, ll = self.expr(e.low, blk, lam)
        hi, lh = self.expr(e.high, blk, lam)
        t = self.type_of(e.value)
        kv, klo, khi = v, lo, hi
        if isinstance(t, ts.EnumT) and t.ordered:
            members = self.enum_members(t)
            clo, chi = self.const_member(lo, members), self.const_member(hi, members)
            if clo is not None and chi is not None:
                return self.enum_between(t, v, clo, chi), max(lv, ll, lh)
            kv, klo, khi = self.enum_key(t, v), self.enum_key(t, lo), self.enum_key(t, hi)
        # unknown when any of the three is (SQL's AND would decide `false and null`)
        value = _case([(_or(_isnull(v), _isnull(lo), _isnull(hi)), exp.Null())],
                      _and(exp.LTE(this=klo, expression=kv.copy()),
                           exp.LTE(this=kv.copy(), expression=khi)))
        level = max(lv, ll, lh)
        s = self.score_alias(e.value)
        if s is not None:
            cols, ls = self.score(s, blk)
            level = max(level, ls)
            low, high = _col(cols.low), _col(cols.high)
            inside = _and(exp.LTE(this=lo.copy(), expression=low),
                          exp.LTE(this=high, expression=hi.copy()))
            outside = _or(exp.LT(this=high.copy(), expression=lo.copy()),
                          exp.GT(this=low.copy(), expression=hi.copy()))
            only = _and(_isnull(_col(cols.value)), _col(cols.bounded), _notnull(lo),
                        _notnull(hi))
            value = _case([(_and(only, inside), exp.true()),
                           (_and(only.copy(), outside), exp.false())], value)
        return value, level

    def arith(self, e: n.Arith, blk: _Block, lam: dict[str, str]
              ) -> tuple[exp.Expr, int]:
        a, la = self.expr(e.left, blk, lam)
        b, lb = self.expr(e.right, blk, lam)
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        level = max(la, lb)
        if e.op == "-" and isinstance(lt, ts.DateT) and isinstance(rt, ts.DateT):
            diff = exp.DateDiff(this=exp.paren(a, copy=False),
                                expression=exp.paren(b, copy=False), unit=exp.var("DAY"))
            return exp.cast(diff, exp.DataType.Type.DOUBLE), level
        if isinstance(lt, ts.DateT):
            # the engine moves a date by whole days (timedelta(days=x) floors x)
            days = exp.cast(exp.Floor(this=exp.paren(b, copy=False)), exp.DataType.Type.INT)
            if e.op == "-":
                days = exp.cast(exp.Neg(this=exp.paren(days, copy=False)),
                                exp.DataType.Type.INT)
            shifted = exp.DateAdd(this=exp.paren(a, copy=False), expression=days,
                                  unit=exp.var("DAY"))
            return exp.cast(shifted, exp.DataType.Type.DATE), level
        if e.op == "/":
            const = e.right
            if not (isinstance(const, n.Number) and const.value != 0):
                raise self.fail(e, "a division by a value that may be zero",
                                "the engine stops with an evaluation error on division by "
                                "zero, which SQL would not; divide by a non-zero constant")
            return exp.Div(this=exp.paren(a, copy=False), expression=exp.paren(b, copy=False),
                           typed=False, safe=False), level
        op = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}[e.op]
        return op(this=exp.paren(a, copy=False), expression=exp.paren(b, copy=False)), level

    def _pack(self, blk: _Block, src: exp.Expr) -> _Pack:
        key = (blk.key, src.sql(dialect=self.dialect))
        pack = self._open_packs.get(key)
        if pack is None or len(pack.terms) >= _Pack.SLOTS:
            pack = _Pack(f"__p{len(self._packs)}", f"__q{next(self._lambda)}", src.copy())
            self._open_packs[key] = pack
            self._packs.append((blk, pack))
        return pack

    def packed(self, e: n.Quantifier, blk: _Block, src: exp.Expr, pack: _Pack,
               cond: exp.Expr) -> tuple[exp.Expr, int]:
        """``any``/``all`` as two bits of ``pack``'s column (see ``_Pack``)."""
        i = len(pack.terms)
        decide, unknown = _int(1 << (2 * i)), _int(1 << (2 * i + 1))
        # `any` is decided by an element that is TRUE, `all` by one that is FALSE
        hit = cond if e.kind == "any" else exp.not_(exp.paren(cond, copy=False))
        pack.terms.append(exp.Coalesce(this=exp.Mul(
            this=exp.cast(exp.paren(hit, copy=False), exp.DataType.Type.BIGINT),
            expression=decide), expressions=[unknown]))
        col, level = blk.add(pack.column, exp.Null(), 0)  # (its expression: build())

        def has(bit: exp.Expr) -> exp.Expr:
            return exp.NEQ(this=exp.paren(exp.BitwiseAnd(this=col.copy(), expression=bit)),
                           expression=_int(0))
        found, rest = (exp.true(), exp.false()) if e.kind == "any" else \
            (exp.false(), exp.true())
        # an empty list: the column is NULL, no bit set: `any` FALSE, `all` TRUE
        return _case([(_isnull(src), exp.Null()), (has(decide), found),
                      (has(unknown), exp.Null())], rest), level

    def quantifier(self, e: n.Quantifier, blk: _Block, lam: dict[str, str]
                   ) -> tuple[exp.Expr, int]:
        src, ls = self.expr(e.source, blk, lam)
        pack = None
        if self.dialect == "duckdb" and not lam and ls == 0 and e.kind in ("any", "all") \
                and e.condition is not None:
            pack = self._pack(blk, src)
        param = pack.param if pack is not None else f"__q{next(self._lambda)}"
        inner = {**lam, e.var: param}

        def count_where(cond: exp.Expr) -> exp.Expr:
            fn = exp.Lambda(this=cond, expressions=[exp.to_identifier(param)])
            return exp.ArraySize(this=exp.ArrayFilter(this=src.copy(), expression=fn))

        if e.condition is None:
            if e.kind != "count":
                raise self.fail(e, f"`{e.kind}` without a condition")
            return _case([(_isnull(src), exp.Null())],
                         exp.cast(exp.ArraySize(this=src.copy()), exp.DataType.Type.DOUBLE)), ls
        cond, lc = self.expr(e.condition, blk, inner)
        if pack is not None and lc == 0:  # reads the element and the record only
            return self.packed(e, blk, src, pack, cond)
        level = max(ls, lc)
        # one pass over the list: each element's value as 2 (true), 1 (unknown), 0 (false)
        # (the condition computed once per element); `any` is the largest, `all` the least
        graded = exp.Coalesce(this=exp.Mul(this=exp.cast(exp.paren(cond.copy()),
                                                         exp.DataType.Type.INT),
                                           expression=_int(2)), expressions=[_int(1)])
        fn = exp.Lambda(this=graded, expressions=[exp.to_identifier(param)])
        each = exp.Transform(this=src.copy(), expression=fn)
        if e.kind in ("any", "all"):
            # the list's grade read once: 2 TRUE, 1 NULL (NULLIF), 0 FALSE; an empty list
            # is `any`'s 0 and `all`'s 2
            grade = exp.ArrayMax(this=each) if e.kind == "any" else exp.ArrayMin(this=each)
            empty = _int(0) if e.kind == "any" else _int(2)
            decided = exp.EQ(this=exp.Nullif(this=exp.Coalesce(this=grade, expressions=[empty]),
                                             expression=_int(1)), expression=_int(2))
            out = _case([(_isnull(src), exp.Null())], decided)
        else:
            some_null = exp.GT(this=count_where(_isnull(cond)), expression=_int(0))
            out = _case([(_isnull(src), exp.Null()), (some_null, exp.Null())],
                        exp.cast(count_where(_true(cond)), exp.DataType.Type.DOUBLE))
        return out, level

    # ------------------------------------------------------------------ scores
    def matcher(self, p: n.Pattern, t: ts.Type, x: exp.Expr) -> exp.Expr:
        values = [self.constant(v) for v in p.values]
        ordered = isinstance(t, ts.EnumT) and t.ordered

        def key(v: exp.Expr) -> exp.Expr:
            return self.enum_key(t, v) if ordered else v

        if p.kind == "else":
            return exp.true()
        if p.kind == "eq":
            return exp.EQ(this=x.copy(), expression=values[0])
        if p.kind == "set":
            return exp.In(this=x.copy(), expressions=values)
        if ordered:
            members = self.enum_members(t)
            k0 = self.const_member(values[0], members)
            if p.kind == "range":
                k1 = self.const_member(values[1], members)
                if k0 is not None and k1 is not None:
                    return self.enum_between(t, x, k0, k1)
            elif p.op not in (None, "==", "!="):
                found = self.enum_compare(t, p.op, x, values[0])
                if found is not None:
                    return found
        if p.kind == "range":
            return _and(exp.LTE(this=key(values[0]), expression=key(x.copy())),
                        exp.LTE(this=key(x.copy()), expression=key(values[1])))
        return _cmp(p.op or "==", key(x.copy()), key(values[0]))

    def score(self, nid: int, blk: _Block) -> tuple[_ScoreCols, int]:
        owner = self.owner.get(nid, self.top)
        s = self.checked.scores[nid]
        cols = _ScoreCols(*(f"__s{nid}_{k}" for k in ("v", "lo", "hi", "b", "code")))
        if owner is self.top and blk is not self.top:
            self.score(nid, self.top)
            return cols, 0
        if owner is not blk:
            raise self.fail(s, "a score of another `for` block")
        if cols.code in blk.cols:
            return cols, max(blk.cols[c][1] for c in (cols.value, cols.low, cols.high,
                                                       cols.bounded))
        if s.source is not None:
            self.table_score(s, blk, cols)
        else:
            self.sum_score(s, blk, cols)
        return cols, max(blk.cols[c][1] for c in (cols.value, cols.low, cols.high,
                                                   cols.bounded))

    def table_score(self, s: n.Score, blk: _Block, cols: _ScoreCols) -> None:
        assert s.source is not None
        src, lv = self.expr(s.source, blk, {})
        x, lx = blk.add(f"__s{s.nid}_src", src, lv)
        t = self.type_of(s.source)
        pts = [a.points for a in s.arms]
        tests = [self.matcher(a.pattern, t, x) for a in s.arms]
        unknown = _isnull(x)

        def pick(values: list[exp.Expr], when_unknown: exp.Expr,
                 otherwise: exp.Expr) -> exp.Expr:
            return _case([(unknown.copy(), when_unknown),
                          *[(c.copy(), v) for c, v in zip(tests, values, strict=True)]],
                         otherwise)
        blk.add(cols.value, pick([_num(p) for p in pts], exp.Null(), exp.Null()), lx)
        blk.add(cols.low, pick([_num(p) for p in pts], _num(min(pts)), _num(0)), lx)
        blk.add(cols.high, pick([_num(p) for p in pts], _num(max(pts)), _num(0)), lx)
        blk.add(cols.bounded, unknown.copy(), lx)
        blk.add(cols.code, pick([_str(a.action.code) if a.action is not None else exp.Null()
                                 for a in s.arms], exp.Null(), exp.Null()), lx)

    def sum_score(self, s: n.Score, blk: _Block, cols: _ScoreCols) -> None:
        if len(s.components) > _MAX_COMPONENTS:
            raise self.fail(s, f"a sum score of more than {_MAX_COMPONENTS} components")
        points: list[exp.Expr] = []
        options: list[tuple[float, ...]] = []
        level = 0
        for i, c in enumerate(s.components):
            src, lv = self.expr(c.source, blk, {})
            x, lx = blk.add(f"__s{s.nid}_c{i}", src, lv)
            t = self.type_of(c.source)
            p = _case([(_isnull(x), exp.Null()),
                       *[(self.matcher(a.pattern, t, x), _num(a.points)) for a in c.arms]],
                      _num(0))
            col, lp = blk.add(f"__s{s.nid}_p{i}", p, lx)
            points.append(col)
            level = max(level, lp)
            options.append(tuple(dict.fromkeys(a.points for a in c.arms)) or (0.0,))

        def total(each: list[exp.Expr]) -> exp.Expr:
            out: exp.Expr = each[0] if each else _num(0)
            for x in each[1:]:
                out = exp.Add(this=out, expression=x)
            return out

        low = total([exp.Coalesce(this=p.copy(), expressions=[_num(min(o))])
                     for p, o in zip(points, options, strict=True)])
        high = total([exp.Coalesce(this=p.copy(), expressions=[_num(max(o))])
                      for p, o in zip(points, options, strict=True)])
        lo_col, _ = blk.add(cols.low, low, level)
        hi_col, lvl = blk.add(cols.high, high, level)
        value = _case([(exp.EQ(this=lo_col.copy(), expression=hi_col.copy()), lo_col.copy())],
                      exp.Null())
        v_col, lvl2 = blk.add(cols.value, value, lvl)
        blk.add(cols.bounded, _isnull(v_col), lvl2)
        known = total([exp.Coalesce(this=p.copy(), expressions=[_num(0)]) for p in points])
        mask = total([_case([(_isnull(p), _int(1 << i))], _int(0))
                      for i, p in enumerate(points)]) if points else _int(0)
        k_col, _ = blk.add(f"__s{s.nid}_known", known, level)
        m_col, _ = blk.add(f"__s{s.nid}_mask", mask, level)
        bands = s.bands
        key = self._band_table(s, options, k_col, m_col, v_col)
        if key is None:
            key = self._band_cases(s, options, len(points), k_col, m_col, v_col)
        key_col, lk = blk.add(f"__s{s.nid}_key", key, max(lvl2, level + 1))
        code = _case([(exp.EQ(this=key_col.copy(), expression=_int(i)), _str(b.action.code))
                      for i, b in enumerate(bands) if b.action is not None], exp.Null()) \
            if any(b.action is not None for b in bands) else exp.cast(exp.Null(),
                                                                    exp.DataType.Type.VARCHAR)
        blk.add(cols.code, code, lk)

    def _band(self, s: n.Score) -> Any:
        """The band key of a total, in Python (the engine's own matchers)."""
        from spinerules.engine.compile import Compiler

        py = Compiler(self.checked)
        tests = [(py.matcher(b.pattern, ts.NUMBER), i if b.action is not None else _NONE_KEY)
                 for i, b in enumerate(s.bands)]

        def band(total: float) -> int:
            for test, key in tests:
                if test(total):
                    return key
            return _NONE_KEY
        return band

    def _band_table(self, s: n.Score, options: list[tuple[float, ...]], k_col: exp.Expr,
                    m_col: exp.Expr, v_col: exp.Expr) -> exp.Expr | None:
        """The band a sum score falls in for certain, from a table made at compile time:
        for each set of unknown components (``mask``) and each total of the known ones
        (``known``), the keys of every total still reachable, decided when they agree
        (as the engine's ``SumBands``). Integral points only (else None)."""
        if not all(float(p).is_integer() for o in options for p in o):
            return None
        comps = [(o, (*o, 0.0)) for o in options]  # unknown: its arms; known: or no arm
        band = self._band(s)
        decided: dict[int, list[float]] = {}
        lowest = sum(min(0.0, *c[1]) for c in comps)
        highest = sum(max(0.0, *c[1]) for c in comps)
        width = highest - lowest + 1
        if (1 << len(comps)) * width > 1_000_000:
            return None
        for m in range(1 << len(comps)):
            knowns, offsets = {0.0}, {0.0}
            for i, (unknown_opts, known_opts) in enumerate(comps):
                if m >> i & 1:
                    offsets = {t + o for t in offsets for o in unknown_opts}
                else:
                    knowns = {t + o for t in knowns for o in known_opts}
            for k in knowns:
                keys = list(dict.fromkeys(band(k + o) for o in sorted(offsets)))
                key = keys[0] if len(keys) == 1 else _UNDECIDED_KEY
                decided.setdefault(key, []).append(m * width + (k - lowest))
        code = exp.Add(this=exp.Mul(this=exp.paren(m_col.copy()), expression=_num(width)),
                       expression=exp.paren(exp.Sub(this=k_col.copy(), expression=_num(lowest))))
        return _case([(exp.In(this=exp.paren(code.copy()),
                              expressions=[_num(x) for x in sorted(codes)]), _int(key))
                      for key, codes in decided.items() if key != _UNDECIDED_KEY],
                     _int(_UNDECIDED_KEY))

    def _band_cases(self, s: n.Score, options: list[tuple[float, ...]], count: int,
                    k_col: exp.Expr, m_col: exp.Expr,
                    v_col: exp.Expr) -> exp.Expr:
        """The same decision written out per mask (points that are not integral)."""
        bands = s.bands

        def band(t: exp.Expr) -> exp.Expr:
            return _case([(self.matcher(b.pattern, ts.NUMBER, t),
                           _int(i) if b.action is not None else _int(_NONE_KEY))
                          for i, b in enumerate(bands)], _int(_NONE_KEY))

        per_mask: list[tuple[exp.Expr, exp.Expr]] = []
        for m in range(1, 1 << count):
            totals = {0.0}
            for i, opts in enumerate(options):
                if m >> i & 1:
                    totals = {t + o for t in totals for o in opts}
            if len(totals) == 1:
                continue  # one reachable total: the value is known, decided below
            offsets = sorted(totals)
            keys = [band(exp.Add(this=k_col.copy(), expression=_num(o))) for o in offsets]
            same = _and(*[exp.EQ(this=keys[0].copy(), expression=k) for k in keys[1:]])
            per_mask.append((exp.EQ(this=m_col.copy(), expression=_int(m)),
                             _case([(same, keys[0])], _int(_UNDECIDED_KEY))))
        return _case([(_notnull(v_col), band(v_col.copy())), *per_mask], _int(_UNDECIDED_KEY))

    # ------------------------------------------------------------------ the query
    def compile(self) -> CompiledQuery:
        items = list(self.checked.program.items())
        self._owners(items, self.top, nested=False)
        rules: list[tuple[_Block, n.Rule, str]] = []
        scores: list[tuple[_Block, n.Score]] = []
        self._collect(items, self.top, rules, scores)
        rule_cols: dict[int, tuple[_Block, str]] = {}
        for blk, rule, _ in rules:
            if not self._wanted(rule):
                continue  # none of its outcomes is asked for: not computed
            try:
                parts: list[tuple[exp.Expr, int]] = []
                if rule.when is not None:
                    parts.append(self.expr(rule.when, blk, {}))
                for u in rule.unless:
                    x, lv = self.expr(u, blk, {})
                    parts.append((exp.not_(exp.paren(x, copy=False)), lv))
                cond = _and(*[p for p, _ in parts]) if parts else exp.true()
                name = f"__r{rule.nid}"
                blk.add(name, cond, max([0, *(lv for _, lv in parts)]))
                rule_cols[rule.nid] = (blk, name)
            except _Untranslatable as exc:
                self._problem(exc)
        # (a score a rule reads is computed for that rule in any case)
        for blk, s in scores if self._scores_wanted() else []:
            try:
                self.score(s.nid, blk)
            except _Untranslatable as exc:
                self._problem(exc)
        if self.problems:
            raise TranslationError(self.problems, self.checked.program.texts)
        for blk, pack in self._packs:
            if not pack.terms:
                continue
            if blk is self.top:  # read from the exploded list (``_quantified``)
                del blk.cols[pack.column]
            else:
                blk.cols[pack.column] = (pack.build(), blk.cols[pack.column][1])
        return self._assemble(rules, scores, rule_cols)

    def _quantified(self) -> tuple[list[tuple[str, exp.Expr]], exp.Expr]:
        """The top level's packs of quantifiers, each list's read as rows: the list
        exploded (``UNNEST``, one row per element), each pack's bits OR-ed per patient
        (``bit_or``, ``GROUP BY __row``, ``__quant0``); the CTEs, and the relation the top
        level reads: the patients with these columns joined (``LEFT JOIN ... USING
        (__row)``: a patient whose list is empty or NULL has no row there, and NULL packs,
        as ``list_bit_or`` gives). On ``spine`` (22 quantifiers over ``fractures``) this is
        about a sixth cheaper than reading the list with lambdas: a lambda's body is not
        evaluated as cheaply as a projection's columns (``benchmarks/population.py``)."""
        by_source: dict[str, list[_Pack]] = {}
        for blk, pack in self._packs:
            if blk is self.top and pack.terms:
                by_source.setdefault(pack.source.sql(dialect=self.dialect), []).append(pack)
        ctes: list[tuple[str, exp.Expr]] = []
        rel: exp.Expr = _t(self.relation)
        for packs in by_source.values():
            name = f"__quant{len(ctes)}"
            aggs = [exp.alias_(p.aggregate(), _q(p.column), quoted=True) for p in packs]
            # the record's fields the conditions read, beside the element (not the
            # parameters of lambdas inside them)
            params = {i.name for a in aggs for lam in a.find_all(exp.Lambda)
                      for i in lam.expressions}
            fields = dict.fromkeys(c.name for a in aggs for c in a.find_all(exp.Column)
                                   if not c.table and c.name not in params | {"__e"})
            each = exp.select(_col("__row"), *[_col(f) for f in fields], exp.alias_(
                exp.Explode(this=packs[0].source.copy()), _q("__e"), quoted=True),
                copy=False).from_(_t(self.relation), copy=False)
            ctes.append((name, exp.select(_col("__row"), *aggs, copy=False)
                .from_(exp.Subquery(this=each, alias=exp.TableAlias(this=_q("__each"))),
                       copy=False).group_by(_col("__row"), copy=False)))
        if not ctes:
            return ctes, rel
        joined = exp.select(exp.Star(), copy=False).from_(rel, copy=False)
        for name, _ in ctes:
            joined = joined.join(_t(name), using=[_q("__row")], join_type="LEFT", copy=False)
        ctes.append(("__top0", joined))
        return ctes, _t("__top0")

    def _wanted(self, rule: n.Rule) -> bool:
        """Some outcome of ``rule`` is among the outputs asked for."""
        if "fired" in self.outputs or "undetermined" in self.outputs:
            return True
        kinds = {a.kind == "request" for a in rule.actions}
        return ("codes" in self.outputs and False in kinds) or \
            ("missing" in self.outputs and True in kinds)

    def _scores_wanted(self) -> bool:
        return "codes" in self.outputs or "scores" in self.outputs

    def _problem(self, exc: _Untranslatable) -> None:
        self.problems.append(dg.make("SR701", exc.node.span, what=exc.what,
                                     hints=(exc.hint,) if exc.hint else ()))

    def _owners(self, items: list[n.Item] | tuple[n.Item, ...], blk: _Block,
                nested: bool) -> None:
        for item in items:
            if isinstance(item, n.Define | n.Score):
                self.owner[item.nid] = blk
            elif isinstance(item, n.For):
                if nested:
                    self.problems.append(dg.make(
                        "SR701", item.span, what="a `for` block inside a `for` block",
                        hints=("move the inner block's rules to a quantifier",)))
                    continue
                # every `for` over the same list of the patient shares one block: the
                # list is exploded once, and its outcomes aggregated once
                ref = self.checked.refs.get(item.source.nid)
                key = ref.fields if isinstance(ref, FieldRef) and ref.root == "patient" \
                    else item.nid
                inner = self._by_source.get(key)
                if inner is None:
                    inner = self._by_source[key] = _Block(item.nid, var=item.var, loop=item)
                    self.blocks.append(inner)
                inner.names.add(item.var)
                self._loop_block[item.nid] = inner
                self._owners(item.items, inner, nested=True)

    def _collect(self, items: list[n.Item] | tuple[n.Item, ...], blk: _Block,
                 rules: list[tuple[_Block, n.Rule, str]],
                 scores: list[tuple[_Block, n.Score]]) -> None:
        for item in items:
            if isinstance(item, n.Rule):
                rules.append((blk, item, item.span.location()))
            elif isinstance(item, n.Score):
                scores.append((blk, item))
            elif isinstance(item, n.For):
                inner = self._loop_block.get(item.nid)
                if inner is None:  # (a nested block: already a diagnostic)
                    continue
                if not isinstance(self.checked.refs.get(item.source.nid), FieldRef) or \
                        self.checked.refs[item.source.nid].root != "patient":  # type: ignore[union-attr]
                    self.problems.append(dg.make(
                        "SR701", item.source.span, what="a `for` over a list that is not "
                        "a field of the patient record"))
                    continue
                self._collect(item.items, inner, rules, scores)

    def _levels(self, blk: _Block, source: exp.Expr, prefix: str
                ) -> tuple[list[tuple[str, exp.Expr]], str]:
        """The CTEs computing a block's columns, level by level; the last one's name."""
        ctes: list[tuple[str, exp.Expr]] = []
        top = max((lv for _, lv in blk.cols.values()), default=0)
        prev = source
        name = ""
        for level in range(1, top + 1):
            cols = [exp.alias_(e, _q(c), quoted=True) for c, (e, lv) in blk.cols.items()
                    if lv == level]
            if not cols:
                continue
            name = f"{prefix}{level}"
            ctes.append((name, exp.select(exp.Star(), *cols, copy=False).from_(prev, copy=False)))
            prev = _t(name)
        return ctes, name

    def _kept(self, top_rel: str, readers: list[exp.Expr]) -> exp.Expr:
        """The columns of the top level that ``readers`` (the final select, the loops'
        relations) read: ``__row``, fields of the record, the top level's columns."""
        outer = {"__row", *self.top.cols, *(f.name for f in attrs.fields(self.checked.record)),
                 *(p.column for b, p in self._packs if b is self.top)}
        names: dict[str, None] = {"__row": None}
        for e in readers:
            for c in e.find_all(exp.Column):
                if c.table in ("", "t") and c.name in outer:
                    names[c.name] = None
        return exp.select(*[_col(c) for c in names], copy=False).from_(_t(top_rel), copy=False)

    def _explode(self, source_sql: exp.Expr, frm: str) -> exp.Expr:
        if self.dialect == "spark":
            sel = sqlglot.parse_one(
                f"SELECT *, POSEXPLODE(x) AS (`__i`, `__e`) FROM `{frm}`", dialect="spark")
            sel.find(exp.Posexplode).set("this", source_sql)  # type: ignore[union-attr]
            return sel
        size = exp.ArraySize(this=source_sql.copy())
        series = exp.func("generate_series", _int(0), exp.Sub(this=size, expression=_int(1)))
        # the element's position names the loop's scores only: not made when not asked for
        position = [exp.alias_(exp.Explode(this=series), _q("__i"), quoted=True)] \
            if "scores" in self.outputs else []
        return exp.select(
            exp.Star(),
            exp.alias_(exp.Explode(this=source_sql.copy()), _q("__e"), quoted=True),
            *position, copy=False).from_(_t(frm), copy=False)

    def _assemble(self, rules: list[tuple[_Block, n.Rule, str]],
                  scores: list[tuple[_Block, n.Score]],
                  rule_cols: dict[int, tuple[_Block, str]]) -> CompiledQuery:
        ctes, source = self._quantified()
        levels, last = self._levels(self.top, source, "__top")
        ctes += levels
        top_rel = last or source.name
        # with loops, the top level is read twice (the final select, each loop's explode):
        # both read `__kept`, the columns they need of it only (made below)
        n_top, kept = len(ctes), ("__kept" if len(self.blocks) > 1 else top_rel)
        # ---- per code / request / rule: the top level's booleans, and each loop's
        # aggregates (1 when some element has it)
        code_src: dict[str, list[exp.Expr]] = {}
        request_src: dict[str, list[exp.Expr]] = {}
        fired_src: dict[str, list[exp.Expr]] = {}
        unknown_src: dict[str, list[exp.Expr]] = {}
        score_parts: list[tuple[exp.Expr, bool]] = []
        rule_info: list[RuleInfo] = []
        score_info: list[ScoreInfo] = []
        loops: list[tuple[_Block, str]] = []
        for blk, rule, loc in rules:
            acts = [a for a in rule.actions if a.kind != "request"]
            reqs = [a for a in rule.actions if a.kind == "request"]
            rule_info.append(RuleInfo(rule.rule_id, loc, tuple(a.code for a in acts),
                                      tuple(a.code for a in reqs), blk is not self.top))
        for blk, s in scores:
            score_info.append(ScoreInfo(s.name, s.span.location(), blk is not self.top, tuple(
                (_pattern_text(b.pattern), b.action.code if b.action is not None else None)
                for b in (*s.arms, *s.bands))))

        def struct(name: exp.Expr, cols: _ScoreCols) -> exp.Expr:
            return exp.Struct(expressions=[
                exp.PropertyEQ(this=_q("name"), expression=name),
                exp.PropertyEQ(this=_q("value"), expression=_col(cols.value)),
                exp.PropertyEQ(this=_q("low"), expression=_col(cols.low)),
                exp.PropertyEQ(this=_q("high"), expression=_col(cols.high))])

        def note(src: dict[str, list[exp.Expr]], key: str, e: exp.Expr) -> None:
            src.setdefault(key, []).append(e)

        # the top level
        top_scores = []
        for blk, rule, _ in rules:
            if blk is not self.top or rule.nid not in rule_cols:
                continue
            r = _col(rule_cols[rule.nid][1])
            for a in rule.actions:
                note(request_src if a.kind == "request" else code_src, a.code, r)
            note(fired_src, rule.rule_id, r.copy())
            note(unknown_src, rule.rule_id, _isnull(r))
        for blk, s in scores if self._scores_wanted() else []:
            if blk is not self.top:
                continue
            cols = self.scores_cols(s.nid)
            for code in _score_codes(s):
                note(code_src, code, exp.EQ(this=_col(cols.code), expression=_str(code)))
            top_scores.append(struct(_str(s.name), cols))
        if top_scores:
            score_parts.append((exp.Array(expressions=top_scores), False))
        # each loop: explode, compute, aggregate
        for li, blk in enumerate(b for b in self.blocks if b is not self.top):
            assert blk.loop is not None
            src, _ = self.path(blk.loop.source, self.top, {})  # type: ignore[arg-type]
            exploded = f"__each{li}"
            ctes.append((exploded, self._explode(src, kept)))
            inner, last_inner = self._levels(blk, _t(exploded), f"__loop{li}_")
            ctes.extend(inner)
            rel = last_inner or exploded
            aggs: list[exp.Expr] = [_col("__row")]
            names = ".".join(blk.loop.source.names[1:])  # type: ignore[union-attr]
            k = itertools.count()
            agg_name = f"__agg{li}"

            def flag(cond: exp.Expr) -> exp.Expr:
                """TRUE when ``cond`` is for some element (NULLs are left out: FALSE or
                NULL otherwise, both not TRUE where it is read)."""
                return exp.LogicalOr(this=exp.paren(cond, copy=False))

            def agg(e: exp.Expr, aggs: list[exp.Expr] = aggs, k: Any = k,
                    agg_name: str = agg_name) -> exp.Expr:
                name = f"__a{next(k)}"
                aggs.append(exp.alias_(e, _q(name), quoted=True))
                return exp.column(_q(name), table=_q(agg_name))

            listed = _isnull(src.copy())  # the list itself is unknown
            for b2, rule, _ in rules:
                if b2 is not blk or rule.nid not in rule_cols:
                    continue
                r = _col(rule_cols[rule.nid][1])
                fired = agg(flag(r))
                for a in rule.actions:
                    note(request_src if a.kind == "request" else code_src, a.code, fired)
                note(fired_src, rule.rule_id, fired.copy())
                if "undetermined" not in self.outputs:
                    continue
                unk = agg(flag(_isnull(r)))
                note(unknown_src, rule.rule_id, _or(listed.copy(), unk))
            loop_scores = []
            for b2, s in scores if self._scores_wanted() else []:
                if b2 is not blk:
                    continue
                cols = self.scores_cols(s.nid)
                for code in _score_codes(s):
                    note(code_src, code, agg(flag(exp.EQ(
                        this=_col(cols.code), expression=_str(code)))))
                first = exp.EQ(this=_col("__i"), expression=_int(0))
                later = exp.func("CONCAT", _str(f"{s.name}@{names}["), exp.cast(
                    _col("__i"), exp.DataType.Type.VARCHAR), _str("]"))
                loop_scores.append(struct(_case([(first, _str(s.name))], later), cols))
            if loop_scores and "scores" in self.outputs:
                lists = [exp.ArrayAgg(this=x) for x in loop_scores]
                joined: exp.Expr = lists[0]
                for x in lists[1:]:
                    joined = exp.ArrayConcat(this=joined, expressions=[x])
                score_parts.append((agg(joined), True))
            ctes.append((agg_name, exp.select(*aggs, copy=False).from_(
                _t(rel), copy=False).group_by(_col("__row"), copy=False)))
            loops.append((blk, agg_name))

        def present(src: dict[str, list[exp.Expr]]) -> exp.Expr:
            # each key's conditions are Kleene (NULL: not decided): the key is present
            # when one is TRUE
            if not src:
                return exp.cast(exp.Array(expressions=[]), exp.DataType.build(
                    "ARRAY<VARCHAR>", dialect=self.dialect))
            if self.dialect == "duckdb":  # a constant list masked: no lambda per row
                return exp.func("list_where", exp.Array(expressions=[
                    _str(k) for k in src]), exp.Array(expressions=[
                        _true(_or(*conds)) for conds in src.values()]))
            items = [_case([(_or(*conds), _str(key))]) for key, conds in src.items()]
            fn = exp.Lambda(this=_notnull(exp.column("x")), expressions=[exp.to_identifier("x")])
            return exp.ArrayFilter(this=exp.Array(expressions=items), expression=fn)

        scores_e: exp.Expr = exp.Null()
        for part, nullable in score_parts:
            if isinstance(scores_e, exp.Null):
                scores_e = part
            elif nullable:
                scores_e = _case([(_isnull(part), scores_e)],
                                 exp.ArrayConcat(this=scores_e.copy(), expressions=[part]))
            else:
                scores_e = exp.ArrayConcat(this=scores_e, expressions=[part])
        has_id = "id" in {f.name for f in attrs.fields(self.checked.record)}
        outputs = [
            exp.column(_q("__row"), table=_q("t")),
            exp.alias_(exp.column(_q("id"), table=_q("t")) if has_id else exp.cast(
                exp.Null(), exp.DataType.Type.VARCHAR), _q("patient"), quoted=True),
        ]
        columns = {"codes": lambda: present(code_src), "missing": lambda: present(request_src),
                   "fired": lambda: present(fired_src),
                   "undetermined": lambda: present(unknown_src), "scores": lambda: scores_e}
        outputs += [exp.alias_(columns[o](), _q(o), quoted=True) for o in self.outputs]
        select = exp.select(*outputs, copy=False).from_(
            exp.Table(this=_q(kept), alias=exp.TableAlias(this=_q("t"))), copy=False)
        for _, agg_name in loops:
            select = select.join(_t(agg_name), on=exp.EQ(
                this=exp.column(_q("__row"), table=_q("t")),
                expression=exp.column(_q("__row"), table=_q(agg_name))), join_type="LEFT",
                copy=False)
        if kept != top_rel:
            ctes.insert(n_top, (kept, self._kept(top_rel, [select, *(b for _, b in ctes[n_top:])])))
        # DuckDB: `__kept` is computed once and kept (MATERIALIZED), the top levels under
        # it inlined into it (else DuckDB keeps the first level, with every column of the
        # record, and computes the levels above it twice). Spark has no such hint.
        keep = self.dialect == "duckdb" and kept != top_rel
        for name, body in ctes:
            hint = (name == kept) if keep and name.startswith(("__top", kept)) else None
            select = select.with_(_q(name), as_=body, materialized=hint, copy=False)
        return CompiledQuery(
            guideline=self.guideline, dialect=self.dialect, as_of=self.as_of,
            relation=self.relation, expression=select, rules=tuple(rule_info),
            scores=tuple(score_info), codes=tuple(code_src), requests=tuple(request_src))

    def scores_cols(self, nid: int) -> _ScoreCols:
        return _ScoreCols(*(f"__s{nid}_{k}" for k in ("v", "lo", "hi", "b", "code")))


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _decide_between(op: str, low: exp.Expr, high: exp.Expr,
                    b: exp.Expr) -> exp.Expr:
    """``x op b`` for every ``x`` in ``low..high``: TRUE, FALSE or NULL (``values``)."""
    if op in ("==", "!="):
        out = exp.true() if op == "!=" else exp.false()
        back = exp.false() if op == "!=" else exp.true()
        return _case([(_or(exp.LT(this=b.copy(), expression=low.copy()),
                           exp.GT(this=b.copy(), expression=high.copy())), out),
                      (_and(exp.EQ(this=low.copy(), expression=high.copy()),
                            exp.EQ(this=high.copy(), expression=b.copy())), back)],
                     exp.Null())
    at_low, at_high = _cmp(op, low.copy(), b.copy()), _cmp(op, high.copy(), b.copy())
    return _case([(exp.EQ(this=exp.paren(at_low, copy=False),
                          expression=exp.paren(at_high, copy=False)), at_low.copy())],
                 exp.Null())


def _score_codes(s: n.Score) -> list[str]:
    return list(dict.fromkeys(a.action.code for a in (*s.arms, *s.bands)
                              if a.action is not None))


def _pattern_text(p: n.Pattern) -> str:
    def one(v: n.Expr) -> str:
        if isinstance(v, n.Number):
            return (v.text or f"{v.value:g}") + (f" {v.unit}" if v.unit and not v.text else "")
        if isinstance(v, n.Path):
            return ".".join(v.names)
        if isinstance(v, n.String):
            return repr(v.value)
        return str(getattr(v, "value", "?"))
    if p.kind == "else":
        return "else"
    if p.kind == "range":
        return f"{one(p.values[0])} .. {one(p.values[1])}"
    if p.kind == "cmp":
        return f"{p.op} {one(p.values[0])}"
    if p.kind == "set":
        return "[" + ", ".join(one(v) for v in p.values) + "]"
    return one(p.values[0])


def compile_guideline(guideline: Any, *, dialect: str = "duckdb",
                      as_of: datetime.date, relation: str = "patients",
                      outputs: tuple[str, ...] = OUTPUTS) -> CompiledQuery:
    """The query of a loaded ``Guideline`` (raises ``TranslationError`` with located
    diagnostics when some construct cannot be translated). ``outputs``: the result
    columns wanted after ``__row`` and ``patient`` (some of ``OUTPUTS``); ``("codes",)``
    is what ``Guideline.codes`` gives, and the query then computes nothing else (the
    rules that only request, the scores' ranges, the per-rule outcomes are left out)."""
    return SqlCompiler(guideline.checked, guideline=guideline.id, dialect=dialect,
                       as_of=as_of, relation=relation, outputs=outputs).compile()
