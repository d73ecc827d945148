"""Parse tree to AST: assigns node ids and spans, and nests items under `for`.

The grammar is flat; items indented deeper than a `for` line belong to that `for`
(Python's rule, applied per item rather than per line), so conditions may wrap freely.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from lark import Token

from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.ptree import PTree
from spinerules.lang.source import Span
from spinerules.lang.units import UNITS

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def unquote(token: str) -> str:
    """The value of a string literal (``"a \\"b\\""`` -> ``a "b"``)."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    chars = iter(body)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_ESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def _sfield(name: str) -> Any:
    """A transformer method for a ``source`` field holding one string."""

    def method(self: Builder, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return (name, unquote(c[0]))
    return method


class Builder:
    """Turns one file's parse tree (``ptree.PTree``) into ``nodes.File``; problems go to
    ``diagnostics``.

    Each public method is named after a tree (a grammar rule or alias) and takes the tree's
    ``meta`` (positions) and its already-built children; ``_transform`` calls them bottom-up.
    """

    def __init__(self, source_name: str, ids: Iterator[int] | None = None) -> None:
        self.source_name = source_name
        self.ids = ids if ids is not None else itertools.count(1)
        self.diagnostics: list[dg.Diagnostic] = []

    # ------------------------------------------------------------------ helpers
    def _span_of(self, tree: PTree) -> Span:
        first: Any = tree.first  # lexer tokens: their positions are never None
        last: Any = tree.last
        if first is None or last is None:
            return Span(source=self.source_name, start=0, end=0, line=1, column=1,
                        end_line=1, end_column=1)
        return Span(source=self.source_name, start=first.start_pos, end=last.end_pos,
                    line=first.line, column=first.column, end_line=last.end_line,
                    end_column=last.end_column)

    def tok_span(self, tok: Token) -> Span:
        """The span of one token."""
        return Span(source=self.source_name, start=tok.start_pos or 0, end=tok.end_pos or 0,
                    line=tok.line or 1, column=tok.column or 1,
                    end_line=tok.end_line or 1, end_column=tok.end_column or 1)

    def _k(self, meta: Any) -> dict[str, Any]:
        return {"nid": next(self.ids), "span": self._span_of(meta)}

    def _date(self, tok: Token) -> datetime.date | None:
        try:
            return datetime.date.fromisoformat(str(tok))
        except ValueError as exc:
            self.diagnostics.append(dg.make("SR108", self.tok_span(tok), text=str(tok),
                                            detail=str(exc)))
            return None

    def _unit(self, tok: Token | None) -> str | None:
        if tok is None:
            return None
        unit = str(tok)
        if unit not in UNITS:
            self.diagnostics.append(dg.make(
                "SR109", self.tok_span(tok), unit=unit,
                hints=dg.did_you_mean(unit, UNITS) or ("units: days, weeks, months, years, %",),
            ))
        return unit

    # ------------------------------------------------------------------ file
    def start(self, meta: Any, items: list[n.Item]) -> n.File:
        return n.File(name=self.source_name, items=self.nest(items), **self._k(meta))

    def nest(self, items: list[n.Item]) -> tuple[n.Item, ...]:
        """Put the items indented under a ``for`` inside it."""
        top: list[n.Item] = []
        stack: list[tuple[n.For, list[n.Item]]] = []

        def close() -> None:
            loop, body = stack.pop()
            if not body:
                self.diagnostics.append(dg.make(
                    "SR221", loop.span, what="`for` block", value=f"for {loop.var}",
                    detail="it has no items",
                    hints=("indent the rules, defines and scores that belong to it",)))
            done = attrs.evolve(loop, items=tuple(body))
            (stack[-1][1] if stack else top).append(done)

        for item in items:
            while stack and item.span.column <= stack[-1][0].span.column:
                close()
            if stack and not isinstance(item, n.Define | n.Rule | n.Score | n.For):
                kind = type(item).__name__.lower()
                self.diagnostics.append(dg.make(
                    "SR218", item.span, name=kind, detail="not inside a `for` block",
                    hints=(f"move the `{kind}` out of the `for` block (less indented)",)))
                top.append(item)
                continue
            if isinstance(item, n.For):
                stack.append((item, []))
            elif stack:
                stack[-1][1].append(item)
            else:
                top.append(item)
        while stack:
            close()
        return tuple(top)

    # ------------------------------------------------------------------ header
    def header(self, meta: Any, c: list[Any]) -> n.Header:
        fields: dict[str, Any] = {}
        for key, value in c[2:]:
            fields[key] = value
        return n.Header(id=str(c[0]), title=unquote(c[1]), **fields, **self._k(meta))

    def h_version(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("version", unquote(c[0]))

    def h_record(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("record", c[0][0])

    def h_status(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("status", str(c[0]))

    def h_review(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("review", self._date(c[0]))

    def h_description(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("description", unquote(c[0]))

    def module(self, meta: Any, c: list[Any]) -> n.Module:
        title = unquote(c[1]) if len(c) > 1 else None
        return n.Module(name=c[0][0], title=title, **self._k(meta))

    def import_(self, meta: Any, c: list[Any]) -> n.Import:
        return n.Import(path=unquote(c[0]), **self._k(meta))

    def import_module(self, meta: Any, c: list[Any]) -> n.Import:
        package = str(c[0]) if len(c) > 1 else None
        return n.Import(module=c[-1][0], package=package, **self._k(meta))

    # ------------------------------------------------------------------ record types
    def type_decl(self, meta: Any, c: list[Any]) -> n.TypeDecl:
        doc = unquote(c[1]) if len(c) > 1 and isinstance(c[1], Token) else None
        fields = tuple(f for f in c[1:] if isinstance(f, n.FieldDecl))
        return n.TypeDecl(name=c[0][0], doc=doc, fields=fields, **self._k(meta))

    def field_decl(self, meta: Any, c: list[Any]) -> n.FieldDecl:
        name, (type_name, is_list) = str(c[0]), c[1]
        out: dict[str, Any] = {}
        for part in c[2:]:
            if isinstance(part, tuple):  # a range
                out["min"], out["max"] = part
            elif isinstance(part, Token) and part.type == "STRING":
                out["doc"] = unquote(part)
            else:  # the unit (a NAME or `%` token)
                out["unit"] = self._unit(part)
        return n.FieldDecl(name=name, type=type_name, is_list=is_list, **out, **self._k(meta))

    def ft_name(self, meta: Any, c: list[Any]) -> tuple[str, bool]:
        return str(c[0]), False

    def ft_list(self, meta: Any, c: list[Any]) -> tuple[str, bool]:
        return str(c[0]), True

    def fr_between(self, meta: Any, c: list[Any]) -> tuple[float | None, float | None]:
        return float(c[0]), float(c[1])

    def fr_bound(self, meta: Any, c: list[Any]) -> tuple[float | None, float | None]:
        op, value = str(c[0]), float(c[1])
        if op == ">=":
            return value, None
        if op == "<=":
            return None, value
        self.diagnostics.append(dg.make(
            "SR221", self.tok_span(c[0]), what="range", value=f"{op} {c[1]}",
            detail="a field's range is inclusive",
            hints=("write `>= N`, `<= N` or `LOW..HIGH`",)))
        return None, None

    def enum_decl(self, meta: Any, c: list[Any]) -> n.EnumDecl:
        ordered = any(isinstance(x, str) and x == "ordered" and not isinstance(x, Token)
                      for x in c[1:])
        doc = next((unquote(x) for x in c[1:] if isinstance(x, Token) and x.type == "STRING"),
                   None)
        members = tuple(x for x in c[1:] if isinstance(x, n.EnumMember))
        return n.EnumDecl(name=c[0][0], ordered=ordered, doc=doc, members=members,
                          **self._k(meta))

    def enum_ordered(self, meta: Any, c: list[Any]) -> str:
        return "ordered"

    def enum_member(self, meta: Any, c: list[Any]) -> n.EnumMember:
        doc = unquote(c[1]) if len(c) > 1 else None
        return n.EnumMember(name=str(c[0]), doc=doc, **self._k(meta))

    # ------------------------------------------------------------------ sources
    def source(self, meta: Any, c: list[Any]) -> n.Source:
        fields: dict[str, Any] = {}
        for key, value in c[1:]:
            fields[key] = value
        return n.Source(key=str(c[0]), **fields, **self._k(meta))

    s_title = _sfield("title")
    s_authors = _sfield("authors")
    s_publisher = _sfield("publisher")
    s_journal = _sfield("journal")
    s_doi = _sfield("doi")
    s_pmid = _sfield("pmid")
    s_url = _sfield("url")
    s_evidence = _sfield("evidence")
    s_note = _sfield("note")

    def s_year(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("year", int(c[0]))

    def s_unverified(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("unverified", unquote(c[0]) if c else "identifiers not verified")

    # ------------------------------------------------------------------ defines, rules
    def define(self, meta: Any, c: list[Any]) -> n.Define:
        return n.Define(name=str(c[0]), expr=c[1], **self._k(meta))

    def dotted(self, meta: Any, c: list[Token]) -> tuple[str, tuple[Span, ...]]:
        return ".".join(str(t) for t in c), tuple(self.tok_span(t) for t in c)

    def rule(self, meta: Any, c: list[Any]) -> n.Rule:
        rule_id = c[0][0]
        when: n.Expr | None = None
        unless: list[n.Expr] = []
        actions: list[n.Action] = []
        for part in c[1:]:
            if isinstance(part, tuple) and part[0] == "when":
                when = part[1]
            elif isinstance(part, tuple) and part[0] == "unless":
                unless.append(part[1])
            else:
                actions.append(part)
        return n.Rule(rule_id=rule_id, when=when, unless=tuple(unless), actions=tuple(actions),
                      **self._k(meta))

    def when(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("when", c[0])

    def unless(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("unless", c[0])

    def action_kind(self, meta: Any, c: list[Token]) -> str:
        return str(c[0])

    def _action(self, meta: Any, c: list[Any]) -> n.Action:
        kind, code = c[0], str(c[1])
        rest = c[2:]
        text = None
        if rest and isinstance(rest[0], Token):
            text = unquote(rest[0])
            rest = rest[1:]
        opts: dict[str, Any] = {"cites": (), "against": ()}
        for key, value in rest:
            opts[key] = opts[key] + value if key in ("cites", "against") else value
        return n.Action(kind=kind, code=code, text=text, **opts, **self._k(meta))

    action = _action
    short_action = _action

    def strength(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("strength", str(c[0]))

    def urgency(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("urgency", str(c[0]))

    def cite(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("cites", tuple(c))

    def against(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("against", tuple(c))

    def citation(self, meta: Any, c: list[Any]) -> n.Citation:
        locator = unquote(c[1]) if len(c) > 1 else None
        return n.Citation(key=str(c[0]), locator=locator, **self._k(meta))

    def for_(self, meta: Any, c: list[Any]) -> n.For:
        return n.For(var=str(c[0]), source=c[1], **self._k(meta))

    # ------------------------------------------------------------------ scores
    def _score_opts(self, parts: list[Any]) -> dict[str, Any]:
        opts: dict[str, Any] = {"cites": (), "against": ()}
        for key, value in parts:
            opts[key] = opts[key] + value
        return opts

    def table_score(self, meta: Any, c: list[Any]) -> n.Score:
        arms = [x for x in c[2:] if isinstance(x, n.Arm)]
        opts = self._score_opts([x for x in c[2:] if isinstance(x, tuple)])
        return n.Score(name=str(c[0]), source=c[1], arms=tuple(arms), **opts, **self._k(meta))

    def sum_score(self, meta: Any, c: list[Any]) -> n.Score:
        comps = [x for x in c[1:] if isinstance(x, n.Component)]
        bands = [x for x in c[1:] if isinstance(x, n.Arm)]
        opts = self._score_opts([x for x in c[1:] if isinstance(x, tuple)])
        return n.Score(name=str(c[0]), source=None, components=tuple(comps), bands=tuple(bands),
                       **opts, **self._k(meta))

    def arm(self, meta: Any, c: list[Any]) -> n.Arm:
        action = c[2] if len(c) > 2 else None
        return n.Arm(pattern=c[0], points=c[1], action=action, **self._k(meta))

    comp_arm = arm

    def band(self, meta: Any, c: list[Any]) -> n.Arm:
        return n.Arm(pattern=c[0], points=0.0, action=c[1], **self._k(meta))

    def component(self, meta: Any, c: list[Any]) -> n.Component:
        ask = None
        rest = c[2:]
        if rest and isinstance(rest[0], tuple):
            ask = rest[0][1]
            rest = rest[1:]
        return n.Component(name=str(c[0]), source=c[1], arms=tuple(rest), ask=ask,
                           **self._k(meta))

    def ask(self, meta: Any, c: list[Any]) -> tuple[str, str]:
        return ("ask", unquote(c[0]))

    def points(self, meta: Any, c: list[Token]) -> float:
        return float(c[0])

    def p_else(self, meta: Any, c: list[Any]) -> n.Pattern:
        return n.Pattern(kind="else", **self._k(meta))

    def p_cmp(self, meta: Any, c: list[Any]) -> n.Pattern:
        return n.Pattern(kind="cmp", op=str(c[0]), values=(c[1],), **self._k(meta))

    def p_range(self, meta: Any, c: list[Any]) -> n.Pattern:
        return n.Pattern(kind="range", values=(c[0], c[1]), **self._k(meta))

    def p_eq(self, meta: Any, c: list[Any]) -> n.Pattern:
        return n.Pattern(kind="eq", values=(c[0],), **self._k(meta))

    def p_set(self, meta: Any, c: list[Any]) -> n.Pattern:
        return n.Pattern(kind="set", values=tuple(c), **self._k(meta))

    def o_number(self, meta: Any, c: list[Any]) -> n.Number:
        unit = self._unit(c[1]) if len(c) > 1 else None
        return n.Number(value=float(c[0]), unit=unit, text=str(c[0]), **self._k(meta))

    def o_name(self, meta: Any, c: list[Token]) -> n.Expr:
        if str(c[0]) in ("true", "false"):
            return n.Bool(value=str(c[0]) == "true", **self._k(meta))
        return n.Path(names=(str(c[0]),), spans=(self.tok_span(c[0]),), **self._k(meta))

    def o_string(self, meta: Any, c: list[Token]) -> n.String:
        return n.String(value=unquote(c[0]), **self._k(meta))

    # ------------------------------------------------------------------ invariants, tests
    def invariant(self, meta: Any, c: list[Any]) -> n.Invariant:
        codes = tuple(str(x) for x in c[1:] if isinstance(x, Token))
        when = c[-1] if c and not isinstance(c[-1], Token) else None
        return n.Invariant(name=unquote(c[0]), codes=codes, when=when, **self._k(meta))

    def invariant_always(self, meta: Any, c: list[Any]) -> n.Invariant:
        codes = tuple(str(x) for x in c[1:] if isinstance(x, Token))
        return n.Invariant(name=unquote(c[0]), codes=codes, when=c[-1], mode="always",
                           **self._k(meta))

    def test(self, meta: Any, c: list[Any]) -> n.Test:
        fields: dict[str, Any] = {"expect": (), "expect_not": (), "expect_missing": (),
                                  "expect_scores": ()}
        for key, value in c[1:]:
            if key in ("given", "as_of"):
                fields[key] = value
            else:
                fields[key] = fields[key] + value
        return n.Test(name=unquote(c[0]), **fields, **self._k(meta))

    def t_given(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("given", unquote(c[0]))

    def t_as_of(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("as_of", self._date(c[0]))

    def t_expect(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("expect", c[0])

    def t_expect_no(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("expect_not", c[0])

    def t_expect_missing(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("expect_missing", c[0])

    def t_expect_score(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        low, high = c[1]
        return ("expect_scores", (n.ScoreExpect(name=str(c[0]), low=low, high=high,
                                                **self._k(meta)),))

    def code_list(self, meta: Any, c: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in c)

    def se_value(self, meta: Any, c: list[Token]) -> tuple[float, float]:
        return float(c[0]), float(c[0])

    def se_range(self, meta: Any, c: list[Token]) -> tuple[float, float]:
        return float(c[0]), float(c[1])

    # ------------------------------------------------------------------ expressions
    def or_(self, meta: Any, c: list[Any]) -> n.BoolOp:
        return n.BoolOp(op="or", operands=tuple(c), **self._k(meta))

    def and_(self, meta: Any, c: list[Any]) -> n.BoolOp:
        return n.BoolOp(op="and", operands=tuple(c), **self._k(meta))

    def not_(self, meta: Any, c: list[Any]) -> n.Not:
        return n.Not(operand=c[0], **self._k(meta))

    def unknown_(self, meta: Any, c: list[Any]) -> n.IsKnown:
        return n.IsKnown(operand=c[0], known=False, **self._k(meta))

    def known_(self, meta: Any, c: list[Any]) -> n.IsKnown:
        return n.IsKnown(operand=c[0], known=True, **self._k(meta))

    def compare(self, meta: Any, c: list[Any]) -> n.Compare:
        return n.Compare(op=str(c[1]), left=c[0], right=c[2], **self._k(meta))

    def in_range(self, meta: Any, c: list[Any]) -> n.InRange:
        return n.InRange(value=c[0], low=c[1], high=c[2], **self._k(meta))

    def in_set(self, meta: Any, c: list[Any]) -> n.InSet:
        return n.InSet(value=c[0], items=tuple(c[1:]), **self._k(meta))

    def arith(self, meta: Any, c: list[Any]) -> n.Arith:
        return n.Arith(op=str(c[1]), left=c[0], right=c[2], **self._k(meta))

    def neg(self, meta: Any, c: list[Any]) -> n.Expr:
        operand = c[0]
        if isinstance(operand, n.Number):  # fold `-2.5` into a literal
            return attrs.evolve(operand, value=-operand.value, text="-" + operand.text,
                                **self._k(meta))
        return n.Neg(operand=operand, **self._k(meta))

    def number(self, meta: Any, c: list[Any]) -> n.Number:
        unit = self._unit(c[1]) if len(c) > 1 else None
        return n.Number(value=float(c[0]), unit=unit, text=str(c[0]), **self._k(meta))

    def unit(self, meta: Any, c: list[Token]) -> Token:
        return c[0]

    def string(self, meta: Any, c: list[Token]) -> n.String:
        return n.String(value=unquote(c[0]), **self._k(meta))

    def true(self, meta: Any, c: list[Any]) -> n.Bool:
        return n.Bool(value=True, **self._k(meta))

    def false(self, meta: Any, c: list[Any]) -> n.Bool:
        return n.Bool(value=False, **self._k(meta))

    def date(self, meta: Any, c: list[Token]) -> n.Expr:
        value = self._date(c[0])
        return n.Date(value=value or datetime.date.min, **self._k(meta))

    def today(self, meta: Any, c: list[Any]) -> n.Today:
        return n.Today(**self._k(meta))

    def path(self, meta: Any, c: list[Any]) -> n.Path:
        names, spans = c[0]
        return n.Path(names=tuple(names.split(".")), spans=spans, **self._k(meta))

    def quantifier(self, meta: Any, c: list[Any]) -> n.Quantifier:
        cond = c[3] if len(c) > 3 else None
        return n.Quantifier(kind=str(c[0]), var=str(c[1]), source=c[2], condition=cond,
                            **self._k(meta))


def build(tree: PTree, source_name: str,
          ids: Iterator[int] | None = None) -> tuple[n.File, list[dg.Diagnostic]]:
    """Build the AST of one file; returns it with the builder's diagnostics."""
    builder = Builder(source_name, ids)
    result = _transform(builder, tree)
    return result, builder.diagnostics


def _callbacks() -> dict[str, Callable[..., Any]]:
    """Each tree name's builder method as a plain function ``(builder, meta, children)``.

    (lark's ``Transformer`` with ``@v_args(meta=True)`` did the same, but wrapped a method
    anew on every call, which cost a third of the build time of a large guideline.)
    """
    return {name: value for name, value in vars(Builder).items()
            if not name.startswith("_") and callable(value)}


_CALLBACKS = _callbacks()


def _transform(builder: Builder, tree: PTree) -> Any:
    """Build bottom-up, as lark's ``Transformer.transform`` does with ``v_args(meta=True)``;
    each method gets the tree itself as ``meta`` (its positions). A tree with no builder
    method stays a ``PTree`` of its built children."""
    callbacks = _CALLBACKS

    def walk(t: PTree) -> Any:
        children = [walk(c) if type(c) is PTree else c for c in t.children]
        fn = callbacks.get(t.data)
        if fn is None:
            return PTree(t.data, children, t.first, t.last)
        return fn(builder, t, children)
    return walk(tree)


#: tree name -> the keyword by which the printer knows a clause that is not a node
_CLAUSES = {
    "h_version": "version", "h_record": "record", "h_status": "status", "h_review": "review",
    "h_description": "description",
    **{f"s_{k}": k for k in ("title", "authors", "publisher", "journal", "year", "doi", "pmid",
                             "url", "evidence", "note", "unverified")},
    "t_given": "given", "t_as_of": "as_of", "t_expect": "expect", "t_expect_no": "expect_not",
    "t_expect_missing": "expect_missing", "t_expect_score": "expect_scores",
    "strength": "strength", "urgency": "urgency", "cite": "cites", "against": "against",
    "ask": "ask",
}
#: trees that hold such clauses (items, and the parts of rules and scores)
_CLAUSE_HOLDERS = frozenset({"header", "source", "test", "rule", "table_score", "sum_score",
                             "action", "short_action", "arm", "band", "component"})


def clause_spans(tree: PTree, source_name: str) -> tuple[tuple[str, Span], ...]:
    """Where the clauses that are not AST nodes start, as ``(keyword, span)`` in file order.

    Header and source fields, action options and texts, test clauses and an invariant's
    ``never`` have no node (and so no span) of their own; the printer needs their places
    to put comments back beside them. Kept here because only this module knows the
    shape of the parse tree. Only the items' own clauses are visited, never expressions.
    """
    spans = Builder(source_name)
    out: list[tuple[str, Span]] = []

    def visit(t: PTree) -> None:
        for child in t.children:
            if isinstance(child, Token):
                if child.type == "STRING" and t.data in ("action", "short_action"):
                    out.append(("text", spans.tok_span(child)))
            elif child.data in _CLAUSES:
                if child.first is not None:
                    out.append((_CLAUSES[child.data], spans._span_of(child)))
            elif child.data in _CLAUSE_HOLDERS:
                visit(child)

    for item in tree.children:
        if not isinstance(item, PTree):
            continue
        if item.data in _CLAUSE_HOLDERS:
            visit(item)
        elif item.data in ("invariant", "invariant_always"):  # ... ":" "never"|"always" NAME
            codes = [c for c in item.children if isinstance(c, Token) and c.type == "NAME"]
            if codes:
                key = "never" if item.data == "invariant" else "always"
                out.append((key, spans.tok_span(codes[0])))
    return tuple(out)
