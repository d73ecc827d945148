"""Record types declared in the language: generated classes, and the bundled declaration
checked field by field against the hand-written spine record."""

from __future__ import annotations

import datetime
import enum
import pickle
import sys
from pathlib import Path

import attrs
import pytest

import spinerules
from spinerules.checker.declared import declare
from spinerules.checker.typesys import EnumT, ListT, RecordT, record_fields
from spinerules.lang import diagnostics as dg
from spinerules.lang.resolve import assemble
from spinerules.records import RecordError, fact
from spinerules.records.schema import OrderedEnum
from spinerules.records.spine import Patient

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = ROOT / "guidelines" / "spine" / "record.rules"
AS_OF = datetime.date(2026, 2, 18)

DEMO = """\
guideline demo "Declared record"
  version "1"
  record demo.Patient
enum demo.Site ordered "Where": neck, chest, back
type demo.Patient "A patient":
  field age: integer years 0..120 "age in whole years"
  field pain: number 0..10 "pain on a 0-10 scale"
  field sites: list of Site "painful sites"
  field exam: Exam "the examination"
type demo.Exam "An examination":
  field tender: boolean "tender"
  field seen: date "when"
source S:
  title "A source"
  url "https://example.org"
rule R1:
  when patient.age >= 65 years and any(s in patient.sites: s >= chest)
  recommend image "Image the spine" cite S
rule R2:
  when patient.exam.tender
  consider review "Review" cite S
"""


def test_the_bundled_declaration_is_what_the_tool_writes() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from record_declaration import declaration
    finally:
        sys.path.pop(0)
    assert DECLARATION.read_text(encoding="utf-8") == declaration(Patient, "spine"), \
        "run: python tools/record_declaration.py spinerules.records.spine:Patient spine " \
        "> guidelines/spine/record.rules"


def _generated_spine() -> type:
    """The classes the declaration generates when no Python class is registered."""
    program, problems = assemble(DECLARATION)
    assert [d.code for d in problems] == ["SR213"]  # a module: no guideline header
    made, problems = declare(program, {})
    assert not problems
    return made["spine.Patient"]


def _compare(generated: type, handwritten: type, path: str, seen: set[type]) -> int:
    """Every field of the two classes, the same as the checker sees them; returns the
    number of fields compared."""
    if handwritten in seen:
        return 0
    seen.add(handwritten)
    mine, theirs = record_fields(generated), record_fields(handwritten)
    assert list(mine) == list(theirs), path
    count = 0
    for name, f in theirs.items():
        g = mine[name]
        where = f"{path}.{name}"
        assert str(g.type) == str(f.type), where
        assert (g.unit, g.min, g.max, g.doc) == (f.unit, f.min, f.max, f.doc), where
        count += 1
        t, u = g.type, f.type
        if isinstance(t, ListT) and isinstance(u, ListT):
            t, u = t.elem, u.elem
        if isinstance(t, EnumT) and isinstance(u, EnumT):
            assert t.members == u.members, where
            assert t.ordered == u.ordered, where
        elif isinstance(t, RecordT) and isinstance(u, RecordT):
            count += _compare(t.cls, u.cls, where, seen)
        else:
            assert type(t) is type(u), where
    return count


def test_the_declaration_matches_the_spine_record_field_by_field() -> None:
    from spinerules.records import spine

    count = _compare(_generated_spine(), Patient, "Patient", set())
    every = sum(len(attrs.fields(c)) for c in vars(spine).values()
                if isinstance(c, type) and attrs.has(c))
    assert count == every  # every field of every record type, nested ones included


def test_every_bundled_guideline_imports_the_declaration() -> None:
    from spinerules.lang.resources import bundled_names

    names = bundled_names()
    assert len(names) >= 9
    for name in names:
        g = spinerules.load(name)
        assert "guidelines/spine/record.rules" in g.program.texts, name
        assert g.record_type is Patient


def test_a_declaration_that_differs_from_the_class_is_an_error() -> None:
    text = DECLARATION.read_text(encoding="utf-8").replace(
        'field gcs: integer 3..15', 'field gcs: number 3..16').replace(
        "C1, C2, C3", "C2, C1, C3")
    problems = spinerules.check("spine/record.rules", text=(
        'guideline d "d"\n  record spine.Patient\n' + text.split("\n", 1)[1]))
    details = [d.message for d in problems if d.code == "SR225"]
    assert any("`int` in the class, not `float`" in m and "max 15 in the class, 16" in m
               for m in details), details
    assert any("the class's members are C1, C2, C3" in m for m in details), details


def test_a_declared_record_is_generated_and_loads_json_strictly() -> None:
    g = spinerules.loads(DEMO, name="demo.rules")
    cls = g.record_type
    assert attrs.has(cls) and cls.__name__ == "Patient"
    fields = record_fields(cls)
    assert str(fields["age"].type) == "Duration" and fields["age"].max == 120
    site = fields["sites"].type
    assert isinstance(site, ListT) and isinstance(site.elem, EnumT)
    assert issubclass(site.elem.cls, OrderedEnum)
    result = g.evaluate({"age": 70, "sites": ["back"], "exam": {"tender": True,
                                                                "seen": "2026-01-02"}},
                        as_of=AS_OF)
    assert result.codes() == {"image", "review"}
    assert g.codes({"age": 70, "sites": ["neck"]}, as_of=AS_OF) == frozenset()
    with pytest.raises(RecordError) as info:
        g.evaluate({"age": 130, "sites": ["bak"], "exam": {"tender": "yes"}}, as_of=AS_OF)
    shown = str(info.value)
    assert "age: expected a whole number from 0 to 120, got 130" in shown
    assert 'sites[0]: expected one of "neck", "chest", "back"' in shown
    assert "exam.tender: expected true or false" in shown


def test_a_guideline_with_a_declared_record_pickles() -> None:
    g = spinerules.loads(DEMO, name="demo.rules")
    again = pickle.loads(pickle.dumps(g))
    assert again.sha256 == g.sha256
    assert again.evaluate({"age": 70, "sites": ["back"]}, as_of=AS_OF).codes() == {"image"}


def test_python_records_keep_working_for_integrators() -> None:
    class Site(enum.Enum):
        neck = "neck"

    @attrs.frozen(kw_only=True)
    class Mine:
        age: int | None = fact(unit="years", doc="age")

    text = ('guideline mine "Mine"\n  record my.Patient\nsource S:\n  title "t"\n'
            '  url "https://example.org"\nrule R:\n  when patient.age > 3 years\n'
            '  recommend x "X" cite S\n')
    g = spinerules.loads(text, records={"my.Patient": Mine})
    assert g.record_type is Mine
    assert g.evaluate({"age": 5}, as_of=AS_OF).codes() == {"x"}


@pytest.mark.parametrize(("declaration", "code"), [
    ("type d.P:\n  field a: Nope", "SR222"),
    ("type d.P:\n  field a: boolean 0..1", "SR223"),
    ("type d.P:\n  field a: string weeks", "SR223"),
    ("type d.P:\n  field a: Q\ntype d.Q:\n  field b: P", "SR224"),
    ("type d.P:\n  field a: P", "SR224"),
    ("type d.P:\n  field a: integer\n  field a: number", "SR203"),
    ("type d.P:\n  field a: integer 5..1", "SR221"),
    ("type d.P:\n  field a: integer > 1", "SR221"),
    ("type d.P:\n  field class: integer", "SR221"),
    ("type d.P:\n  field a: integer\nenum d.E: x, y, x", "SR203"),
    ("type d.P:\n  field a: integer\nenum d.E: x, _y", "SR221"),
    ("type d.P:\n  field a: integer\ntype d.P:\n  field b: integer", "SR203"),
    ("type d.P:\n  field a: integer furlongs", "SR109"),
])
def test_bad_declarations_are_located_errors(declaration: str, code: str) -> None:
    text = f'guideline d "d"\n  record d.P\n{declaration}\n'
    problems = spinerules.check("d.rules", text=text)
    found = [d for d in problems if d.code == code]
    assert found, [d.code for d in problems]
    assert found[0].span.line >= 3
    rendered = dg.render(found[0], None)
    assert f"error[{code}]" in rendered and "d.rules:" in rendered


def test_an_undeclared_record_type_says_how_to_declare_it() -> None:
    problems = spinerules.check("d.rules", text='guideline d "d"\n  record zz.Thing\n')
    (d,) = [d for d in problems if d.code == "SR212"]
    assert "type zz.Thing:" in " ".join(d.hints)
