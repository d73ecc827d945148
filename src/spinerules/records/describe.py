"""What a record type holds, read from its attrs classes: fields, types, units, ranges, docs.

One walk over a record class gives every field as a :class:`FieldInfo`; from those come
the patient JSON Schema (:func:`json_schema`, ``spinerules schema spine``), the reference
page of record types (:func:`reference_markdown`, ``docs/reference/records.md``) and the
questions a report asks for missing facts.

Example:
    >>> from spinerules.records.spine import Patient
    >>> f = {f.path: f for f in fields_of(Patient)}["age"]
    >>> f.kind, f.unit, f.minimum, f.maximum
    ('integer', 'years', 0, 120)
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class FieldInfo:
    """One field of a record, at its JSON path (``fractures[].level``)."""

    path: str
    record: str  #: the attrs class that declares it
    name: str
    kind: str  #: boolean, integer, number, text, date, choice, record, list of ...
    doc: str = ""
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    ordered: bool = False  #: choices have an order (spine levels)
    item_record: str | None = None  #: for a record or a list of records: its class

    @property
    def type_text(self) -> str:
        """The type in words, as the reference page shows it."""
        text = self.kind
        if self.item_record:
            text = f"{self.kind} `{self.item_record}`"
        if self.choices:
            shown = ", ".join(self.choices) if len(self.choices) <= 8 else \
                f"{self.choices[0]} .. {self.choices[-1]} ({len(self.choices)} values, ordered)"
            text += f": {shown}"
        return text

    @property
    def range_text(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"{_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f">= {_num(self.minimum)}"
        if self.maximum is not None:
            return f"<= {_num(self.maximum)}"
        return ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside ``X | None`` and ``tuple[X, ...]``; whether it is a list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0], True
    return annotation, False


def _kind_of(t: Any) -> tuple[str, tuple[str, ...], bool, str | None]:
    if t is bool:
        return "boolean", (), False, None
    if t is int:
        return "integer", (), False, None
    if t is float:
        return "number", (), False, None
    if t is str:
        return "text", (), False, None
    if t is datetime.date:
        return "date", (), False, None
    if isinstance(t, type) and issubclass(t, enum.Enum):
        from spinerules.records.schema import OrderedEnum

        return "choice", tuple(str(m.value) for m in t), issubclass(t, OrderedEnum), None
    if isinstance(t, type) and attrs.has(t):
        return "record", (), False, t.__name__
    return getattr(t, "__name__", str(t)), (), False, None


def record_classes(record_type: type) -> list[type]:
    """The record class and every attrs class nested in it, each once, outermost first."""
    out: list[type] = []
    stack = [record_type]
    while stack:
        cls = stack.pop(0)
        if cls in out:
            continue
        out.append(cls)
        for f in attrs.fields(cls):
            inner, _ = _unwrap(_hint(cls, f))
            if isinstance(inner, type) and attrs.has(inner):
                stack.append(inner)
    return out


def _hint(cls: type, f: attrs.Attribute[Any]) -> Any:
    if isinstance(f.type, str):
        return typing.get_type_hints(cls)[f.name]
    return f.type


def own_fields(cls: type) -> list[FieldInfo]:
    """The fields one class declares (paths relative to it)."""
    out = []
    for f in attrs.fields(cls):
        inner, is_list = _unwrap(_hint(cls, f))
        kind, choices, ordered, item = _kind_of(inner)
        meta = f.metadata
        out.append(FieldInfo(
            path=f.name, record=cls.__name__, name=f.name,
            kind=f"list of {kind}" if is_list else kind, doc=str(meta.get("doc", "")),
            unit=meta.get("unit"), minimum=meta.get("min"), maximum=meta.get("max"),
            choices=choices, ordered=ordered, item_record=item))
    return out


def fields_of(record_type: type) -> list[FieldInfo]:
    """Every field reachable from the record, at its JSON path (``fractures[].level``)."""
    out: list[FieldInfo] = []

    def walk(cls: type, prefix: str, seen: tuple[type, ...]) -> None:
        for info in own_fields(cls):
            path = prefix + info.name
            out.append(attrs.evolve(info, path=path))
            inner, is_list = _unwrap(_hint(cls, attrs.fields_dict(cls)[info.name]))
            if isinstance(inner, type) and attrs.has(inner) and inner not in seen:
                walk(inner, path + ("[]." if is_list else "."), (*seen, inner))

    walk(record_type, "", (record_type,))
    return out


def json_schema(record_type: type, *, name: str | None = None) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the record's JSON: every field optional (missing or
    ``null`` means unknown), no other keys, ranges as ``minimum``/``maximum``, units and
    docs in ``description``. One ``$defs`` entry per class."""
    defs: dict[str, Any] = {}
    for cls in record_classes(record_type):
        props: dict[str, Any] = {}
        for info in own_fields(cls):
            inner, is_list = _unwrap(_hint(cls, attrs.fields_dict(cls)[info.name]))
            props[info.name] = _property(info, inner, is_list)
        entry: dict[str, Any] = {"type": "object", "properties": props,
                                 "additionalProperties": False}
        if cls.__doc__:
            entry["description"] = " ".join(cls.__doc__.split())
        defs[cls.__name__] = entry
    title = name or record_type.__name__
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://spinerules.invalid/schema/record/{title}",
            "title": f"{title} patient record",
            "description": "Every field is optional: a missing key or null means unknown, "
                           "never false. Nothing is coerced (\"22%\" is not a number).",
            "$ref": f"#/$defs/{record_type.__name__}", "$defs": defs}


def _property(info: FieldInfo, inner: Any, is_list: bool) -> dict[str, Any]:
    base: dict[str, Any]
    kind = info.kind.removeprefix("list of ")
    if kind == "record":
        base = {"$ref": f"#/$defs/{info.item_record}"}
    elif kind == "choice":
        base = {"enum": list(info.choices)}
    elif kind == "date":
        base = {"type": "string", "format": "date"}
    else:
        base = {"type": {"boolean": "boolean", "integer": "integer", "number": "number",
                         "text": "string"}.get(kind, "string")}
        if info.minimum is not None:
            base["minimum"] = info.minimum
        if info.maximum is not None:
            base["maximum"] = info.maximum
    schema: dict[str, Any] = {"anyOf": [{"type": "array", "items": base}, {"type": "null"}]} \
        if is_list else {"anyOf": [base, {"type": "null"}]}
    words = info.doc
    if info.unit and info.unit not in words:
        words = f"{words} (in {info.unit})" if words else f"in {info.unit}"
    if words:
        schema["description"] = words
    if info.unit:
        schema["x-unit"] = info.unit
    return schema


def reference_markdown(record_types: dict[str, type]) -> str:
    """The reference page of record types: one table per class, every field with its type,
    unit, range and doc. ``docs/reference/records.md`` is this text (a test keeps it so)."""
    lines = ["# Record types", "",
             "Generated from the record classes by `spinerules.records.describe` (a test "
             "keeps this page in sync: after changing a record, regenerate it with "
             "`python tools/gen_record_docs.py`). The patient JSON Schema is printed by "
             "`spinerules schema spine`.", "",
             "Every field is optional: a missing key or `null` means **unknown**, never "
             "false. Paths use `[]` for list items (`fractures[].level`).", ""]
    for name, record_type in record_types.items():
        lines += [f"## `{name}`", ""]
        if record_type.__doc__:
            lines += [" ".join(record_type.__doc__.split()), ""]
        for cls in record_classes(record_type):
            lines += [f"### {cls.__name__}", ""]
            if cls.__doc__ and cls is not record_type:
                lines += [" ".join(cls.__doc__.split()), ""]
            lines += ["| field | type | unit | range | meaning |", "|---|---|---|---|---|"]
            for f in own_fields(cls):
                cells = [f"`{f.name}`", f.type_text, f.unit or "", f.range_text, f.doc]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines.append("")
        lines += ["### Every path", "", "| path | type | unit |", "|---|---|---|"]
        lines += [f"| `{f.path}` | {f.kind} | {f.unit or ''} |" for f in fields_of(record_type)]
        lines.append("")
    return "\n".join(lines)
