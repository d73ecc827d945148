"""The printer: an AST back to canonical `.rules` text (``spinerules fmt``), and ``dump``.

``print_file`` depends only on the AST, the file's comments and where its blank lines
between items were: 2-space indents, one spelling of every construct (``12 weeks``,
``25 %``, ``T11..L2``, ``cite A "loc", B``), fields and clauses in the grammar's order, and
only the parentheses that precedence needs (``or`` < ``and`` < ``not``/``unknown``/``known``
< comparisons and ``in`` < ``+ -`` < ``* /`` < unary minus), with one exception kept for
readers: an ``and`` chain inside an ``or`` keeps its parentheses (``(a and b) or c``).
Lines stay within ``WIDTH`` where the language lets them: a long ``and``/``or`` chain is
broken one operand per line, a long quantifier puts its condition on the next line, a long
text moves to its own line, a long list of citations or codes wraps after a comma. Blank
lines between items are kept (at most one; an AST without positions gets one between every
two items); blank lines inside an item are not.

Comments are layout, not AST: the parser keeps them on ``File.comments`` with their
places, and the printer puts each one back before the line that held the next piece of
code (indented like it), or at the end of the line it trailed. A chain of ``and``/``or``
with a comment inside stays broken so the comment can stay beside its operand.

The formatter's safety net is ``format_source``: it re-parses what it printed and refuses
(``UnsafeFormatError``) unless the AST is equal and the comments are the same, in order.

``dump`` is the compact, deterministic s-expression of a node used by the conformance
suite (``tests/conformance``): ``(Type field=value ...)`` with the fields in class order,
leaving out spans, node ids and other layout (fields outside ``==``) and fields that hold
their default. Values: nodes nest, tuples are ``[a b]``, ``None`` is ``nil``, booleans are
``true``/``false``, numbers are printed as in the language (``12``, ``0.5``), dates as
``2026-02-18``, and strings bare when they are names (``weeks``, ``patient``) and
JSON-quoted otherwise (``"<="``, ``"Genant grade 1"``). A ``File`` dumps as one item per
line, then one ``(Comment ...)`` per comment.

Example:
    >>> from spinerules.lang.source import Source
    >>> from spinerules.lang.parser import parse
    >>> tree, _ = parse(Source("x.rules", "define a : (x  or y) and not(z)  # why"))
    >>> print(print_file(tree), end="")
    define a: (x or y) and not z  # why
    >>> print(dump(tree.items[0].expr.operands[1]))
    (Not operand=(Path names=[z]))
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs

from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.parser import DEFAULT_LIMITS, Limits, parse
from spinerules.lang.source import NO_SPAN, Source, Span

#: the line width the printer keeps to where the language allows a break
WIDTH = 100
#: what an unquoted ``unverified`` means (see ``builder.s_unverified``)
UNVERIFIED_DEFAULT = "identifiers not verified"

_HEADER_FIELDS = ("version", "record", "status", "review", "description")
_SOURCE_FIELDS = ("title", "authors", "publisher", "journal", "year", "doi", "pmid", "url",
                  "evidence", "note", "unverified")

# Binding strength: an operand whose own strength is below what its place needs gets
# parentheses. Mirrors the grammar's `?expr` ... `?atom` ladder.
_OR, _AND, _NOT, _CMP, _SUM, _PRODUCT, _UNARY, _ATOM = range(1, 9)


class PrintError(ValueError):
    """The AST holds something the language cannot spell (e.g. a rule with no action)."""


class UnsafeFormatError(Exception):
    """The printed text does not parse back to the same AST and comments (a printer bug)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: formatting would change the file ({reason}); "
                         "it was left unchanged")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (for worker pools) with its fields
        return (type(self), (self.name, self.reason))


# ------------------------------------------------------------------------- literals


def quote(text: str) -> str:
    """A string literal for ``text`` (the inverse of ``builder.unquote``).

    Example:
        >>> print(quote('say "no"\\n'))
        "say \\"no\\"\\n"
    """
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + body.replace("\t", "\\t") + '"'


def field_text(f: n.FieldDecl) -> str:
    """One ``field`` line of a ``type`` declaration.

    Example:
        >>> print(field_text(n.FieldDecl(name="age", type="integer", unit="years", min=0,
        ...                              max=120, doc="age in whole years")))
        field age: integer years 0..120 "age in whole years"
    """
    text = f"field {f.name}: " + (f"list of {f.type}" if f.is_list else f.type)
    if f.unit is not None:
        text += f" {f.unit}"
    if f.min is not None and f.max is not None:
        text += f" {number(f.min)}..{number(f.max)}"
    elif f.min is not None:
        text += f" >= {number(f.min)}"
    elif f.max is not None:
        text += f" <= {number(f.max)}"
    if f.doc is not None:
        text += " " + quote(f.doc)
    return text


def number(value: float) -> str:
    """The shortest decimal spelling of a number, without exponent (``12``, ``0.00001``).

    Example:
        >>> number(12.0), number(-2.5), number(1e-05)
        ('12', '-2.5', '0.00001')
    """
    if value != value or value in (float("inf"), float("-inf")):
        raise PrintError(f"the number {value!r} has no spelling in the language")
    if value == 0:
        return "0"
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _quantity(node: n.Number) -> str:
    return number(node.value) + (f" {node.unit}" if node.unit is not None else "")


def _prec(e: n.Expr) -> int:
    if isinstance(e, n.BoolOp):
        return _OR if e.op == "or" else _AND
    if isinstance(e, n.Not | n.IsKnown):
        return _NOT
    if isinstance(e, n.Compare | n.InRange | n.InSet):
        return _CMP
    if isinstance(e, n.Arith):
        return _SUM if e.op in ("+", "-") else _PRODUCT
    if isinstance(e, n.Neg):
        return _UNARY
    return _ATOM


def _tight(*bounds: n.Expr) -> bool:
    """``T11..L2`` when both bounds are single words, ``20 % .. 25 %`` otherwise."""
    return all(isinstance(b, n.Path | n.Date | n.String | n.Bool | n.Today)
               or (isinstance(b, n.Number) and b.unit is None) for b in bounds)


def print_expr(e: n.Expr, need: int = 0) -> str:
    """One expression on one line, with the parentheses its place (``need``) requires.

    Example:
        >>> from spinerules.lang import nodes as n
        >>> a, b, c = (n.Path(names=(x,)) for x in "abc")
        >>> print_expr(n.Arith(op="*", left=n.Arith(op="+", left=a, right=b), right=c))
        '(a + b) * c'
    """
    text = _flat(e)
    return f"({text})" if _prec(e) < need else text


def _flat(e: n.Expr) -> str:
    if isinstance(e, n.Number):
        return _quantity(e)
    if isinstance(e, n.String):
        return quote(e.value)
    if isinstance(e, n.Bool):
        return "true" if e.value else "false"
    if isinstance(e, n.Date):
        return e.value.isoformat()
    if isinstance(e, n.Today):
        return "today"
    if isinstance(e, n.Path):
        if not e.names:
            raise PrintError("a path with no names")
        return ".".join(e.names)
    if isinstance(e, n.BoolOp):
        if len(e.operands) < 2 or e.op not in ("and", "or"):
            raise PrintError(f"`{e.op}` needs two or more operands")
        return f" {e.op} ".join(print_expr(o, _NOT) for o in e.operands)
    if isinstance(e, n.Not):
        return "not " + print_expr(e.operand, _NOT)
    if isinstance(e, n.IsKnown):
        return ("known " if e.known else "unknown ") + print_expr(e.operand, _CMP)
    if isinstance(e, n.Compare):
        return f"{print_expr(e.left, _SUM)} {e.op} {print_expr(e.right, _SUM)}"
    if isinstance(e, n.InRange):
        dots = ".." if _tight(e.low, e.high) else " .. "
        return (f"{print_expr(e.value, _SUM)} in "
                f"{print_expr(e.low, _SUM)}{dots}{print_expr(e.high, _SUM)}")
    if isinstance(e, n.InSet):
        if not e.items:
            raise PrintError("`in [...]` needs at least one item")
        return f"{print_expr(e.value, _SUM)} in [{', '.join(print_expr(i) for i in e.items)}]"
    if isinstance(e, n.Arith):
        left, right = (_SUM, _PRODUCT) if e.op in ("+", "-") else (_PRODUCT, _UNARY)
        return f"{print_expr(e.left, left)} {e.op} {print_expr(e.right, right)}"
    if isinstance(e, n.Neg):
        if isinstance(e.operand, n.Number):  # the builder folds `-2` into the literal
            raise PrintError("a minus applied to a number literal is the literal")
        return "-" + print_expr(e.operand, _UNARY)
    if isinstance(e, n.Quantifier):
        cond = "" if e.condition is None else ": " + print_expr(e.condition)
        return f"{e.kind}({e.var} in {print_expr(e.source)}{cond})"
    raise PrintError(f"not an expression: {type(e).__name__}")


def _operand(e: n.Expr) -> str:
    """A score pattern's operand: a signed number with its unit, a name, a literal."""
    if isinstance(e, n.Number):
        return _quantity(e)
    if isinstance(e, n.Path) and len(e.names) == 1:
        return e.names[0]
    if isinstance(e, n.Bool | n.String):
        return _flat(e)
    raise PrintError(f"a score pattern cannot hold {type(e).__name__}")


def _pattern(p: n.Pattern) -> str:
    v = p.values
    if p.kind == "else" and not v:
        return "else"
    if p.kind == "cmp" and len(v) == 1 and p.op is not None:
        return f"{p.op} {_operand(v[0])}"
    if p.kind == "range" and len(v) == 2:
        return _operand(v[0]) + (".." if _tight(*v) else " .. ") + _operand(v[1])
    if p.kind == "eq" and len(v) == 1:
        return _operand(v[0])
    if p.kind == "set" and v:
        return "[" + ", ".join(_operand(x) for x in v) + "]"
    raise PrintError(f"malformed `{p.kind}` pattern")


def _text_less(arm: n.Arm) -> bool:
    return arm.action is not None and arm.action.text is None


def _starts_with_string(p: n.Pattern) -> bool:
    return p.kind in ("eq", "range") and bool(p.values) and isinstance(p.values[0], n.String)


def _citation(c: n.Citation) -> str:
    return c.key if c.locator is None else f"{c.key} {quote(c.locator)}"


# ------------------------------------------------------------------------- layout


@attrs.define
class _Line:
    """One output line: its column, its text, and where its code came from."""

    col: int
    text: str
    anchors: list[tuple[int, int]] = attrs.field(factory=list)  # (offset, source line)
    item: bool = False  # the first line of an item
    blank: bool = False  # keep a blank line before it


_Piece = tuple[int, str, list[tuple[int, int]]]  # column, text, anchors


def _has_span(node: n.Node) -> bool:
    return node.span is not NO_SPAN and node.span.source != NO_SPAN.source


def _walk(node: Any) -> Iterator[n.Node]:
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, n.Node):
            yield x
            for f in attrs.fields(type(x)):
                if f.eq:
                    stack.append(getattr(x, f.name))
        elif isinstance(x, tuple):
            stack.extend(x)


class _Printer:
    """Prints one file into ``lines``, then puts the comments back."""

    def __init__(self, file: n.File) -> None:
        self.file = file
        self.lines: list[_Line] = []
        self.track = bool(file.comments)  # anchors matter only to place comments
        self.comment_starts = sorted(c.span.start for c in file.comments)
        self.clauses = sorted(((s.start, key, s) for key, s in file.clauses),
                              key=lambda t: t[0])
        self.clause_starts = [t[0] for t in self.clauses]
        self.occupied: set[int] = set()
        stack: list[n.Item] = list(file.items)
        while stack:
            item = stack.pop()
            self.occupied.update(range(item.span.line, item.span.end_line + 1))
            if isinstance(item, n.For):
                stack.extend(item.items)
        self.occupied.update(c.span.line for c in file.comments)

    # --------------------------------------------------------------- anchors
    def deep(self, *nodes: n.Node | None) -> list[tuple[int, int]]:
        """Anchors of nodes and everything inside them."""
        if not self.track:
            return []
        return [(x.span.start, x.span.line) for node in nodes if node is not None
                for x in _walk(node) if _has_span(x)]

    def at(self, node: n.Node) -> list[tuple[int, int]]:
        """The anchor of one node (not its children)."""
        return [(node.span.start, node.span.line)] if self.track and _has_span(node) else []

    def clause(self, key: str, within: n.Node) -> list[tuple[int, int]]:
        """Anchors of the non-node clauses named ``key`` inside a node."""
        if not self.track or not _has_span(within):
            return []
        lo = bisect.bisect_left(self.clause_starts, within.span.start)
        hi = bisect.bisect_left(self.clause_starts, within.span.end)
        return [(s.start, s.line) for _, k, s in self.clauses[lo:hi] if k == key]

    def between(self, a: n.Node, b: n.Node) -> bool:
        """Whether a comment lies between the end of ``a`` and the start of ``b``."""
        if not self.track or not (_has_span(a) and _has_span(b)):
            return False
        i = bisect.bisect_left(self.comment_starts, a.span.end)
        return i < len(self.comment_starts) and self.comment_starts[i] < b.span.start

    def forced(self, e: n.Expr) -> bool:
        """Whether an expression must be broken over lines whatever its width: a comment
        lies between two operands of an ``and``/``or`` chain in it (one that ``lay`` can
        break), so the comment can stay beside its operand. A comment elsewhere inside
        an expression goes before or after it; either way the decision is the same when
        the output is formatted again."""
        if not self.track:
            return False
        if isinstance(e, n.Not):
            return self.forced(e.operand)
        if isinstance(e, n.Quantifier):
            return e.condition is not None and self.forced(e.condition)
        if isinstance(e, n.BoolOp):
            return any(self.between(a, b) for a, b in itertools.pairwise(e.operands)) or any(
                self.forced(o) for o in e.operands)
        return False

    # --------------------------------------------------------------- emitting
    def emit(self, col: int, text: str, anchors: list[tuple[int, int]] | None = None) -> None:
        self.lines.append(_Line(col, text, anchors or []))

    def emit_pieces(self, pieces: list[_Piece], prefix: str, col: int,
                    anchors: list[tuple[int, int]]) -> None:
        """Lines from a laid-out expression; the first continues ``prefix``."""
        _, first, first_anchors = pieces[0]
        self.emit(col, prefix + first, anchors + first_anchors)
        for c, text, a in pieces[1:]:
            self.emit(c, text, a)

    def emit_list(self, col: int, head: str, parts: Sequence[str],
                  anchors: Sequence[list[tuple[int, int]]], first: list[tuple[int, int]],
                  breaks: Sequence[bool] = ()) -> None:
        """``head a, b, c``, wrapped after a comma, continued under the first part;
        ``breaks[i]`` forces a new line before part ``i + 1`` (a comment lies there)."""
        line_col, text, line_anchors = col, head + parts[0], first + anchors[0]
        for i, (part, a) in enumerate(zip(parts[1:], anchors[1:], strict=True)):
            if line_col + len(text) + 2 + len(part) <= WIDTH and not (
                    i < len(breaks) and breaks[i]):
                text += ", " + part
                line_anchors += a
            else:
                self.emit(line_col, text + ",", line_anchors)
                line_col, text, line_anchors = col + len(head), part, list(a)
        self.emit(line_col, text, line_anchors)

    # --------------------------------------------------------------- expressions
    def lay(self, e: n.Expr, col: int, need: int = 0, hang: bool = False) -> list[_Piece]:
        """An expression starting at ``col``, broken at ``and``/``or`` when too long.

        ``hang`` puts the operators of a broken chain left of the column (after `when`),
        so the operands line up; otherwise each continuation line starts with its operator.
        """
        flat = print_expr(e, need)
        breakable = isinstance(e, n.BoolOp | n.Not) or (
            isinstance(e, n.Quantifier) and e.condition is not None)
        if not breakable or (col + len(flat) <= WIDTH and not self.forced(e)):
            return [(col, flat, self.deep(e))]
        if _prec(e) < need:  # parenthesised: break inside the parentheses
            inner = self.lay(e, col + 1)
            c0, t0, a0 = inner[0]
            inner[0] = (col, "(" + t0, a0)
            c1, t1, a1 = inner[-1]
            inner[-1] = (c1, t1 + ")", a1)
            return inner
        if isinstance(e, n.Not):
            inner = self.lay(e.operand, col + 4, _NOT)
            c0, t0, a0 = inner[0]
            inner[0] = (col, "not " + t0, self.at(e) + a0)
            return inner
        if isinstance(e, n.Quantifier) and e.condition is not None:
            # `any(f in xs:` then the condition on its own lines, inside the parenthesis
            inner = self.lay(e.condition, col + len(e.kind) + 1)
            c1, t1, a1 = inner[-1]
            inner[-1] = (c1, t1 + ")", a1)
            head = f"{e.kind}({e.var} in {print_expr(e.source)}:"
            return [(col, head, self.at(e) + self.deep(e.source)), *inner]
        assert isinstance(e, n.BoolOp)
        print_expr(e)  # validates the operator and operand count
        out: list[_Piece] = []
        for i, operand in enumerate(e.operands):
            if i == 0:
                sub = self.lay(operand, col, _NOT)
                c0, t0, a0 = sub[0]
                sub[0] = (c0, t0, self.at(e) + a0)
            else:
                op_col = col - len(e.op) - 1 if hang and col > len(e.op) else col
                sub = self.lay(operand, op_col + len(e.op) + 1, _NOT)
                c0, t0, a0 = sub[0]
                sub[0] = (op_col, f"{e.op} {t0}", a0)
            out.extend(sub)
        return out

    def clause_expr(self, col: int, keyword: str, e: n.Expr,
                    anchors: list[tuple[int, int]] | None = None) -> None:
        """``when <expr>`` and the like, operands of a broken chain lined up."""
        prefix = keyword + " "
        self.emit_pieces(self.lay(e, col + len(prefix), hang=True), prefix, col, anchors or [])

    # --------------------------------------------------------------- items
    def items(self, items: Sequence[n.Item], col: int, after_head: n.Node | None = None) -> None:
        for i, item in enumerate(items):
            start = len(self.lines)
            self.item(item, col)
            line = self.lines[start]
            line.item = True
            if _has_span(item):
                line.blank = (item.span.line - 1 not in self.occupied
                              and (i > 0 or after_head is not None))
            else:
                line.blank = i > 0

    def item(self, item: n.Item, col: int) -> None:
        method = getattr(self, "p_" + type(item).__name__.lower(), None)
        if method is None:
            raise PrintError(f"not an item: {type(item).__name__}")
        method(item, col)

    def p_header(self, h: n.Header, col: int) -> None:
        self.emit(col, f"guideline {h.id} {quote(h.title)}", self.at(h))
        for key in _HEADER_FIELDS:
            value = getattr(h, key)
            if value is None:
                continue
            if key in ("version", "description"):
                text = quote(value)
            elif isinstance(value, datetime.date):
                text = value.isoformat()
            else:
                text = str(value)
            self.emit(col + 2, f"{key} {text}", self.clause(key, h))

    def p_module(self, m: n.Module, col: int) -> None:
        title = "" if m.title is None else " " + quote(m.title)
        self.emit(col, f"module {m.name}{title}", self.at(m))

    def p_import(self, i: n.Import, col: int) -> None:
        if i.module is None:
            self.emit(col, f"import {quote(i.path)}", self.at(i))
            return
        package = f"{i.package}:" if i.package is not None else ""
        self.emit(col, f"import {package}{i.module}", self.at(i))

    def p_typedecl(self, t: n.TypeDecl, col: int) -> None:
        if not t.fields:
            raise PrintError(f"type `{t.name}` has no field")
        doc = "" if t.doc is None else " " + quote(t.doc)
        self.emit(col, f"type {t.name}{doc}:", self.at(t))
        for f in t.fields:
            self.emit(col + 2, field_text(f), self.at(f))

    def p_enumdecl(self, e: n.EnumDecl, col: int) -> None:
        if not e.members:
            raise PrintError(f"enum `{e.name}` has no member")
        head = f"enum {e.name}" + (" ordered" if e.ordered else "") + (
            "" if e.doc is None else " " + quote(e.doc)) + ":"
        parts = [m.name + ("" if m.doc is None else " " + quote(m.doc)) for m in e.members]
        anchors = [self.at(m) for m in e.members]
        documented = any(m.doc is not None for m in e.members)  # then one member a line
        breaks = [documented or self.between(a, b) for a, b in itertools.pairwise(e.members)]
        flat = f"{head} {', '.join(parts)}"
        if col + len(flat) <= WIDTH and not any(breaks):
            self.emit(col, flat, self.at(e) + [x for a in anchors for x in a])
            return
        self.emit(col, head, self.at(e))
        self.emit_list(col + 2, "", parts, anchors, [], breaks)

    def p_source(self, s: n.Source, col: int) -> None:
        self.emit(col, f"source {s.key}:", self.at(s))
        count = 0
        for key in _SOURCE_FIELDS:
            value = getattr(s, key)
            if value is None:
                continue
            count += 1
            if key == "year":
                text = f"year {value}"
            elif key == "unverified" and value == UNVERIFIED_DEFAULT:
                text = "unverified"
            else:
                text = f"{key} {quote(value)}"
            self.emit(col + 2, text, self.clause(key, s))
        if not count:
            raise PrintError(f"source `{s.key}` has no field")

    def p_define(self, d: n.Define, col: int) -> None:
        head = f"define {d.name}:"
        flat = print_expr(d.expr)
        if col + len(head) + 1 + len(flat) <= WIDTH and not self.forced(d.expr):
            self.emit(col, f"{head} {flat}", self.at(d) + self.deep(d.expr))
            return
        self.emit(col, head, self.at(d))
        self.emit_pieces(self.lay(d.expr, col + 2), "", col + 2, [])

    def p_rule(self, r: n.Rule, col: int) -> None:
        if not r.actions:
            raise PrintError(f"rule `{r.rule_id}` has no action")
        self.emit(col, f"rule {r.rule_id}:", self.at(r))
        if r.when is not None:
            self.clause_expr(col + 2, "when", r.when)
        for cond in r.unless:
            self.clause_expr(col + 2, "unless", cond)
        for action in r.actions:
            self.action(action, col + 2)

    def action(self, a: n.Action, col: int, head: str = "",
               anchors: list[tuple[int, int]] | None = None, short: bool = False) -> None:
        """``kind code "text"`` then one option per line; ``head`` prefixes the first line
        (a score arm's pattern and points)."""
        first = f"{head}{a.kind} {a.code}"
        first_anchors = (anchors or []) + self.at(a)
        text_anchors = self.clause("text", a)
        if a.text is not None:
            text = quote(a.text)
            if col + len(first) + 1 + len(text) <= WIDTH:
                self.emit(col, f"{first} {text}", first_anchors + text_anchors)
            else:
                self.emit(col, first, first_anchors)
                self.emit(col + 2, text, text_anchors)
        else:
            self.emit(col, first, first_anchors)
        for key in ("strength", "urgency"):
            value = getattr(a, key)
            if value is not None:
                self.emit(col + 2, f"{key} {value}", self.clause(key, a))
        if short and (a.cites or a.against):
            raise PrintError(f"a score arm's `{a.kind} {a.code}` cannot cite; the score cites")
        self.citations(col + 2, a, a.cites, a.against)

    def citations(self, col: int, owner: n.Node, cites: Sequence[n.Citation],
                  against: Sequence[n.Citation]) -> None:
        for key, word, cs in (("cites", "cite ", cites), ("against", "against ", against)):
            if cs:
                self.emit_list(col, word, [_citation(c) for c in cs],
                               [self.deep(c) for c in cs], self.clause(key, owner),
                               [self.between(a, b) for a, b in itertools.pairwise(cs)])

    def p_for(self, f: n.For, col: int) -> None:
        self.emit(col, f"for {f.var} in {print_expr(f.source)}:", self.at(f) + self.deep(f.source))
        self.items(f.items, col + 2, after_head=f)

    def p_score(self, s: n.Score, col: int) -> None:
        if not (s.cites or s.against):
            raise PrintError(f"score `{s.name}` cites no source")
        if s.source is not None:
            if s.components or s.bands or not s.arms:
                raise PrintError(f"table score `{s.name}` needs arms and no components")
            self.emit(col, f"score {s.name} from {print_expr(s.source)}:",
                      self.at(s) + self.deep(s.source))
            self.arms(s.arms, col + 2, "", actions=True)
        else:
            if s.arms or not s.components:
                raise PrintError(f"sum score `{s.name}` needs components and no arms")
            self.emit(col, f"score {s.name}:", self.at(s))
            for c in s.components:
                self.component(c, col + 2)
            self.arms(s.bands, col + 2, "band ", actions=True, band=True)
        self.citations(col + 2, s, s.cites, s.against)

    def component(self, c: n.Component, col: int) -> None:
        head = f"component {c.name} from {print_expr(c.source)}"
        anchors = self.at(c) + self.deep(c.source)
        if c.ask is None:
            self.emit(col, head + ":", anchors)
        else:
            ask = f"ask {quote(c.ask)}:"
            if col + len(head) + 1 + len(ask) <= WIDTH:
                self.emit(col, f"{head} {ask}", anchors + self.clause("ask", c))
            else:
                self.emit(col, head, anchors)
                self.emit(col + 4, ask, self.clause("ask", c))
        if not c.arms:
            raise PrintError(f"component `{c.name}` has no arm")
        self.arms(c.arms, col + 2, "", actions=False)

    def arms(self, arms: Sequence[n.Arm], col: int, word: str, *, actions: bool,
             band: bool = False) -> None:
        patterns = [_pattern(a.pattern) for a in arms]
        width = max((len(p) for p in patterns), default=0)
        for before, after in itertools.pairwise(arms):
            if not band and _text_less(before) and _starts_with_string(after.pattern):
                raise PrintError("an arm whose pattern starts with a string cannot follow an "
                                 "arm whose action has no text: the string would be its text")
        for arm, pattern in zip(arms, patterns, strict=True):
            lead = f"{word}{pattern.ljust(width)} -> "
            anchors = self.at(arm) + self.deep(arm.pattern)
            if band:
                if arm.action is None or arm.points != 0:
                    raise PrintError("a band maps to an action and has no points")
                self.action(arm.action, col, lead, anchors, short=True)
                continue
            lead += number(arm.points)
            if arm.action is None:
                self.emit(col, lead, anchors)
            elif not actions:
                raise PrintError("a component's arm gives points only")
            else:
                self.action(arm.action, col, lead + " ", anchors, short=True)

    def p_invariant(self, v: n.Invariant, col: int) -> None:
        if not v.codes:
            raise PrintError(f"invariant {quote(v.name)} names no code")
        self.emit(col, f"invariant {quote(v.name)}:", self.at(v))
        if v.mode == "always" and v.when is None:
            raise PrintError(f"invariant {quote(v.name)}: `always` needs a `when` condition")
        joiner = " and " if v.mode == "never" else " or "
        never = f"{v.mode} " + joiner.join(v.codes)
        anchors = self.clause(v.mode, v)
        if v.when is None:
            self.emit(col + 2, never, anchors)
            return
        flat = print_expr(v.when)
        if col + 2 + len(never) + 6 + len(flat) <= WIDTH and not self.forced(v.when):
            self.emit(col + 2, f"{never} when {flat}", anchors + self.deep(v.when))
        else:
            self.emit(col + 2, never, anchors)
            self.clause_expr(col + 4, "when", v.when)

    def p_test(self, t: n.Test, col: int) -> None:
        self.emit(col, f"test {quote(t.name)}:", self.at(t))
        before = len(self.lines)
        if t.given is not None:
            self.emit(col + 2, f"given {quote(t.given)}", self.clause("given", t))
        if t.as_of is not None:
            self.emit(col + 2, f"as_of {t.as_of.isoformat()}", self.clause("as_of", t))
        for key, word in (("expect", "expect "), ("expect_not", "expect no "),
                          ("expect_missing", "expect missing ")):
            codes: tuple[str, ...] = getattr(t, key)
            if codes:
                self.emit_list(col + 2, word, codes, [[] for _ in codes], self.clause(key, t))
        score_anchors = self.clause("expect_scores", t)
        for se in t.expect_scores:
            value = number(se.low) if se.low == se.high else \
                f"{number(se.low)}..{number(se.high)}"
            anchors = self.at(se) or score_anchors[:1]
            self.emit(col + 2, f"expect score {se.name} {value}", anchors)
        if len(self.lines) == before:
            raise PrintError(f"test {quote(t.name)} has no clause")

    # --------------------------------------------------------------- comments
    def render(self) -> str:
        self.items(self.file.items, 0)
        before: dict[int, list[n.Comment]] = {}
        trailing: dict[int, n.Comment] = {}
        if self.file.comments:
            self.place(before, trailing)
        out: list[str] = []
        for i, line in enumerate(self.lines):
            for c in before.get(i, ()):
                if line.item and out and out[-1] and self.blank_before(c):
                    out.append("")
                out.append(" " * line.col + c.text)
            if line.blank and out and out[-1]:
                out.append("")
            text = " " * line.col + line.text
            if i in trailing:
                text += "  " + trailing[i].text
            out.append(text)
        for c in before.get(len(self.lines), ()):
            if out and out[-1] and self.blank_before(c):
                out.append("")
            out.append(c.text)
        return "\n".join(out) + "\n" if out else ""

    def blank_before(self, c: n.Comment) -> bool:
        return c.span.line - 1 not in self.occupied

    def place(self, before: dict[int, list[n.Comment]], trailing: dict[int, n.Comment]) -> None:
        """Give every comment a place, keeping their order: before the line holding the next
        code, or (a trailing comment) at the end of the line holding the code before it."""
        anchors = sorted((offset, index) for index, line in enumerate(self.lines)
                         for offset, _ in line.anchors)
        offsets = [a[0] for a in anchors]
        last = (-1, 0)  # (line index, 0 before it | 1 at its end)
        for c in self.file.comments:
            slot: tuple[int, int] | None = None
            if c.trailing:
                k = bisect.bisect_left(offsets, c.span.start) - 1
                if k >= 0:
                    slot = (anchors[k][1], 1)
            if slot is None:
                k = bisect.bisect_right(offsets, c.span.start)
                slot = (anchors[k][1], 0) if k < len(anchors) else (len(self.lines), 0)
            if slot < last or (slot == last and slot[1] == 1):
                slot = last if last[1] == 0 else (last[0] + 1, 0)
            if slot[1] == 1:
                trailing[slot[0]] = c
            else:
                before.setdefault(slot[0], []).append(c)
            last = slot


def print_file(file: n.File) -> str:
    """The canonical text of a parsed file, comments included.

    Raises ``PrintError`` for an AST the language cannot spell (never for one the parser
    built).

    Example:
        >>> from spinerules.lang.parser import parse
        >>> from spinerules.lang.source import Source
        >>> tree, _ = parse(Source("x.rules", "rule r: when a recommend b cite S"))
        >>> print(print_file(tree), end="")
        rule r:
          when a
          recommend b
            cite S
    """
    return _Printer(file).render()


def print_item(item: n.Item) -> str:
    """The canonical text of one item (no comments).

    Example:
        >>> from spinerules.lang import nodes as n
        >>> print(print_item(n.Import(path="red_flags.rules")), end="")
        import "red_flags.rules"
    """
    return print_file(n.File(name="<item>", items=(item,)))


def format_source(source: Source, limits: Limits = DEFAULT_LIMITS
                  ) -> tuple[str | None, list[dg.Diagnostic]]:
    """The canonical text of a source, checked; ``(None, diagnostics)`` if it has errors.

    A file that gives a one-value clause twice (``strength weak strength strong``) counts
    as having errors (``SR221``, see ``repeated_clauses``): printing it would drop one.
    The printed text is parsed again: unless that gives an equal AST and the same
    comments in the same order, ``UnsafeFormatError`` is raised and nothing should be
    written.

    Example:
        >>> text, problems = format_source(Source("x.rules", "define  a:1+2*3 # sum"))
        >>> print(text, end="")
        define a: 1 + 2 * 3  # sum
    """
    tree, problems = parse(source, limits, layout=True)
    if tree is None or any(d.is_error for d in problems):
        return None, problems
    repeated = repeated_clauses(tree)
    if repeated:  # the AST keeps only the last; printing it would drop the others
        return None, [*problems, *repeated]
    try:
        text = print_file(tree)
    except (PrintError, RecursionError) as exc:
        raise UnsafeFormatError(source.name, f"cannot print it: {exc}") from None
    again, reproblems = parse(Source(source.name, text), limits)
    if again is None or any(d.is_error for d in reproblems):
        codes = ", ".join(d.code for d in reproblems)
        raise UnsafeFormatError(source.name, f"the printed text does not parse ({codes})")
    if again != tree:
        raise UnsafeFormatError(source.name, "the printed text means something else")
    if [c.text for c in again.comments] != [c.text for c in tree.comments]:
        raise UnsafeFormatError(source.name, "comments were lost or reordered")
    return text, problems


#: clauses that hold one value: the AST keeps the last of several
_SINGLE = {
    n.Header: _HEADER_FIELDS,
    n.Source: _SOURCE_FIELDS,
    n.Test: ("given", "as_of"),
    n.Action: ("strength", "urgency"),
}


def repeated_clauses(file: n.File) -> list[dg.Diagnostic]:
    """A diagnostic (``SR221``) for each clause given twice where only one counts.

    ``source S: title "a" title "b"`` parses, and the AST keeps ``"b"``: printing it would
    silently drop ``"a"``, so ``format_source`` refuses such a file. Needs
    ``File.clauses`` (``parse(..., layout=True)``).

    Example:
        >>> text = 'source S: title "a" url "u" title "b"'
        >>> tree, _ = parse(Source("x.rules", text), layout=True)
        >>> [(d.code, d.message, d.span.line) for d in repeated_clauses(tree)]
        [('SR221', 'invalid repetition of `title`', 1)]
    """
    if not file.clauses:
        return []
    clauses = sorted(file.clauses, key=lambda c: c[1].start)
    starts = [s.start for _, s in clauses]
    out: list[dg.Diagnostic] = []
    for node in _walk(file.items):
        keys = _SINGLE.get(type(node))
        if keys is None or not _has_span(node):
            continue
        lo = bisect.bisect_left(starts, node.span.start)
        hi = bisect.bisect_left(starts, node.span.end)
        first: dict[str, Span] = {}
        for key, span in clauses[lo:hi]:
            if key not in keys:
                continue
            if key in first:
                out.append(dg.make(
                    "SR221", span, what="repetition of", value=key,
                    detail=f"{_owner(node)} already has a `{key}` (line {first[key].line})",
                    hints=("remove one: only the last counts, and `spinerules fmt` would drop "
                           "the others",)))
            else:
                first[key] = span
    return out


def _owner(node: n.Node) -> str:
    if isinstance(node, n.Source):
        return f"source `{node.key}`"
    if isinstance(node, n.Test):
        return f"test {quote(node.name)}"
    if isinstance(node, n.Action):
        return f"`{node.kind} {node.code}`"
    return "the header"


# ------------------------------------------------------------------------- dump

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _value(v: Any) -> str:
    if isinstance(v, n.Node):
        return _sexpr(v)
    if isinstance(v, tuple):
        return "[" + " ".join(_value(x) for x in v) + "]"
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return number(float(v))
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, str):
        if _BARE.fullmatch(v) and v not in ("nil", "true", "false"):
            return v
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Span):  # pragma: no cover - spans are left out
        return "?"
    raise TypeError(f"cannot dump {type(v).__name__}")


def _sexpr(node: n.Node) -> str:
    parts = [type(node).__name__]
    for f in attrs.fields(type(node)):
        if not f.eq:
            continue
        value = getattr(node, f.name)
        if f.default is not attrs.NOTHING and value == f.default:
            continue
        parts.append(f"{f.name}={_value(value)}")
    return "(" + " ".join(parts) + ")"


def dump(node: n.Node) -> str:
    """A compact, deterministic s-expression of a node (see the module docstring).

    Example:
        >>> from spinerules.lang.parser import parse
        >>> tree, _ = parse(Source("x.rules", "define d: w > 1 day  # S1"))
        >>> print(dump(tree))
        (Define name=d expr=(Compare op=">" left=(Path names=[w]) right=(Number value=1 unit=day)))
        (Comment text="# S1" trailing=true)
    """
    if isinstance(node, n.File):
        return "\n".join([*(_sexpr(i) for i in node.items), *(_sexpr(c) for c in node.comments)])
    return _sexpr(node)
