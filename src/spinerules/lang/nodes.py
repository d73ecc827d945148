"""AST nodes: frozen attrs classes with a span and a node id, children as tuples.

Nodes carry no behaviour and no back-references. Types and symbols live in side tables
keyed by ``nid`` (see ``check.py``). ``nid`` and ``span`` are kept out of ``==`` so that a
re-parsed tree compares equal to the original whatever the offsets.
"""

from __future__ import annotations

import datetime
from typing import Literal, TypeAlias

import attrs

from spinerules.lang.source import NO_SPAN, Span


def _meta() -> tuple[int, Span]:  # pragma: no cover - documentation of the two fields
    return 0, NO_SPAN


@attrs.frozen(kw_only=True)
class Node:
    """Base of every node: an id unique per parse, and where it came from."""

    nid: int = attrs.field(default=0, eq=False, repr=False)
    span: Span = attrs.field(default=NO_SPAN, eq=False, repr=False)


# ---------------------------------------------------------------------- expressions


@attrs.frozen(kw_only=True)
class Number(Node):
    """A plain number, or a quantity when ``unit`` is set (``12 weeks``, ``25 %``)."""

    value: float
    unit: str | None = None
    text: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class String(Node):
    value: str


@attrs.frozen(kw_only=True)
class Bool(Node):
    value: bool


@attrs.frozen(kw_only=True)
class Date(Node):
    value: datetime.date


@attrs.frozen(kw_only=True)
class Today(Node):
    """The evaluation date (``as_of``), never the wall clock."""


@attrs.frozen(kw_only=True)
class Path(Node):
    """A dotted name: ``patient.neuro.deficit``, ``fracture.level``, ``red_flag``, ``L1``."""

    names: tuple[str, ...]
    spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)


@attrs.frozen(kw_only=True)
class BoolOp(Node):
    """N-ary Kleene ``and`` / ``or``."""

    op: str
    operands: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class Not(Node):
    operand: Expr


@attrs.frozen(kw_only=True)
class IsKnown(Node):
    """``known x`` (``known=True``) or ``unknown x`` (``known=False``); never unknown itself."""

    operand: Expr
    known: bool


@attrs.frozen(kw_only=True)
class Compare(Node):
    op: str
    left: Expr
    right: Expr


@attrs.frozen(kw_only=True)
class InRange(Node):
    """``value in low..high``, both bounds inclusive."""

    value: Expr
    low: Expr
    high: Expr


@attrs.frozen(kw_only=True)
class InSet(Node):
    value: Expr
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class Arith(Node):
    op: str
    left: Expr
    right: Expr


@attrs.frozen(kw_only=True)
class Neg(Node):
    operand: Expr


@attrs.frozen(kw_only=True)
class Quantifier(Node):
    """``any(x in xs: c)``, ``all(x in xs: c)``, ``count(x in xs[: c])``."""

    kind: str
    var: str
    source: Expr
    condition: Expr | None


Expr: TypeAlias = (
    Number | String | Bool | Date | Today | Path | BoolOp | Not | IsKnown | Compare
    | InRange | InSet | Arith | Neg | Quantifier
)

# ---------------------------------------------------------------------- items


@attrs.frozen(kw_only=True)
class Header(Node):
    """``guideline <id> "<title>"`` with its fields."""

    id: str
    title: str
    version: str | None = None
    record: str | None = None
    status: str | None = None
    review: datetime.date | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class Module(Node):
    """``module <name>``: the header of a file meant to be imported."""

    name: str
    title: str | None = None


@attrs.frozen(kw_only=True)
class Import(Node):
    """``import "file.rules"`` (``path``, relative to the importing file), ``import a.b``
    (``module``: ``a/b.rules`` from the project's root) or ``import spinerules:a.b``
    (``package="spinerules"``: a bundled module)."""

    path: str = ""
    module: str | None = None
    package: str | None = None


@attrs.frozen(kw_only=True)
class FieldDecl(Node):
    """``field <name>: <type> [unit] [range] ["doc"]`` in a ``type`` declaration.

    ``type`` is ``boolean``, ``integer``, ``number``, ``string``, ``date`` or the name of
    a declared enumeration or record type; ``is_list`` for ``list of <type>``.
    """

    name: str
    type: str
    is_list: bool = False
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    doc: str | None = None


@attrs.frozen(kw_only=True)
class TypeDecl(Node):
    """``type <name> ["doc"]:`` and its fields: a record type declared in the language."""

    name: str
    doc: str | None = None
    fields: tuple[FieldDecl, ...] = ()


@attrs.frozen(kw_only=True)
class EnumMember(Node):
    name: str
    doc: str | None = None


@attrs.frozen(kw_only=True)
class EnumDecl(Node):
    """``enum <name> [ordered] ["doc"]: a, b, c``: an enumeration (JSON spells a member by
    its name); members of an ``ordered`` one compare in declaration order."""

    name: str
    ordered: bool = False
    doc: str | None = None
    members: tuple[EnumMember, ...] = ()


@attrs.frozen(kw_only=True)
class Source(Node):
    """A published source that actions cite."""

    key: str
    title: str | None = None
    authors: str | None = None
    publisher: str | None = None
    journal: str | None = None
    year: int | None = None
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    evidence: str | None = None
    note: str | None = None
    unverified: str | None = None


@attrs.frozen(kw_only=True)
class Define(Node):
    name: str
    expr: Expr


@attrs.frozen(kw_only=True)
class Citation(Node):
    key: str
    locator: str | None = None


@attrs.frozen(kw_only=True)
class Action(Node):
    """One output of a rule or score band: kind, code, text, strength, urgency, sources."""

    kind: str
    code: str
    text: str | None = None
    strength: str | None = None
    urgency: str | None = None
    cites: tuple[Citation, ...] = ()
    against: tuple[Citation, ...] = ()


@attrs.frozen(kw_only=True)
class Rule(Node):
    rule_id: str
    when: Expr | None
    unless: tuple[Expr, ...]
    actions: tuple[Action, ...]


@attrs.frozen(kw_only=True)
class Pattern(Node):
    """A score arm's pattern: ``else``, ``< 20 %``, ``20 % .. 25 %``, ``burst``, ``[a, b]``."""

    kind: str  # "else" | "cmp" | "range" | "eq" | "set"
    op: str | None = None
    values: tuple[Expr, ...] = ()


@attrs.frozen(kw_only=True)
class Arm(Node):
    pattern: Pattern
    points: float
    action: Action | None = None


@attrs.frozen(kw_only=True)
class Component(Node):
    name: str
    source: Expr
    arms: tuple[Arm, ...]
    ask: str | None = None


@attrs.frozen(kw_only=True)
class Score(Node):
    """A table score (``source`` and ``arms``) or a sum score (``components`` and ``bands``)."""

    name: str
    source: Expr | None
    arms: tuple[Arm, ...] = ()
    components: tuple[Component, ...] = ()
    bands: tuple[Arm, ...] = ()
    cites: tuple[Citation, ...] = ()
    against: tuple[Citation, ...] = ()


@attrs.frozen(kw_only=True)
class For(Node):
    """``for x in xs:`` and the items indented under it."""

    var: str
    source: Expr
    items: tuple[Item, ...] = ()


@attrs.frozen(kw_only=True)
class Invariant(Node):
    """``invariant "name": never a and b [when cond]`` (``mode="never"``: the codes never fire
    together) or ``invariant "name": always a or b when cond`` (``mode="always"``: whenever the
    condition holds, at least one of the codes fires)."""

    name: str
    codes: tuple[str, ...]
    when: Expr | None = None
    mode: Literal["never", "always"] = "never"


@attrs.frozen(kw_only=True)
class ScoreExpect(Node):
    name: str
    low: float
    high: float


@attrs.frozen(kw_only=True)
class Test(Node):
    name: str
    given: str | None = None
    as_of: datetime.date | None = None
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()
    expect_missing: tuple[str, ...] = ()
    expect_scores: tuple[ScoreExpect, ...] = ()


Item: TypeAlias = (
    Header | Module | Import | Source | Define | Rule | For | Score | Invariant | Test
    | TypeDecl | EnumDecl
)


@attrs.frozen(kw_only=True)
class Comment(Node):
    """A ``# ...`` comment (``text`` keeps the ``#``, not the trailing spaces).

    The grammar skips comments; the parser keeps them on ``File.comments`` so that the
    printer (``spinerules fmt``) can put them back. ``trailing``: code precedes the comment
    on its line.
    """

    text: str
    trailing: bool = False


@attrs.frozen(kw_only=True)
class File(Node):
    """One parsed `.rules` file.

    ``comments`` and ``clauses`` are layout, kept out of ``==`` (like spans): ``clauses``
    says where the clauses that are not nodes start (header and source fields, action
    options and texts, test clauses, an invariant's ``never``) as ``(keyword, span)``, so
    that the printer can keep each comment beside its line. ``clauses`` is recorded only
    when the file was parsed with ``parse(..., layout=True)``, as ``spinerules fmt`` does.
    """

    name: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = attrs.field(default=(), eq=False, repr=False)
    clauses: tuple[tuple[str, Span], ...] = attrs.field(default=(), eq=False, repr=False)
