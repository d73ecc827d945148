"""The checker's types, and reading them off attrs record classes.

Any attrs class can be a record schema: annotations give the types (``bool``, ``int``,
``float``, ``str``, ``datetime.date``, enums, nested attrs classes, ``tuple[X, ...]``), and
the field metadata written by ``schema.fact()`` gives units and ranges.

Example:
    >>> from spinerules.records.spine import Patient
    >>> fields = record_fields(Patient)
    >>> str(fields["age"].type), str(fields["fractures"].type)
    ('Duration', 'List[Fracture]')
"""

from __future__ import annotations

import datetime
import enum
import functools
import types
import typing
from typing import Any

import attrs

from spinerules.lang.units import DIMENSION_NAMES, UNITS
from spinerules.records.schema import OrderedEnum


@attrs.frozen
class Type:
    """Base of the checker's types."""

    def __str__(self) -> str:
        return type(self).__name__.removesuffix("T")


@attrs.frozen
class BoolT(Type):
    def __str__(self) -> str:
        return "Boolean"


@attrs.frozen
class NumberT(Type):
    def __str__(self) -> str:
        return "Number"


@attrs.frozen
class StringT(Type):
    def __str__(self) -> str:
        return "String"


@attrs.frozen
class DateT(Type):
    def __str__(self) -> str:
        return "Date"


@attrs.frozen
class ErrorT(Type):
    """The type of an expression that already has a diagnostic; matches anything."""

    def __str__(self) -> str:
        return "?"


@attrs.frozen
class QuantityT(Type):
    """A quantity of one dimension; ``unit`` is how values are shown (not part of ==)."""

    dim: str
    unit: str = attrs.field(default="", eq=False)

    def __str__(self) -> str:
        return DIMENSION_NAMES.get(self.dim, self.dim)


@attrs.frozen
class EnumT(Type):
    cls: type[enum.Enum]

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(str(m.value) for m in self.cls)

    @property
    def ordered(self) -> bool:
        return issubclass(self.cls, OrderedEnum)

    def __str__(self) -> str:
        return self.cls.__name__


@attrs.frozen
class ListT(Type):
    elem: Type

    def __str__(self) -> str:
        return f"List[{self.elem}]"


@attrs.frozen
class RecordT(Type):
    cls: type

    def __str__(self) -> str:
        return self.cls.__name__


BOOL, NUMBER, STRING, DATE, ERROR = BoolT(), NumberT(), StringT(), DateT(), ErrorT()


@attrs.frozen
class FieldInfo:
    """One record field as the checker sees it."""

    name: str
    type: Type
    doc: str = ""
    min: float | None = None
    max: float | None = None
    unit: str | None = None


def _to_type(annotation: Any, metadata: Any) -> Type:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return _to_type(members[0], metadata)
    if origin in (tuple, list):
        return ListT(_to_type(typing.get_args(annotation)[0], {}))
    unit = metadata.get("unit") if metadata else None
    if annotation is bool:
        return BOOL
    if annotation in (int, float):
        if unit is not None:
            return QuantityT(UNITS[unit][0], unit)
        return NUMBER
    if annotation is str:
        return STRING
    if annotation is datetime.date:
        return DATE
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return EnumT(annotation)
    if isinstance(annotation, type) and attrs.has(annotation):
        return RecordT(annotation)
    raise TypeError(f"unsupported field type {annotation!r}")


@functools.cache
def record_fields(cls: type) -> dict[str, FieldInfo]:
    """The fields of an attrs record class, as checker types (cached per class)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, FieldInfo] = {}
    for f in attrs.fields(cls):
        md = dict(f.metadata)
        out[f.name] = FieldInfo(
            name=f.name, type=_to_type(hints[f.name], md), doc=str(md.get("doc", "")),
            min=md.get("min"), max=md.get("max"), unit=md.get("unit"),
        )
    return out


def compatible(a: Type, b: Type) -> bool:
    """Whether two types may meet in a comparison (ErrorT meets anything)."""
    if isinstance(a, ErrorT) or isinstance(b, ErrorT):
        return True
    return a == b


def is_ordered(t: Type) -> bool:
    """Whether ``<``/``<=`` and ranges apply."""
    if isinstance(t, EnumT):
        return t.ordered
    return isinstance(t, NumberT | QuantityT | DateT | ErrorT)
