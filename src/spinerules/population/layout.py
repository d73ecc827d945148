"""The input layout: one row per patient, nested like the JSON record.

Each top-level field of the record type is a column; a nested record is a STRUCT, a list
of records a LIST of STRUCTs, an enumeration its JSON spelling (a string), a quantity a
number in the field's own unit (``age`` in years), a date a DATE. NULL is unknown, as a
missing key is in JSON. The layout is derived from the record type (``schema_of``), so a
guideline with its own declared record type gets its own layout.

Why nested rather than one flat table per list: the guideline reads the record as a tree
(``patient.neuro.deficit``, ``any(f in patient.fractures: f.sins.lesion == lytic)``) and
SQL engines with STRUCT and LIST types (DuckDB, Spark) read the same tree without a join
per list; NDJSON records (one JSON patient per line, the format of ``spinerules eval``)
and Parquet hold it as they are, and a quantifier over a list is one list function in the
row rather than a join and a group-by. Flat tables (CSV) are accepted and nested at load
time (``load.py``).
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Any

import attrs


@attrs.frozen
class Leaf:
    """One scalar field of the layout, with its dotted path below its table."""

    path: tuple[str, ...]
    kind: str  # "bool" | "int" | "float" | "str" | "date" | "enum"
    members: tuple[str, ...] = ()  # an enumeration's JSON spellings
    min: float | None = None
    max: float | None = None


def _inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if annotation is str:
        return "str", ()
    if annotation is datetime.date:
        return "date", ()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "enum", tuple(str(m.value) for m in annotation)
    raise TypeError(f"no column type for {annotation!r}")


def fields_of(cls: type) -> Iterator[tuple[str, Any, bool, Any]]:
    """(name, element annotation, is a list, field metadata) of each field of ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in attrs.fields(cls):
        annotation = _inner(hints[f.name])
        origin = typing.get_origin(annotation)
        if origin in (tuple, list):
            yield f.name, typing.get_args(annotation)[0], True, f.metadata
        else:
            yield f.name, annotation, False, f.metadata


def arrow_type(annotation: Any) -> Any:
    import pyarrow as pa

    if attrs.has(annotation):
        return pa.struct([pa.field(name, pa.list_(arrow_type(a)) if is_list else arrow_type(a))
                          for name, a, is_list, _ in fields_of(annotation)])
    kind, _ = _kind(annotation)
    return {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(),
            "str": pa.string(), "date": pa.date32(), "enum": pa.string()}[kind]


def schema_of(record: type) -> Any:
    """The Arrow schema of the layout for ``record``, plus ``__row`` (int64) first."""
    import pyarrow as pa

    fields = [pa.field("__row", pa.int64())]
    for name, a, is_list, _ in fields_of(record):
        fields.append(pa.field(name, pa.list_(arrow_type(a)) if is_list else arrow_type(a)))
    return pa.schema(fields)


def sql_type(annotation: Any, is_list: bool = False) -> str:
    """The DuckDB type of a field (for reading NDJSON and CSV with explicit columns)."""
    if attrs.has(annotation):
        inner = "STRUCT(" + ", ".join(
            f'"{name}" {sql_type(a, lst)}' for name, a, lst, _ in fields_of(annotation)) + ")"
    else:
        kind, _ = _kind(annotation)
        inner = {"bool": "BOOLEAN", "int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR",
                 "date": "DATE", "enum": "VARCHAR"}[kind]
    return inner + "[]" if is_list else inner


def leaves(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """Every scalar field below ``cls`` (lists of records are left to ``lists``)."""
    for name, a, is_list, md in fields_of(cls):
        if attrs.has(a):
            if not is_list:
                yield from leaves(a, (*prefix, name))
            continue
        kind, members = _kind(a)
        yield Leaf((*prefix, name), kind if not is_list else "list", members,
                   md.get("min"), md.get("max"))


def lists(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type]]:
    """The lists of records below ``cls`` (each a table of its own in the flat layout)."""
    for name, a, is_list, _ in fields_of(cls):
        if attrs.has(a):
            if is_list:
                yield (*prefix, name), a
            else:
                yield from lists(a, (*prefix, name))


def to_row(record: Any) -> dict[str, Any] | None:
    """A record as the nested layout's row (enumerations as their JSON spelling)."""
    if record is None:
        return None
    out: dict[str, Any] = {}
    for f in attrs.fields(type(record)):
        v = getattr(record, f.name)
        if v is None:
            out[f.name] = None
        elif isinstance(v, enum.Enum):
            out[f.name] = v.value
        elif attrs.has(type(v)):
            out[f.name] = to_row(v)
        elif isinstance(v, tuple | list):
            out[f.name] = [to_row(x) if attrs.has(type(x)) else
                           (x.value if isinstance(x, enum.Enum) else x) for x in v]
        else:
            out[f.name] = v
    return out


def to_arrow(records: Iterable[Any], record: type, start: int = 0) -> Any:
    """Records as an Arrow table of the layout (``__row`` numbered from ``start``)."""
    import pyarrow as pa

    rows = []
    for i, r in enumerate(records, start):
        row = to_row(r) or {}
        row["__row"] = i
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema_of(record))
