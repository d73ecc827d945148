"""Static checks of an assembled guideline: names, sources, types, scores, consistency.

The result is a ``Checked`` with side tables keyed by node id: ``types`` (the type of
every expression) and ``refs`` (what every name refers to), which the compiler uses so
that nothing is looked up at run time.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from spinerules.checker import typesys as ts
from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.resolve import Program
from spinerules.lang.source import Span
from spinerules.lang.units import UNITS, format_quantity

# --------------------------------------------------------------------- references


@attrs.frozen
class FieldRef:
    """``root.f1.f2``: root is ``patient`` or a loop variable."""

    root: str
    fields: tuple[str, ...]


@attrs.frozen
class DefineRef:
    nid: int
    name: str


@attrs.frozen
class ScoreRef:
    nid: int
    name: str


@attrs.frozen
class VarRef:
    name: str


@attrs.frozen
class EnumRef:
    member: enum.Enum


Ref = FieldRef | DefineRef | ScoreRef | VarRef | EnumRef

ACTION_KINDS = ("recommend", "consider", "advise_against", "warn", "classify", "request")
STRENGTHS = ("strong", "moderate", "conditional", "weak", "expert_opinion", "informational")
URGENCIES = ("critical", "urgent", "soon", "routine")


@attrs.frozen(kw_only=True)
class Checked:
    """A program with its side tables; ``ok`` when no error was found."""

    program: Program
    record: type
    types: dict[int, ts.Type]
    refs: dict[int, Ref]
    sources: dict[str, n.Source]
    defines: dict[int, n.Define]
    scores: dict[int, n.Score]
    codes: dict[str, str]  # code -> action kind
    diagnostics: tuple[dg.Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


class _Scope:
    """Names visible at one place: loop variables, then local and global items."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent = parent
        self.vars: dict[str, ts.Type] = {}
        self.defines: dict[str, n.Define] = {}
        self.scores: dict[str, n.Score] = {}

    def lookup(self, name: str) -> tuple[str, Any] | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return "var", scope.vars[name]
            if name in scope.defines:
                return "define", scope.defines[name]
            if name in scope.scores:
                return "score", scope.scores[name]
            scope = scope.parent
        return None

    def names(self) -> Iterator[str]:
        scope: _Scope | None = self
        while scope is not None:
            yield from scope.vars
            yield from scope.defines
            yield from scope.scores
            scope = scope.parent


class Checker:
    """One pass over every item; collects diagnostics and fills the side tables."""

    def __init__(self, program: Program, record: type) -> None:
        self.program = program
        self.record = record
        self.diags: list[dg.Diagnostic] = []
        self.types: dict[int, ts.Type] = {}
        self.refs: dict[int, Ref] = {}
        self.sources: dict[str, n.Source] = {}
        self.define_nodes: dict[int, n.Define] = {}
        self.score_nodes: dict[int, n.Score] = {}
        self.define_types: dict[int, ts.Type] = {}
        self.define_scope: dict[int, _Scope] = {}
        self.visiting: list[n.Define] = []
        self.used_defines: set[int] = set()
        self.codes: dict[str, tuple[str, Span]] = {}
        self.rule_ids: dict[str, Span] = {}
        self.recommended: dict[str, Span] = {}
        self.advised_against: dict[str, Span] = {}

    def error(self, which: str, span: Span, /, **kw: Any) -> None:
        self.diags.append(dg.make(which, span, **kw))

    # ------------------------------------------------------------------ driver
    def run(self) -> Checked:
        items = list(self.program.items())
        for item in items:
            if isinstance(item, n.Source):
                if item.key in self.sources:
                    self.error("SR207", item.span, name=item.key)
                    continue
                self.sources[item.key] = item
                if not item.title:
                    self.error("SR219", item.span, name=item.key)
                if not (item.doi or item.pmid or item.url):
                    self.error("SR215", item.span, name=item.key)
        top = _Scope()
        self.declare(items, top)
        for item in items:
            self.item(item, top)
        self.score_cycles()
        self.after(items)
        for d in self.define_nodes.values():
            if d.nid not in self.used_defines:
                self.error("SR217", d.span, name=d.name)
        return Checked(
            program=self.program, record=self.record, types=self.types, refs=self.refs,
            sources=self.sources, defines=self.define_nodes, scores=self.score_nodes,
            codes={k: v[0] for k, v in self.codes.items()},
            diagnostics=tuple(dg.sort_and_cap(self.diags)),
        )

    def declare(self, items: Iterable[n.Item], scope: _Scope) -> None:
        """Make a block's defines and scores visible before any is checked (any order)."""
        for item in items:
            if not isinstance(item, n.Define | n.Score):
                continue
            if isinstance(item, n.Define):
                # every define is type-checked, even a duplicate, in this scope
                self.define_scope[item.nid] = scope
            if item.name in scope.defines or item.name in scope.scores:
                self.error("SR203", item.span, name=item.name)
                continue
            if scope.parent is not None and scope.parent.lookup(item.name) is not None:
                self.error("SR220", item.span, name=item.name)
                continue
            if isinstance(item, n.Define):
                scope.defines[item.name] = item
                self.define_nodes[item.nid] = item
            else:
                scope.scores[item.name] = item
                self.score_nodes[item.nid] = item

    # ------------------------------------------------------------------ items
    def item(self, item: n.Item, scope: _Scope) -> None:
        if isinstance(item, n.Define):
            self.define_type(item)
        elif isinstance(item, n.Rule):
            self.rule(item, scope)
        elif isinstance(item, n.Score):
            self.score(item, scope)
        elif isinstance(item, n.For):
            self.for_(item, scope)
        elif isinstance(item, n.Header):
            self.header(item)
        elif isinstance(item, n.Invariant) and item.when is not None:
            self.condition(item.when, scope)

    def header(self, h: n.Header) -> None:
        if h.status is not None and h.status not in ("draft", "active", "retired"):
            self.error("SR221", h.span, what="status", value=h.status,
                       detail="expected draft, active or retired")

    def for_(self, loop: n.For, scope: _Scope) -> None:
        source_t = self.expr(loop.source, scope)
        inner = _Scope(scope)
        if scope.lookup(loop.var) is not None or loop.var == "patient":
            self.error("SR220", loop.span, name=loop.var)
        if isinstance(source_t, ts.ListT):
            inner.vars[loop.var] = source_t.elem
        else:
            if not isinstance(source_t, ts.ErrorT):
                self.error("SR305", loop.source.span, found=str(source_t))
            inner.vars[loop.var] = ts.ERROR
        self.declare(loop.items, inner)
        for item in loop.items:
            self.item(item, inner)

    def define_type(self, d: n.Define) -> ts.Type:
        if d.nid in self.define_types:
            return self.define_types[d.nid]
        if d in self.visiting:
            cycle = " -> ".join(x.name for x in self.visiting[self.visiting.index(d):])
            self.error("SR205", d.span, cycle=f"{cycle} -> {d.name}")
            return ts.ERROR
        self.visiting.append(d)
        t = self.expr(d.expr, self.define_scope[d.nid])
        self.visiting.pop()
        self.define_types[d.nid] = t
        return t

    def rule(self, rule: n.Rule, scope: _Scope) -> None:
        if rule.rule_id in self.rule_ids:
            self.error("SR202", rule.span, name=rule.rule_id,
                       notes=(f"first used at {self.rule_ids[rule.rule_id].location()}",))
        else:
            self.rule_ids[rule.rule_id] = rule.span
        if rule.when is not None:
            self.condition(rule.when, scope)
        for u in rule.unless:
            self.condition(u, scope)
        for action in rule.actions:
            self.action(action, action.cites, action.against)

    def condition(self, expr: n.Expr, scope: _Scope) -> None:
        t = self.expr(expr, scope)
        if not isinstance(t, ts.BoolT | ts.ErrorT):
            self.error("SR302", expr.span, found=str(t))

    def action(self, a: n.Action, cites: tuple[n.Citation, ...],
               against: tuple[n.Citation, ...]) -> None:
        if not cites:
            self.error("SR208", a.span, kind=a.kind, code=a.code)
        self.citations((*cites, *against))
        if a.strength is not None and a.strength not in STRENGTHS:
            self.error("SR221", a.span, what="strength", value=a.strength,
                       detail="expected " + ", ".join(STRENGTHS),
                       hints=dg.did_you_mean(a.strength, STRENGTHS))
        if a.urgency is not None and a.urgency not in URGENCIES:
            self.error("SR221", a.span, what="urgency", value=a.urgency,
                       detail="expected " + ", ".join(URGENCIES),
                       hints=dg.did_you_mean(a.urgency, URGENCIES))
        previous = self.codes.get(a.code)
        if previous is None:
            self.codes[a.code] = (a.kind, a.span)
        elif previous[0] != a.kind and {previous[0], a.kind} != {"recommend", "advise_against"} \
                and not ({previous[0], a.kind} <= {"recommend", "consider"}):
            self.error("SR403", a.span, code=a.code, first=previous[0], second=a.kind,
                       notes=(f"first used at {previous[1].location()}",))
        if a.kind in ("recommend", "consider"):
            self.recommended.setdefault(a.code, a.span)
        if a.kind == "advise_against":
            self.advised_against.setdefault(a.code, a.span)

    def citations(self, cites: Iterable[n.Citation]) -> None:
        for c in cites:
            if c.key not in self.sources:
                self.error("SR206", c.span, name=c.key, hints=dg.did_you_mean(c.key, self.sources))

    # ------------------------------------------------------------------ scores
    def score(self, s: n.Score, scope: _Scope) -> None:
        actions = [arm.action for arm in (*s.arms, *s.bands) if arm.action is not None]
        for a in actions:
            self.action(a, s.cites, s.against)
        if not actions:  # a score with no action still cites its sources
            self.citations((*s.cites, *s.against))
        for arm in (*s.arms, *s.bands, *(a for c in s.components for a in c.arms)):
            self.points(arm)
        if s.source is not None:
            input_t = self.expr(s.source, scope)
            self.patterns(s, s.arms, input_t, ordered_arms=True)
            return
        totals: set[float] = {0.0}
        for comp in s.components:
            comp_t = self.expr(comp.source, scope)
            self.patterns(s, comp.arms, comp_t, ordered_arms=True)
            points = {arm.points for arm in comp.arms}
            totals = {a + b for a in totals for b in points} if points else totals
            if len(totals) > 100_000:  # pragma: no cover - absurdly large scores
                break
        self.bands(s, totals)

    def points(self, arm: n.Arm) -> None:
        """Points too large for a float (``-> 999...9``) are refused like number literals."""
        if math.isfinite(arm.points):
            return
        span, text = arm.span, f"{arm.points}"
        source = self.program.texts.get(arm.span.source)
        if source is not None:
            m = re.search(r"->\s*(-?\d+(?:\.\d+)?)", source.slice(arm.span))
            if m:
                start = arm.span.start + m.start(1)
                span, text = source.span(start, start + len(m.group(1))), m.group(1)
        self.too_large(span, text)

    def too_large(self, span: Span, text: str) -> None:
        shown = text if len(text) <= 24 else f"{text[:10]}...{text[-10:]}"
        self.error("SR112", span, text=shown,
                   notes=("numbers (converted to days for durations) stay below about "
                          "1.8e308",))

    def score_cycles(self) -> None:
        """Scores, and the defines between them, that depend on themselves (SR205).

        Cycles of defines alone are reported by ``define_type``; a score refers to another
        score without checking it, so those cycles are found here, on the reference graph.
        """
        nodes: dict[int, n.Define | n.Score] = {**self.define_nodes, **self.score_nodes}
        deps: dict[int, list[int]] = {}
        for nid, node in nodes.items():
            roots = [node.expr] if isinstance(node, n.Define) else [
                e for e in (node.source, *(c.source for c in node.components)) if e is not None]
            deps[nid] = list(dict.fromkeys(
                r.nid for r in _refs_in(roots, self.refs) if r.nid in nodes))
        state: dict[int, bool] = {}  # True while on the current path, False when done
        for first in sorted(nodes, key=lambda k: (nodes[k].span.source, nodes[k].span.start)):
            if first in state:
                continue
            path, todo = [first], [iter(deps[first])]
            state[first] = True
            while todo:
                nxt = next(todo[-1], None)
                if nxt is None:
                    state[path.pop()] = False
                    todo.pop()
                elif state.get(nxt) is True:
                    cycle = path[path.index(nxt):]
                    if any(c in self.score_nodes for c in cycle):
                        names = " -> ".join(nodes[c].name for c in (*cycle, nxt))
                        self.error("SR205", nodes[nxt].span, cycle=names)
                elif nxt not in state:
                    state[nxt] = True
                    path.append(nxt)
                    todo.append(iter(deps[nxt]))

    def patterns(self, s: n.Score, arms: tuple[n.Arm, ...], input_t: ts.Type,
                 ordered_arms: bool) -> None:
        seen_else = False
        bad_value = False
        for arm in arms:
            p = arm.pattern
            if seen_else:
                self.error("SR313", p.span)
            if p.kind == "else":
                seen_else = True
                continue
            if p.kind in ("cmp", "range") and not ts.is_ordered(input_t):
                self.error("SR312", p.span, op=p.op or "..", found=str(input_t))
            for v in p.values:
                vt = self.expr(v, _Scope(), expected=input_t)
                bad_value = bad_value or isinstance(vt, ts.ErrorT)
                if not ts.compatible(input_t, vt):
                    self.unit_mismatch("SR310", v.span, input_t, vt, pattern=True)
        if seen_else or bad_value or isinstance(input_t, ts.ErrorT):
            return
        if isinstance(input_t, ts.EnumT | ts.BoolT):
            covered = {self.literal(v) for arm in arms for v in arm.pattern.values}
            domain: list[Any] = list(input_t.cls) if isinstance(input_t, ts.EnumT) \
                else [True, False]
            missing = [m for m in domain if m not in covered]
            if missing and arms:
                self.error("SR309", s.span, name=s.name,
                           detail="no arm for " + ", ".join(f"`{_show(m)}`" for m in missing),
                           hints=("add the missing values or an `else` arm",))
        elif isinstance(input_t, ts.NumberT | ts.QuantityT):
            self.numeric_gaps(s, arms, input_t)

    def literal(self, v: n.Expr) -> Any:
        ref = self.refs.get(v.nid)
        if isinstance(ref, EnumRef):
            return ref.member
        if isinstance(v, n.Number):
            return UNITS[v.unit][1] * v.value if v.unit else v.value
        if isinstance(v, n.String | n.Bool):
            return v.value
        return None

    def matches(self, p: n.Pattern, x: Any) -> bool:
        vals = [self.literal(v) for v in p.values]
        if any(v is None for v in vals):
            return False
        if p.kind == "else":
            return True
        if p.kind == "eq":
            return bool(x == vals[0])
        if p.kind == "set":
            return x in vals
        if p.kind == "range":
            return bool(vals[0] <= x <= vals[1])
        op = p.op
        return bool({"<": x < vals[0], "<=": x <= vals[0], ">": x > vals[0], ">=": x >= vals[0],
                     "==": x == vals[0], "!=": x != vals[0]}[op or "=="])

    def numeric_gaps(self, s: n.Score, arms: tuple[n.Arm, ...], t: ts.Type) -> None:
        bounds = sorted({float(self.literal(v)) for a in arms for v in a.pattern.values
                         if isinstance(self.literal(v), int | float)})
        if not bounds:
            return
        probes: list[float] = []
        for i, b in enumerate(bounds):
            eps = max(1e-6, abs(b) * 1e-6)
            probes += [b - eps, b, b + eps]
            if i + 1 < len(bounds):
                probes.append((b + bounds[i + 1]) / 2)
        for x in probes:
            if not any(self.matches(a.pattern, x) for a in arms):
                shown = format_quantity(x, t.unit) if isinstance(t, ts.QuantityT) \
                    and t.unit in UNITS else f"{x:.6g}"
                self.error("SR309", s.span, name=s.name,
                           detail=f"an input near {shown} matches no arm",
                           hints=("add an `else` arm or close the gap",))
                return

    def bands(self, s: n.Score, totals: set[float]) -> None:
        bad_value = False
        for b in s.bands:
            for v in b.pattern.values:
                vt = self.expr(v, _Scope(), expected=ts.NUMBER)
                bad_value = bad_value or isinstance(vt, ts.ErrorT)
                if not ts.compatible(ts.NUMBER, vt):
                    self.error("SR310", v.span, found=str(vt), expected="Number")
        if bad_value or not all(math.isfinite(t) for t in totals):
            return  # reported already (SR112 and the like)
        for total in sorted(totals):
            hits = [b for b in s.bands if self.matches(b.pattern, total)]
            shown = f"{total:g}"
            if len(hits) > 1:
                self.error("SR308", hits[1].span, name=s.name,
                           detail=f"a total of {shown} falls in more than one band",
                           notes=(f"also matched by the band at line {hits[0].span.line}",))
                return
            if not hits and s.bands:
                self.error("SR309", s.span, name=s.name,
                           detail=f"a total of {shown} falls in no band",
                           hints=("add a band for it",))
                return

    # ------------------------------------------------------------------ checks after
    def after(self, items: list[n.Item]) -> None:
        for code, span in self.advised_against.items():
            if code in self.recommended:
                self.error("SR401", span, code=code,
                           detail=f"also recommended at {self.recommended[code].location()}")

        def walk(xs: Iterable[n.Item]) -> Iterator[n.Item]:
            for x in xs:
                yield x
                if isinstance(x, n.For):
                    yield from walk(x.items)

        tests: dict[str, Span] = {}
        for item in walk(items):
            if isinstance(item, n.Invariant):
                for code in item.codes:
                    if code not in self.codes:
                        self.error("SR402", item.span, code=code,
                                   hints=dg.did_you_mean(code, self.codes))
            elif isinstance(item, n.Test):
                if item.name in tests:
                    self.error("SR216", item.span, name=item.name)
                tests[item.name] = item.span
                for code in (*item.expect, *item.expect_not, *item.expect_missing):
                    if code not in self.codes:
                        self.error("SR404", item.span, name=item.name, code=code,
                                   hints=dg.did_you_mean(code, self.codes))

    # ------------------------------------------------------------------ expressions
    def expr(self, e: n.Expr, scope: _Scope, expected: ts.Type | None = None) -> ts.Type:
        t = self._expr(e, scope, expected)
        self.types[e.nid] = t
        return t

    def _expr(self, e: n.Expr, scope: _Scope, expected: ts.Type | None) -> ts.Type:
        if isinstance(e, n.Number):
            factor = UNITS[e.unit][1] if e.unit in UNITS else 1.0
            if not math.isfinite(e.value * factor):
                self.too_large(e.span, e.text + (f" {e.unit}" if e.unit else ""))
                return ts.ERROR
            return ts.QuantityT(UNITS[e.unit][0], e.unit) if e.unit in UNITS else (
                ts.ERROR if e.unit else ts.NUMBER)
        if isinstance(e, n.Bool):
            return ts.BOOL
        if isinstance(e, n.String):
            return ts.STRING
        if isinstance(e, n.Date | n.Today):
            return ts.DATE
        if isinstance(e, n.Path):
            return self.path(e, scope, expected)
        if isinstance(e, n.BoolOp):
            for o in e.operands:
                self.condition(o, scope)
            return ts.BOOL
        if isinstance(e, n.Not):
            self.condition(e.operand, scope)
            return ts.BOOL
        if isinstance(e, n.IsKnown):
            self.expr(e.operand, scope)
            if not self.has_fact(e.operand):
                self.error("SR311", e.span, what="known" if e.known else "unknown")
            return ts.BOOL
        if isinstance(e, n.Compare):
            return self.compare(e, scope)
        if isinstance(e, n.InRange):
            vt = self.expr(e.value, scope)
            lo = self.expr(e.low, scope, expected=vt)
            hi = self.expr(e.high, scope, expected=vt)
            if not ts.is_ordered(vt):
                self.error("SR312", e.value.span, op="in", found=str(vt))
            for bound, bt in ((e.low, lo), (e.high, hi)):
                if not ts.compatible(vt, bt):
                    self.unit_mismatch("SR301", bound.span, vt, bt)
            a, b = self.literal(e.low), self.literal(e.high)
            if a is not None and b is not None:
                ka = a.cls_index if hasattr(a, "cls_index") else _order_key(a)
                kb = b.cls_index if hasattr(b, "cls_index") else _order_key(b)
                if ka is not None and kb is not None and ka > kb:
                    self.error("SR307", e.span, low=self.shown(e.low, a),
                               high=self.shown(e.high, b))
            return ts.BOOL
        if isinstance(e, n.InSet):
            vt = self.expr(e.value, scope)
            for item in e.items:
                it = self.expr(item, scope, expected=vt)
                if not ts.compatible(vt, it):
                    self.unit_mismatch("SR301", item.span, vt, it)
            return ts.BOOL
        if isinstance(e, n.Arith):
            return self.arith(e, scope)
        if isinstance(e, n.Neg):
            t = self.expr(e.operand, scope)
            if not isinstance(t, ts.NumberT | ts.QuantityT | ts.ErrorT):
                self.error("SR303", e.span, op="-", left=str(t), right=str(t))
                return ts.ERROR
            return t
        if isinstance(e, n.Quantifier):
            return self.quantifier(e, scope)
        raise AssertionError(f"unknown node {e!r}")  # pragma: no cover

    def shown(self, e: n.Expr, value: Any) -> str:
        """A literal as written (``80 years``), not as a base-unit value."""
        source = self.program.texts.get(e.span.source)
        text = source.slice(e.span) if source is not None else ""
        return text if text and "\n" not in text else _show(value)

    def has_fact(self, e: n.Expr) -> bool:
        if isinstance(e, n.Path):
            return not isinstance(self.refs.get(e.nid), EnumRef | None)
        return any(self.has_fact(c) for c in _children(e))

    def path(self, e: n.Path, scope: _Scope, expected: ts.Type | None) -> ts.Type:
        head, rest = e.names[0], e.names[1:]
        spans = e.spans or (e.span,) * len(e.names)
        found = scope.lookup(head)
        t: ts.Type
        if found is not None and found[0] == "var":
            self.refs[e.nid] = FieldRef(head, rest) if rest else VarRef(head)
            t = found[1]
        elif head == "patient" and found is None:
            self.refs[e.nid] = FieldRef("patient", rest)
            t = ts.RecordT(self.record)
        elif found is not None and found[0] == "define":
            d: n.Define = found[1]
            self.used_defines.add(d.nid)
            self.refs[e.nid] = DefineRef(d.nid, d.name)
            t = self.define_type(d)
        elif found is not None and found[0] == "score":
            sc: n.Score = found[1]
            self.refs[e.nid] = ScoreRef(sc.nid, sc.name)
            t = ts.NUMBER
        else:
            if isinstance(expected, ts.EnumT) and not rest:
                for member in expected.cls:
                    if member.value == head:
                        self.refs[e.nid] = EnumRef(member)
                        return expected
                self.error("SR304", spans[0], name=head, enum=str(expected),
                           hints=dg.did_you_mean(head, expected.members),
                           notes=("values: " + ", ".join(expected.members),))
                return ts.ERROR
            candidates = [*scope.names(), "patient"]
            self.error("SR201", spans[0], name=head, hints=dg.did_you_mean(head, candidates))
            return ts.ERROR
        for i, name in enumerate(rest, start=1):
            if isinstance(t, ts.ErrorT):
                return t
            if not isinstance(t, ts.RecordT):
                hints: tuple[str, ...] = ()
                if isinstance(t, ts.ListT):
                    listed = ".".join(e.names[:i])
                    hints = (f"use a quantifier: `any(x in {listed}: x.{name} ...)`",)
                self.error("SR306", spans[i], found=str(t), hints=hints)
                return ts.ERROR
            fields = ts.record_fields(t.cls)
            if name not in fields:
                shown = ", ".join(f"{k}: {v.type}" for k, v in fields.items())
                self.error("SR204", spans[i], record=t.cls.__name__, name=name,
                           hints=dg.did_you_mean(name, fields),
                           notes=(f"the fields of `{t.cls.__name__}` are {shown}",))
                return ts.ERROR
            t = fields[name].type
        return t

    def compare(self, e: n.Compare, scope: _Scope) -> ts.Type:
        left_first = not (isinstance(e.left, n.Path) and len(e.left.names) == 1
                          and scope.lookup(e.left.names[0]) is None
                          and e.left.names[0] != "patient")
        if left_first:
            lt = self.expr(e.left, scope)
            rt = self.expr(e.right, scope, expected=lt)
        else:
            rt = self.expr(e.right, scope)
            lt = self.expr(e.left, scope, expected=rt)
        if not ts.compatible(lt, rt):
            self.unit_mismatch("SR301", e.right.span, lt, rt,
                               number=e.right if isinstance(e.right, n.Number) else None)
        elif e.op in ("<", "<=", ">", ">=") and not (ts.is_ordered(lt) and ts.is_ordered(rt)):
            self.error("SR312", e.span, op=e.op, found=str(lt))
        return ts.BOOL

    def unit_mismatch(self, which: str, span: Span, want: ts.Type, got: ts.Type,
                      pattern: bool = False, number: n.Number | None = None) -> None:
        hints: list[str] = []
        if isinstance(want, ts.QuantityT) and isinstance(got, ts.NumberT):
            # the unit of the fact it is compared with (`patient.age` is in years): the
            # number written as that fact's quantity, not a made-up one
            unit = want.unit or ("weeks" if want.dim == "duration" else "%")
            shown = (number.text or f"{number.value:g}") if number is not None else \
                ("6" if want.dim == "duration" else "25")
            hints.append(f"give the number a unit: `{shown} {unit}` (the other side is "
                         f"measured in {unit})")
        elif isinstance(want, ts.NumberT) and isinstance(got, ts.QuantityT):
            hints.append("the other side is a plain number; drop the unit")
        elif isinstance(want, ts.QuantityT) and isinstance(got, ts.QuantityT):
            hints.append(f"`{want}` is measured in {want.unit or 'its own units'}, "
                         f"`{got}` in {got.unit or 'other units'}: they never compare")
        if pattern:
            self.error(which, span, found=str(got), expected=str(want), hints=hints)
        else:
            self.error(which, span, left=str(want), right=str(got), hints=hints)

    def arith(self, e: n.Arith, scope: _Scope) -> ts.Type:
        lt, rt = self.expr(e.left, scope), self.expr(e.right, scope)
        if isinstance(lt, ts.ErrorT) or isinstance(rt, ts.ErrorT):
            return ts.ERROR
        num, q, date = ts.NumberT, ts.QuantityT, ts.DateT
        if e.op in "+-":
            if isinstance(lt, num) and isinstance(rt, num):
                return ts.NUMBER
            if isinstance(lt, q) and isinstance(rt, q) and lt == rt:
                return lt
            if e.op == "-" and isinstance(lt, date) and isinstance(rt, date):
                return ts.QuantityT("duration", "days")
            if isinstance(lt, date) and isinstance(rt, q) and rt.dim == "duration":
                return ts.DATE
        else:
            if isinstance(lt, num) and isinstance(rt, num):
                return ts.NUMBER
            if isinstance(lt, q) and isinstance(rt, num):
                return lt
            if e.op == "*" and isinstance(lt, num) and isinstance(rt, q):
                return rt
            if e.op == "/" and isinstance(lt, q) and isinstance(rt, q) and lt == rt:
                return ts.NUMBER
        hints: tuple[str, ...] = ()
        if isinstance(lt, q | num) and isinstance(rt, q | num):
            hints = ("give both sides the same unit dimension",)
        self.error("SR303", e.span, op=e.op, left=str(lt), right=str(rt), hints=hints)
        return ts.ERROR

    def quantifier(self, e: n.Quantifier, scope: _Scope) -> ts.Type:
        st = self.expr(e.source, scope)
        inner = _Scope(scope)
        if scope.lookup(e.var) is not None or e.var == "patient":
            self.error("SR220", e.span, name=e.var)
        if isinstance(st, ts.ListT):
            inner.vars[e.var] = st.elem
        else:
            if not isinstance(st, ts.ErrorT):
                self.error("SR305", e.source.span, found=str(st))
            inner.vars[e.var] = ts.ERROR
        if e.condition is not None:
            self.condition(e.condition, inner)
        elif e.kind != "count":
            self.error("SR315", e.span, kind=e.kind)
        return ts.NUMBER if e.kind == "count" else ts.BOOL


def _refs_in(roots: Iterable[n.Expr], refs: dict[int, Ref]) -> Iterator[DefineRef | ScoreRef]:
    """The defines and scores that expressions refer to (iteratively: chains can be long)."""
    stack = list(roots)
    while stack:
        e = stack.pop()
        ref = refs.get(e.nid)
        if isinstance(ref, DefineRef | ScoreRef):
            yield ref
        stack.extend(_children(e))


def _order_key(x: Any) -> Any:
    if isinstance(x, enum.Enum):
        members = list(type(x))
        return members.index(x)
    if isinstance(x, int | float) and not math.isnan(x):
        return x
    return None


def _show(x: Any) -> str:
    if isinstance(x, enum.Enum):
        return str(x.value)
    return f"{x:g}" if isinstance(x, float) else str(x)


def _children(e: n.Expr) -> Iterator[n.Expr]:
    for f in attrs.fields(type(e)):
        v = getattr(e, f.name)
        if isinstance(v, n.Node):
            yield v  # type: ignore[misc]
        elif isinstance(v, tuple):
            yield from (x for x in v if isinstance(x, n.Node))  # type: ignore[misc]


def check_program(program: Program, record: type) -> Checked:
    """Run the checker over an assembled program."""
    return Checker(program, record).run()


# --------------------------------------------------------------------- structure limits


_LEAVES = (n.Number, n.String, n.Bool, n.Date, n.Today)


@functools.cache
def _node_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls) if f.name not in ("nid", "span", "spans"))


def child_nodes(e: n.Node) -> Iterator[n.Node]:
    """The nodes directly below ``e`` (fields and tuples of nodes)."""
    for name in _node_fields(type(e)):  # type: ignore[arg-type]
        v = getattr(e, name)
        if isinstance(v, n.Node):
            yield v
        elif isinstance(v, tuple):
            yield from (x for x in v if isinstance(x, n.Node))


def structure_problems(program: Program, max_block_depth: int,
                       max_nesting: int) -> list[dg.Diagnostic]:
    """The structure limits, checked before any recursive pass runs (all iteratively).

    - ``for`` blocks nested more than ``max_block_depth`` deep: ``SR113`` at the first
      ``for`` past the limit;
    - an expression nested more than ``max_nesting`` levels deep once the defines and
      scores it names are opened (a chain of defines, each using the one before):
      ``SR114`` at the define, score or rule where the chain first passes the limit
      (``SR106`` there when the expression is that deep by itself).

    Names are matched by spelling (before the checker resolves them), so a name given
    to two defines counts as the deeper of them: the bound can only be overestimated.
    """
    problems: list[dg.Diagnostic] = []
    named: dict[str, list[n.Define | n.Score]] = {}
    roots: list[n.Node] = []  # everything whose expressions are evaluated
    stack: list[tuple[n.Item, int]] = [(i, 0) for i in reversed(list(program.items()))]
    too_deep: n.For | None = None
    while stack:
        item, depth = stack.pop()
        if isinstance(item, n.For):
            if depth + 1 > max_block_depth:
                too_deep = too_deep or item
                continue
            roots.append(item)
            stack.extend((i, depth + 1) for i in reversed(item.items))
        elif isinstance(item, n.Define | n.Score):
            named.setdefault(item.name, []).append(item)
            roots.append(item)
        elif isinstance(item, n.Rule | n.Invariant):
            roots.append(item)
    if too_deep is not None:
        problems.append(dg.make("SR113", too_deep.span, what="`for` blocks",
                                limit=max_block_depth,
                                hints=("a `for` over a list inside a `for` over the same "
                                       "list is rarely needed; use a quantifier",)))
        return problems  # (the checker walks blocks recursively)

    opening = True  # whether a name opens its define or score

    def kids(x: Any) -> list[Any]:
        if isinstance(x, _LEAVES):
            return []
        if isinstance(x, n.Define):
            return [x.expr]
        if isinstance(x, n.Score):
            return [x.source] if x.source is not None else [c.source for c in x.components]
        if isinstance(x, n.Rule):
            return [*([x.when] if x.when is not None else []), *x.unless]
        if isinstance(x, n.Invariant):
            return [x.when] if x.when is not None else []
        if isinstance(x, n.For):
            return [x.source]
        if isinstance(x, n.Path):
            return list(named.get(x.names[0], ())) if len(x.names) == 1 and opening else []
        return [c for c in child_nodes(x) if not isinstance(c, _LEAVES)] or \
            [c for c in child_nodes(x)][:1]

    def measure(roots: list[n.Node]) -> dict[int, int]:
        depths: dict[int, int] = {}  # id(node) -> levels below and including it
        busy: set[int] = set()  # on the current path (a cycle is SR205, the checker's)
        for root in roots:
            work: list[tuple[Any, bool]] = [(root, False)]
            while work:
                x, done = work.pop()
                key = id(x)
                if done:
                    busy.discard(key)
                    below = [depths.get(id(k), 0) for k in kids(x)]
                    own = 0 if isinstance(x, n.Rule | n.Invariant | n.For) else 1
                    depths[key] = own + max(below, default=0)
                    continue
                if key in depths or key in busy:
                    continue
                busy.add(key)
                work.append((x, True))
                work.extend((k, False) for k in kids(x))
        return depths

    depths = measure(roots)
    over = [(depths[id(r)], i) for i, r in enumerate(roots) if depths[id(r)] > max_nesting]
    if over:
        depth, i = min(over)
        root = roots[i]
        span = root.source.span if isinstance(root, n.For) else root.span
        opening = False
        if measure([root])[id(root)] > max_nesting:  # deep in itself, not through names
            problems.append(dg.make("SR106", span, limit=max_nesting,
                                    hints=("split the expression into named `define`s",)))
        else:
            problems.append(dg.make("SR114", span, depth=depth, limit=max_nesting,
                                    hints=("split the chain: test intermediate defines "
                                           "in separate rules, or flatten it",)))
    return problems
