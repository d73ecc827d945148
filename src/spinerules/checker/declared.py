"""Record types declared in the language: checked, made into attrs classes, or compared
with the Python classes registered under the same name.

A guideline (or a module it imports) may declare its record types::

    enum ccr.Mechanism "How the neck was injured": fall, collision, other
    type ccr.Patient "Findings after blunt neck trauma":
      field age: integer years 0..120 "age in whole years"
      field mechanism: Mechanism "how the neck was injured"

Each declared type becomes a frozen attrs class built with ``records.schema.fact`` (and
each enumeration an ``enum.Enum``, an ``OrderedEnum`` when ``ordered``), exactly what a
hand-written record module would hold, so the loader, the checker and the evaluators see
no difference. When a Python class is registered under a declared type's name (the
bundled ``spine.Patient``, or an integrator's ``load(..., records=...)``), that class is
used and the declaration is compared with it field by field: every difference is a
located ``SR225``. See docs/contributors/adr-0001-record-declarations.md.
"""

from __future__ import annotations

import datetime
import enum
import keyword
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.resolve import Program
from spinerules.records.schema import OrderedEnum, fact

BUILTIN_TYPES: dict[str, type] = {"boolean": bool, "integer": int, "number": float,
                                  "string": str, "date": datetime.date}
"""The field types every declaration may use, and the Python type each becomes."""

DECLARED_MARK = "__spinerules_declared__"
"""Set on every class made from a declaration (its declared name), so a pickled guideline
knows to declare it again rather than pickle the class."""


def declarations(program: Program) -> tuple[list[n.TypeDecl], list[n.EnumDecl]]:
    """Every ``type`` and ``enum`` declaration of a program's files, in file order."""
    types = [i for i in program.items() if isinstance(i, n.TypeDecl)]
    enums = [i for i in program.items() if isinstance(i, n.EnumDecl)]
    return types, enums


def declare(program: Program, registry: Mapping[str, type]) -> tuple[
        dict[str, type], list[dg.Diagnostic]]:
    """The record classes of a program's declarations, by declared name, and diagnostics.

    A declared type whose name is in ``registry`` is not made: the registered class is
    returned for it, after the declaration (and the types it names) was compared with
    it.
    """
    types, enums = declarations(program)
    if not types and not enums:
        return {}, []
    problems: list[dg.Diagnostic] = []
    by_name: dict[str, n.TypeDecl | n.EnumDecl] = {}
    every: list[n.TypeDecl | n.EnumDecl] = [*enums, *types]
    for d in every:
        if d.name in by_name:
            problems.append(dg.make("SR203", d.span, name=d.name,
                                    hints=("each record type and enumeration is declared "
                                           "once, in one module the others import",)))
            continue
        by_name[d.name] = d
    for e in enums:
        _check_enum(e, problems)
    resolved: dict[tuple[str, str], str] = {}  # (declaring type, field) -> declared name
    for t in types:
        _check_type(t, by_name, resolved, problems)
    if any(p.is_error for p in problems):
        return {}, problems
    order, cycle = _order(types, resolved)
    if cycle:
        problems.append(dg.make("SR224", cycle[0].span,
                                cycle=" -> ".join(t.name for t in cycle),
                                hints=("a record may hold another record, never itself, "
                                       "directly or through others",)))
        return {}, problems
    bound: dict[str, type] = {}  # declared name -> the Python class it was compared with
    for t in types:
        if t.name in registry:
            _compare(t, registry[t.name], by_name, resolved, problems, bound)
    made: dict[str, type] = {}
    for t in order:
        if t.name in bound:
            continue  # a registered class (or one it holds) runs: never made
        for f in t.fields:  # the enumerations it uses, made once (only when needed)
            target = by_name.get(resolved.get((t.name, f.name), ""))
            if isinstance(target, n.EnumDecl) and target.name not in made:
                made[target.name] = _make_enum(target)
        made[t.name] = _make_type(t, made, resolved, bound)
    out = {t.name: made.get(t.name) or bound[t.name] for t in types}
    return out, problems


# ---------------------------------------------------------------------- checks


def _check_enum(e: n.EnumDecl, problems: list[dg.Diagnostic]) -> None:
    seen: set[str] = set()
    for m in e.members:
        if m.name in seen:
            problems.append(dg.make("SR203", m.span, name=m.name,
                                    hints=(f"`{e.name}` lists it twice",)))
        elif m.name.startswith("_"):
            problems.append(dg.make("SR221", m.span, what="enumeration member",
                                    value=m.name, detail="a member may not start with `_`",
                                    hints=("start it with a letter",)))
        seen.add(m.name)


def _check_type(t: n.TypeDecl, by_name: Mapping[str, n.TypeDecl | n.EnumDecl],
                resolved: dict[tuple[str, str], str], problems: list[dg.Diagnostic]) -> None:
    seen: set[str] = set()
    for f in t.fields:
        if f.name in seen:
            problems.append(dg.make("SR203", f.span, name=f.name,
                                    hints=(f"`{t.name}` declares it twice",)))
            continue
        seen.add(f.name)
        if f.name.startswith("_") or keyword.iskeyword(f.name):
            problems.append(dg.make(
                "SR221", f.span, what="field name", value=f.name,
                detail="a field name may not start with `_` or be a Python keyword",
                hints=("choose another name (JSON keys are field names)",)))
        numeric = f.type in ("integer", "number")
        if f.type not in BUILTIN_TYPES:
            target = lookup(f.type, t.name, by_name)
            if target is None:
                known = [*BUILTIN_TYPES, *(k.rsplit(".", 1)[-1] for k in by_name)]
                problems.append(dg.make(
                    "SR222", f.span, name=f.type, field=f.name,
                    hints=dg.did_you_mean(f.type, known) or (
                        "field types: boolean, integer, number, string, date, or a "
                        "declared `type` or `enum`",)))
                continue
            resolved[(t.name, f.name)] = target
        if (f.unit is not None or f.min is not None or f.max is not None) and not numeric:
            what = "a unit" if f.unit is not None else "a range"
            problems.append(dg.make(
                "SR223", f.span, what=what, field=f.name, type=f.type,
                hints=("units and ranges belong to `integer` and `number` fields",)))
        if f.min is not None and f.max is not None and f.min > f.max:
            problems.append(dg.make(
                "SR221", f.span, what="range", value=f"{f.min:g}..{f.max:g}",
                detail="the low end is above the high end", hints=("write `LOW..HIGH`",)))


def lookup(name: str, within: str, by_name: Mapping[str, Any]) -> str | None:
    """The declared name a field's type names: the full name, else the name in the
    declaring type's namespace (``Fracture`` in ``spine.Patient`` is ``spine.Fracture``),
    else the one declaration whose last part it is."""
    if name in by_name:
        return name
    namespace = within.rsplit(".", 1)[0] if "." in within else ""
    if namespace and f"{namespace}.{name}" in by_name:
        return f"{namespace}.{name}"
    tails = [k for k in by_name if k.rsplit(".", 1)[-1] == name]
    return tails[0] if len(tails) == 1 else None


def _order(types: list[n.TypeDecl], resolved: Mapping[tuple[str, str], str]) -> tuple[
        list[n.TypeDecl], list[n.TypeDecl]]:
    """Types in an order where each comes after the types it holds; or a cycle."""
    by_name = {t.name: t for t in types}
    done: dict[str, bool] = {}  # name -> finished (False: on the current path)
    out: list[n.TypeDecl] = []
    for start in types:
        if start.name in done:
            continue
        stack: list[tuple[n.TypeDecl, list[str]]] = [(start, _holds(start, resolved, by_name))]
        done[start.name] = False
        while stack:
            t, pending = stack[-1]
            if not pending:
                stack.pop()
                done[t.name] = True
                out.append(t)
                continue
            nxt = pending.pop()
            if nxt not in done:
                done[nxt] = False
                stack.append((by_name[nxt], _holds(by_name[nxt], resolved, by_name)))
            elif not done[nxt]:
                path = [s[0] for s in stack]
                i = next(i for i, s in enumerate(path) if s.name == nxt)
                return [], [*path[i:], by_name[nxt]]
    return out, []


def _holds(t: n.TypeDecl, resolved: Mapping[tuple[str, str], str],
           by_name: Mapping[str, n.TypeDecl]) -> list[str]:
    return [resolved[(t.name, f.name)] for f in reversed(t.fields)
            if resolved.get((t.name, f.name)) in by_name]


# ---------------------------------------------------------------------- making classes


def _make_enum(e: n.EnumDecl) -> type[enum.Enum]:
    base = OrderedEnum if e.ordered else enum.Enum
    make: Any = base
    cls = make(e.name.rsplit(".", 1)[-1], [(m.name, m.name) for m in e.members],
               module=__name__)
    cls.__doc__ = e.doc or ""
    setattr(cls, DECLARED_MARK, e.name)
    return typing.cast(type[enum.Enum], cls)


def _make_type(t: n.TypeDecl, made: Mapping[str, type],
               resolved: Mapping[tuple[str, str], str], bound: Mapping[str, type]) -> type:
    annotations: dict[str, Any] = {}
    body: dict[str, Any] = {}
    for f in t.fields:
        py: Any
        if f.type in BUILTIN_TYPES:
            py = BUILTIN_TYPES[f.type]
        else:
            target = resolved[(t.name, f.name)]
            py = made.get(target) or bound[target]
        if f.is_list:
            py = tuple[py, ...]
        annotations[f.name] = py | None
        body[f.name] = fact(unit=f.unit, min=f.min, max=f.max, doc=f.doc or "")
    short = t.name.rsplit(".", 1)[-1]
    body["__annotations__"] = annotations
    body["__doc__"] = t.doc or ""
    body["__module__"] = __name__
    body["__qualname__"] = short
    cls = attrs.frozen(kw_only=True)(type(short, (), body))
    setattr(cls, DECLARED_MARK, t.name)
    return cls


# ---------------------------------------------------------------------- comparing


def _compare(t: n.TypeDecl, cls: type, by_name: Mapping[str, n.TypeDecl | n.EnumDecl],
             resolved: Mapping[tuple[str, str], str], problems: list[dg.Diagnostic],
             seen: dict[str, type]) -> None:
    """Compare a declaration with a Python record class, field by field (SR225); ``seen``
    gets each declared type compared, with its class."""
    if t.name in seen:
        return
    seen[t.name] = cls

    found: dict[int, tuple[n.Node, list[str]]] = {}

    def differ(node: n.Node, detail: str) -> None:
        found.setdefault(node.nid, (node, []))[1].append(detail)

    _compare_fields(t, cls, by_name, resolved, problems, seen, differ)
    for node, details in found.values():
        problems.append(dg.make("SR225", node.span, name=t.name, cls=cls.__qualname__,
                                detail="; ".join(details),
                                hints=("the Python class is what runs: make the "
                                       "declaration say what the class holds",)))


def _compare_fields(t: n.TypeDecl, cls: type, by_name: Mapping[str, n.TypeDecl | n.EnumDecl],
                    resolved: Mapping[tuple[str, str], str], problems: list[dg.Diagnostic],
                    seen: dict[str, type], differ: Any) -> None:

    if not attrs.has(cls):
        differ(t, "the registered class is not an attrs class")
        return
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    declared = [f.name for f in t.fields]
    lacking = [f"`{name}`" for name in fields if name not in declared]
    if lacking:
        differ(t, f"the class has fields the declaration lacks: {', '.join(lacking)}")
    if [f for f in declared if f in fields] != [f for f in fields if f in declared]:
        differ(t, "the fields are declared in another order than the class holds them")
    for f in t.fields:
        if f.name not in fields:
            differ(f, f"the class has no field `{f.name}`")
            continue
        md = fields[f.name].metadata
        py, is_list = _unwrap(hints[f.name])
        if is_list != f.is_list:
            differ(f, f"`{f.name}` is {'a list' if is_list else 'not a list'} in the class")
        if f.type in BUILTIN_TYPES:
            if py is not BUILTIN_TYPES[f.type]:
                differ(f, f"`{f.name}` is `{getattr(py, '__name__', py)}` in the class, "
                          f"not `{BUILTIN_TYPES[f.type].__name__}`")
        else:
            target = by_name[resolved[(t.name, f.name)]]
            if isinstance(target, n.EnumDecl):
                _compare_enum(f, target, py, differ)
            elif isinstance(py, type) and attrs.has(py):
                _compare(target, py, by_name, resolved, problems, seen)
            else:
                differ(f, f"`{f.name}` is not a record in the class")
        for key in ("unit", "min", "max"):
            mine, theirs = getattr(f, key), md.get(key)
            if mine != theirs:
                differ(f, f"{key} {_show(theirs)} in the class, {_show(mine)} declared")
        if (f.doc or "") != md.get("doc", ""):
            differ(f, f"the class's doc is {md.get('doc', '')!r}")


def _show(value: Any) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _compare_enum(f: n.FieldDecl, e: n.EnumDecl, py: Any, differ: Any) -> None:
    if not (isinstance(py, type) and issubclass(py, enum.Enum)):
        differ(f, f"`{f.name}` is not an enumeration in the class")
        return
    values = [str(m.value) for m in py]
    names = [m.name for m in e.members]
    if values != names:
        differ(f, f"`{f.name}`: the class's members are {', '.join(values)}")
    if e.ordered != issubclass(py, OrderedEnum):
        differ(f, f"`{f.name}`: the class's enumeration is "
                  f"{'' if issubclass(py, OrderedEnum) else 'not '}ordered")


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, False); ``tuple[X, ...] | None`` -> (X, True)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) \
            and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) in (tuple, list):
        return typing.get_args(annotation)[0], True
    return annotation, False
