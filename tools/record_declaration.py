"""Write the `.rules` declaration of a Python record class (its types, fields and enums).

The bundled spine record's declaration, ``guidelines/spine/record.rules``, was written by

    python tools/record_declaration.py spinerules.records.spine:Patient spine \\
        > guidelines/spine/record.rules

Every load of a bundled guideline compares it with the class, field by field (``SR225``), and
``tests/unit/test_records_declared.py`` checks the file is what this script writes, so a
field added to ``records/spine.py`` fails the tests until the declaration is written again.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import sys
import typing

import attrs

from spinerules.checker.declared import _unwrap
from spinerules.lang import nodes as n
from spinerules.lang.printer import print_file
from spinerules.records.schema import OrderedEnum

_BUILTIN = {bool: "boolean", int: "integer", float: "number", str: "string"}
MODULE_TITLE = "The {ns} patient record: its record types and enumerations"


def declaration(cls: type, namespace: str) -> str:
    """The canonical `.rules` text declaring ``cls`` and everything it holds."""
    import datetime

    builtin = {**_BUILTIN, datetime.date: "date"}
    types: list[n.TypeDecl] = []
    enums: dict[type, n.EnumDecl] = {}
    seen: set[type] = set()

    def visit(c: type) -> None:
        if c in seen:
            return
        seen.add(c)
        hints = typing.get_type_hints(c)
        fields = []
        for f in attrs.fields(c):
            py, is_list = _unwrap(hints[f.name])
            md = f.metadata
            if py in builtin:
                type_name = builtin[py]
            elif isinstance(py, type) and issubclass(py, enum.Enum):
                type_name = py.__name__
                if py not in enums:
                    enums[py] = n.EnumDecl(
                        name=f"{namespace}.{py.__name__}", ordered=issubclass(py, OrderedEnum),
                        doc=_doc(py.__doc__),
                        members=tuple(n.EnumMember(name=str(m.value)) for m in py))
            else:
                type_name = py.__name__
                visit(py)
            fields.append(n.FieldDecl(name=f.name, type=type_name, is_list=is_list,
                                      unit=md.get("unit"), min=_num(md.get("min")),
                                      max=_num(md.get("max")), doc=md.get("doc") or None))
        types.append(n.TypeDecl(name=f"{namespace}.{c.__name__}", doc=_doc(c.__doc__),
                                fields=tuple(fields)))

    visit(cls)
    items: list[n.Item] = [n.Module(name=f"{namespace}.record",
                                    title=MODULE_TITLE.format(ns=namespace))]
    items += sorted(enums.values(), key=lambda e: e.name)
    items += types
    return print_file(n.File(name="record.rules", items=tuple(items)))


def _doc(text: str | None) -> str | None:
    """A docstring's first line as a declaration's doc (no reST quotes, no final stop)."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first.replace("``", "`").removesuffix(".") or None


def _num(value: object) -> float | None:
    return None if value is None else float(typing.cast(float, value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cls", help="module:Class, e.g. spinerules.records.spine:Patient")
    parser.add_argument("namespace", help="the declared names' prefix, e.g. spine")
    args = parser.parse_args(argv)
    module, _, name = args.cls.partition(":")
    cls = getattr(importlib.import_module(module), name)
    sys.stdout.write(declaration(cls, args.namespace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
