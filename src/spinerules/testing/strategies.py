"""Hypothesis strategies derived from record schemas and from guidelines.

``records(Patient)`` generates valid records of any attrs record class built with
``schema.fact()``: types, enumerations, ranges and units come from the fields; every fact is
sometimes unknown. ``patients_for(guideline)`` biases numbers towards the guideline's own
thresholds (a rule on ``>= 12 weeks`` gets 11.9, 12 and 12.1) so that boundaries are hit.

Needs the ``strategies`` extra (``pip install spinerules[strategies]``).

Example:
    >>> from spinerules.records.spine import Patient
    >>> from hypothesis import find
    >>> p = find(records(Patient), lambda p: p.age is not None and p.age >= 90)
    >>> p.age
    90
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import strategies as st

from spinerules.checker import typesys as ts
from spinerules.checker.check import FieldRef
from spinerules.lang import nodes as n
from spinerules.lang.units import UNITS

if TYPE_CHECKING:
    from spinerules.api import Guideline

#: (record class, field name) -> boundary values in the field's own unit
Thresholds = Mapping[tuple[type, str], frozenset[float]]


def _inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def _leaf(annotation: Any, md: Mapping[str, Any], near: frozenset[float]) -> st.SearchStrategy[Any]:
    lo, hi = md.get("min"), md.get("max")
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = int(lo) if lo is not None else -1000
        high = int(hi) if hi is not None else 1000
        base: st.SearchStrategy[Any] = st.integers(low, high)
        picks = sorted({round(v) + d for v in near for d in (-1, 0, 1)
                        if low <= round(v) + d <= high})
        return st.sampled_from(picks) | base if picks else base
    if annotation is float:
        low_f = float(lo) if lo is not None else -100.0
        high_f = float(hi) if hi is not None else 100.0
        base = st.floats(low_f, high_f, allow_nan=False, allow_infinity=False).map(
            lambda x: round(x, 2))
        picks_f = sorted({round(v + d, 4) for v in near for d in (-0.1, 0.0, 0.1)
                          if low_f <= v + d <= high_f})
        return st.sampled_from(picks_f) | base if picks_f else base
    if annotation is str:
        return st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
    if annotation is datetime.date:
        return st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 12, 31))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    raise TypeError(f"no strategy for {annotation!r}")


def records(cls: type, *, overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
            thresholds: Thresholds | None = None, max_list: int = 3, known: int = 4,
            _prefix: str = "") -> st.SearchStrategy[Any]:
    """A strategy for valid instances of an attrs record class; facts are sometimes unknown.

    ``overrides`` maps dotted field paths (``"fractures.height_loss_pct"``, ``"age"``) to
    strategies that replace the derived ones. Each fact is unknown about one time in
    ``known + 1`` (shrinking moves towards unknown: a minimal example knows little).
    """
    overrides = dict(overrides or {})
    thresholds = thresholds or {}
    hints = typing.get_type_hints(cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in attrs.fields(cls):
        path = f"{_prefix}{f.name}"
        if path in overrides:
            fields[f.name] = overrides[path]
            continue
        annotation = _inner(hints[f.name])
        origin = typing.get_origin(annotation)
        strat: st.SearchStrategy[Any]
        if origin in (tuple, list):
            elem = typing.get_args(annotation)[0]
            inner = records(elem, overrides=overrides, thresholds=thresholds,
                            max_list=max_list, known=known,
                            _prefix=f"{path}.") if attrs.has(elem) \
                else _leaf(elem, {}, frozenset())
            strat = st.lists(inner, max_size=max_list).map(
                tuple if origin is tuple else list)
        elif isinstance(annotation, type) and attrs.has(annotation):
            strat = records(annotation, overrides=overrides, thresholds=thresholds,
                            max_list=max_list, known=known, _prefix=f"{path}.")
        else:
            strat = _leaf(annotation, f.metadata, thresholds.get((cls, f.name), frozenset()))
        fields[f.name] = st.one_of(st.none(), *([strat] * known))
    return st.builds(cls, **fields)


def thresholds_of(guideline: Guideline) -> dict[tuple[type, str], frozenset[float]]:
    """The numeric boundaries a guideline compares record fields with, in field units."""
    checked = guideline.checked
    found: dict[tuple[type, str], set[float]] = {}

    def owner(ref: FieldRef, root_t: ts.Type) -> tuple[type, str, str | None] | None:
        t = root_t
        cls: type | None = None
        for name in ref.fields:
            if not isinstance(t, ts.RecordT):
                return None
            cls = t.cls
            t = ts.record_fields(t.cls)[name].type
        if cls is None:
            return None
        unit = t.unit if isinstance(t, ts.QuantityT) else None
        return cls, ref.fields[-1], unit

    def note(path: n.Path, literal: n.Expr) -> None:
        ref = checked.refs.get(path.nid)
        if not isinstance(ref, FieldRef) or not ref.fields or not isinstance(literal, n.Number):
            return
        root_t = ts.RecordT(checked.record) if ref.root == "patient" else _loop_type(ref)
        if root_t is None:
            return
        hit = owner(ref, root_t)
        if hit is None:
            return
        cls, name, unit = hit
        base = literal.value * UNITS[literal.unit][1] if literal.unit else literal.value
        value = base / UNITS[unit][1] if unit else base
        found.setdefault((cls, name), set()).add(value)

    loop_types: dict[str, ts.Type] = {}

    def _loop_type(ref: FieldRef) -> ts.Type | None:
        return loop_types.get(ref.root)

    def visit(x: Any) -> None:
        if isinstance(x, n.For | n.Quantifier):
            t = checked.types.get(x.source.nid)
            if isinstance(t, ts.ListT):
                loop_types[x.var] = t.elem
        if isinstance(x, n.Compare):
            for a, b in ((x.left, x.right), (x.right, x.left)):
                if isinstance(a, n.Path):
                    note(a, b)
        if isinstance(x, n.Score) and isinstance(x.source, n.Path):
            for arm in x.arms:
                for v in arm.pattern.values:
                    note(x.source, v)
        if isinstance(x, n.Component) and isinstance(x.source, n.Path):
            for arm in x.arms:
                for v in arm.pattern.values:
                    note(x.source, v)
        if isinstance(x, n.Node):
            for f in attrs.fields(type(x)):
                if f.name not in ("nid", "span"):
                    visit(getattr(x, f.name))
        elif isinstance(x, tuple):
            for y in x:
                visit(y)

    for item in checked.program.items():
        visit(item)
    return {k: frozenset(v) for k, v in found.items()}


def patients_for(guideline: Guideline, *,
                 overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
                 max_list: int = 3, known: int = 4) -> st.SearchStrategy[Any]:
    """Records for a guideline's record type, biased towards its thresholds."""
    return records(guideline.record_type, overrides=overrides,
                   thresholds=thresholds_of(guideline), max_list=max_list, known=known)
