"""Mapping files: which FHIR resources and codes supply each fact of a record type.

A mapping is YAML (format in ``docs/integrators/fhir.md``). :func:`load_mapping` reads and
checks its structure (names, sources, value kinds, code shapes, fact paths against the record
class); :func:`check_codes` also checks every ICD-10-CM code against ``simple-icd-10-cm``
(the ``fhir`` extra). Every problem is located by file, line and key path.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from spinerules.fhir.errors import FhirProblem, MappingError
from spinerules.fhir.ucum import is_known
from spinerules.records.spine import RECORD_TYPES

__all__ = [
    "BUNDLED",
    "Coding",
    "Fact",
    "ListSpec",
    "Mapping_",
    "Source",
    "ValueSet",
    "bundled_mapping",
    "check_codes",
    "codes_table",
    "leaf_facts",
    "load_mapping",
    "mapping_for",
]

BUNDLED = {"spine.Patient": Path(__file__).with_name("spine.yaml")}
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
#: Hierarchical code systems: a code there stands for itself and every code below it.
HIERARCHICAL = frozenset({ICD10CM, ATC})

_CODE_SHAPES = {
    "http://hl7.org/fhir/sid/icd-10-cm": re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"),
    "http://snomed.info/sct": re.compile(r"^[1-9][0-9]{5,17}$"),
    "http://loinc.org": re.compile(r"^[0-9]{1,7}-[0-9]$"),
    "http://www.whocc.no/atc": re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$"),
    RXNORM: re.compile(r"^[1-9][0-9]{0,8}$"),
}
_SOURCE_KINDS = ("patient", "condition", "observation", "medication", "report", "fracture")
_PATIENT_ELEMENTS = ("identifier", "birthDate", "gender")
_FRACTURE_ELEMENTS = ("bodySite", "levels_from_code", "onset", "code")
_COMBINE = ("agree", "any", "min")


def _icd_key(code: str) -> str:
    return code.replace(".", "").upper()


@attrs.frozen
class Coding:
    """A code to write (the generator) or that was read: system URI, code, display."""

    system: str
    code: str
    display: str | None = None


@attrs.frozen
class ValueSet:
    """Codes by system; ICD-10-CM and ATC codes match their descendants (prefix), others
    exactly."""

    name: str
    codes: tuple[tuple[str, str], ...]
    _exact: frozenset[tuple[str, str]] = attrs.field(init=False, eq=False, repr=False)
    _prefixes: tuple[tuple[str, str], ...] = attrs.field(init=False, eq=False, repr=False)
    _memo: dict[tuple[str, str], bool] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_exact", frozenset(
            (s, c) for s, c in self.codes if s not in HIERARCHICAL))
        object.__setattr__(self, "_prefixes", tuple(
            (s, _icd_key(c)) for s, c in self.codes if s in HIERARCHICAL))

    def matches(self, system: str | None, code: str | None) -> bool:
        if system is None or code is None:
            return False
        key = (system, code)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._matches(system, code)
            if len(self._memo) < 100_000:
                self._memo[key] = hit
        return hit

    def _matches(self, system: str, code: str) -> bool:
        if system in HIERARCHICAL:
            key = _icd_key(code)
            return any(s == system and key.startswith(p) for s, p in self._prefixes)
        return (system, code) in self._exact


@attrs.frozen
class Source:
    """One way a fact is supplied (see the mapping format)."""

    kind: str  # patient | condition | observation | medication | report | fracture | project
    value_set: ValueSet | None = None
    element: str | None = None  # patient: identifier/birthDate/gender; fracture: ...
    value: Mapping[str, Any] = attrs.field(factory=dict)  # observation value spec
    clinical_status: str = "active"  # "active" or "any"
    refuted_means_false: bool = False
    emit: Mapping[str, Any] | None = None
    emit_coding: Coding | None = None
    where: str = ""
    gives: str | None = None  # a condition source of an enum fact: the value it supplies
    at_least_days: int | None = None  # a medication source: taken for at least this long
    quantity_unit: str | None = attrs.field(init=False, eq=False, repr=False)
    at_least: float | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:  # the observation value spec, read once
        unit = self.value.get("quantity")
        at_least = self.value.get("at_least")
        object.__setattr__(self, "quantity_unit", str(unit) if unit is not None else None)
        object.__setattr__(self, "at_least", float(at_least) if isinstance(
            at_least, int | float) and not isinstance(at_least, bool) else None)


@attrs.frozen
class Fact:
    """A leaf of the record (``history.cancer``, ``fractures[].level``) and its sources."""

    path: str
    sources: tuple[Source, ...]
    combine: str = "agree"
    type: Any = None  # the Python type of the field (bool, int, float, str, an Enum)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def in_fracture(self) -> bool:
        return self.path.startswith("fractures[].")

    @property
    def project_code(self) -> str:
        return self.path.replace("[]", "")


@attrs.frozen
class ListSpec:
    """A list of sub-records built from Conditions (``fractures``)."""

    name: str
    value_set: ValueSet
    emit_coding: Coding
    levels_from_code: Mapping[str, str]


@attrs.frozen
class Mapping_:
    """A checked mapping for one record type."""

    file: str
    record: str
    record_class: type
    project_system: str
    level_system: str
    record_id_system: str
    systems: Mapping[str, str]
    other_systems: frozenset[str]
    value_sets: Mapping[str, ValueSet]
    lists: Mapping[str, ListSpec]
    facts: Mapping[str, Fact]
    lines: Mapping[str, int] = attrs.field(eq=False, repr=False, factory=dict)
    _memo: dict[tuple[str, str, str], tuple[tuple[int, Source, Fact], ...]] = attrs.field(
        init=False, eq=False, repr=False, factory=dict)
    #: the facts by their code in the project's own code system (``history.cancer``,
    #: ``fractures.level``), made once (each extraction reads it)
    project_facts: Mapping[str, Fact] = attrs.field(init=False, eq=False, repr=False,
                                                    default=attrs.Factory(
        lambda self: {f.project_code: f for f in self.facts.values()}, takes_self=True))
    _known: frozenset[str] = attrs.field(init=False, eq=False, repr=False, default=attrs.Factory(
        lambda self: frozenset(self.systems.values()) | self.other_systems | {
            self.project_system, self.level_system}, takes_self=True))

    def sources_for(self, kind: str, system: str, code: str,
                    ) -> tuple[tuple[int, Source, Fact], ...]:
        """(source index, source, fact) of every ``kind`` source whose value set has the code."""
        key = (kind, system, code)
        hit = self._memo.get(key)
        if hit is None:
            hit = tuple((i, s, f) for f in self.facts.values() for i, s in enumerate(f.sources)
                        if s.kind == kind and s.value_set is not None
                        and s.value_set.matches(system, code))
            if len(self._memo) < 100_000:
                self._memo[key] = hit
        return hit

    @property
    def known_systems(self) -> frozenset[str]:
        """Every code system the mapping reads (made once)."""
        return self._known


# --- record leaves -------------------------------------------------------------------------


def _inner(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args and typing.get_origin(annotation) is not tuple else annotation


def leaf_facts(cls: type, prefix: str = "") -> Iterator[tuple[str, Any, Mapping[str, Any]]]:
    """(path, type, metadata) of every leaf of an attrs record class, lists as ``name[]``."""
    hints = typing.get_type_hints(cls)
    for f in attrs.fields(cls):
        tp = _inner(hints[f.name])
        origin = typing.get_origin(tp)
        if origin in (tuple, list):
            elem = typing.get_args(tp)[0]
            if attrs.has(elem):
                yield from leaf_facts(elem, f"{prefix}{f.name}[].")
                continue
        if isinstance(tp, type) and attrs.has(tp):
            yield from leaf_facts(tp, f"{prefix}{f.name}.")
            continue
        yield f"{prefix}{f.name}", tp, f.metadata


# --- reading YAML with lines ---------------------------------------------------------------


def _lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value)
            _lines(value, f"{path}.{name}" if path else name, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, f"{path}[{i}]", out)


class _Reader:
    def __init__(self, file: str, lines: dict[str, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[FhirProblem] = []

    def error(self, path: str, message: str) -> None:
        line = self.lines.get(path)
        while line is None and path:
            path_up = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            if path_up == path:
                break
            path = path_up
            line = self.lines.get(path)
        self.problems.append(FhirProblem(path or "$", message, file=self.file, line=line))


def load_mapping(path: str | Path) -> Mapping_:
    """Read and check a mapping file; raises :class:`MappingError` listing every problem."""
    p = Path(path)
    name = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([FhirProblem("$", f"cannot read: {exc.strerror}", file=name)]) from None
    return loads_mapping(text, name=name)


def loads_mapping(text: str, *, name: str = "<mapping>") -> Mapping_:
    """Like :func:`load_mapping`, from text."""
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise MappingError([FhirProblem("$", f"not valid YAML: {exc}", file=name,
                                        line=line)]) from None
    if node is not None:
        _lines(node, "", lines)
    r = _Reader(name, lines)
    if not isinstance(data, dict):
        r.error("$", "expected a mapping (YAML object)")
        raise MappingError(r.problems)
    m = _build(data, r)
    if r.problems or m is None:
        raise MappingError(r.problems)
    return m


def _str(r: _Reader, data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        r.error(f"{path}.{key}" if path else key, "expected a non-empty string")
        return ""
    return value


def _build(data: Mapping[str, Any], r: _Reader) -> Mapping_ | None:
    known = {"record", "project_system", "level_system", "record_id_system", "systems",
             "other_systems", "value_sets", "lists", "facts"}
    for key in data:
        if key not in known:
            r.error(str(key), f"unknown key {key!r}")
    record = _str(r, data, "record", "")
    cls = RECORD_TYPES.get(record)
    if cls is None:
        r.error("record", f"unknown record type {record!r}; known: {', '.join(RECORD_TYPES)}")
        return None
    project = _str(r, data, "project_system", "")
    level_system = _str(r, data, "level_system", "")
    record_id_system = _str(r, data, "record_id_system", "")
    systems_raw = data.get("systems")
    systems: dict[str, str] = {}
    if not isinstance(systems_raw, dict):
        r.error("systems", "expected a mapping of short names to system URIs")
    else:
        for short, uri in systems_raw.items():
            if not isinstance(uri, str) or not re.match(r"^(https?|urn):", uri):
                r.error(f"systems.{short}", f"expected a system URI, got {uri!r}")
            else:
                systems[str(short)] = uri
    others = data.get("other_systems") or []
    if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
        r.error("other_systems", "expected a list of system URIs")
        others = []

    value_sets: dict[str, ValueSet] = {}
    raw_sets = data.get("value_sets")
    if not isinstance(raw_sets, dict):
        r.error("value_sets", "expected a mapping of value set names to codes")
        raw_sets = {}
    for vs_name, by_system in raw_sets.items():
        path = f"value_sets.{vs_name}"
        if not isinstance(by_system, dict) or not by_system:
            r.error(path, "expected a mapping of system names to lists of codes")
            continue
        codes: list[tuple[str, str]] = []
        for short, items in by_system.items():
            spath = f"{path}.{short}"
            uri = systems.get(str(short))
            if uri is None:
                r.error(spath, f"unknown code system {short!r}; declared: "
                        f"{', '.join(systems) or 'none'}")
                continue
            if not isinstance(items, list) or not items:
                r.error(spath, "expected a list of codes")
                continue
            for i, code in enumerate(items):
                if not isinstance(code, str):
                    r.error(f"{spath}[{i}]", f"expected a code as a string, got {code!r} "
                            "(quote numeric codes)")
                    continue
                shape = _CODE_SHAPES.get(uri)
                if shape is not None and not shape.match(code):
                    r.error(f"{spath}[{i}]", f"malformed {short} code {code!r}")
                    continue
                codes.append((uri, code))
        value_sets[str(vs_name)] = ValueSet(str(vs_name), tuple(codes))

    def coding(spec: Any, path: str) -> Coding | None:
        if not isinstance(spec, dict):
            r.error(path, "expected {system, code, display}")
            return None
        uri = systems.get(str(spec.get("system")))
        if uri is None:
            r.error(f"{path}.system", f"unknown code system {spec.get('system')!r}")
            return None
        code = spec.get("code")
        if not isinstance(code, str):
            r.error(f"{path}.code", "expected a code as a string")
            return None
        shape = _CODE_SHAPES.get(uri)
        if shape is not None and not shape.match(code):
            r.error(f"{path}.code", f"malformed code {code!r}")
            return None
        display = spec.get("display")
        return Coding(uri, code, str(display) if display is not None else None)

    lists: dict[str, ListSpec] = {}
    for list_name, spec in (data.get("lists") or {}).items():
        path = f"lists.{list_name}"
        if list_name != "fractures" or not isinstance(spec, dict):
            r.error(path, "only the list `fractures` (a mapping) is supported")
            continue
        vs = value_sets.get(str(spec.get("condition")))
        if vs is None:
            r.error(f"{path}.condition", f"unknown value set {spec.get('condition')!r}")
            continue
        emit = coding(spec.get("emit"), f"{path}.emit")
        levels = spec.get("levels_from_code") or {}
        if not isinstance(levels, dict):
            r.error(f"{path}.levels_from_code", "expected a mapping of ICD-10-CM codes to levels")
            levels = {}
        for code, level in levels.items():
            if str(level) not in {lv.value for lv in _level_enum(cls)}:
                r.error(f"{path}.levels_from_code.{code}", f"unknown level {level!r}")
        if emit is not None:
            lists[str(list_name)] = ListSpec(str(list_name), vs, emit,
                                             {str(k): str(v) for k, v in levels.items()})

    leaves = {p: (tp, md) for p, tp, md in leaf_facts(cls)}
    facts: dict[str, Fact] = {}
    raw_facts = data.get("facts") or {}
    if not isinstance(raw_facts, dict):
        r.error("facts", "expected a mapping of fact paths to sources")
        raw_facts = {}
    for fpath, spec in raw_facts.items():
        path = f"facts.{fpath}"
        if fpath not in leaves:
            r.error(path, f"{fpath!r} is not a fact of {record}")
            continue
        combine = "agree"
        raw_sources = spec
        if isinstance(spec, dict):
            combine = str(spec.get("combine", "agree"))
            if combine not in _COMBINE:
                r.error(f"{path}.combine", f"expected one of {', '.join(_COMBINE)}")
            raw_sources = spec.get("sources")
            path = f"{path}.sources"
        if not isinstance(raw_sources, list) or not raw_sources:
            r.error(path, "expected a list of sources")
            continue
        sources = [s for i, raw in enumerate(raw_sources)
                   if (s := _source(raw, f"{path}[{i}]", fpath, value_sets, lists, coding, r,
                                    leaves[fpath][0]))]
        tp, md = leaves[fpath]
        facts[fpath] = Fact(fpath, tuple(sources), combine, tp, md)
    # every other fact: the project Observation only
    for fpath, (tp, md) in leaves.items():
        if fpath in facts:
            facts[fpath] = attrs.evolve(facts[fpath], sources=(
                *facts[fpath].sources, *(() if fpath in ("id", "age", "sex")
                                         else (Source("project", where=f"facts.{fpath}"),))))
        else:
            facts[fpath] = Fact(fpath, (Source("project", where="(project code)"),), "agree",
                                tp, md)
    facts = {p: facts[p] for p in leaves}  # the record's own order
    if r.problems:
        return None
    return Mapping_(r.file, record, cls, project, level_system, record_id_system, systems,
                    frozenset(others), value_sets, lists, facts, dict(r.lines))


def _level_enum(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    frac = typing.get_args(_inner(hints["fractures"]))[0]
    return _inner(typing.get_type_hints(frac)["level"])


def _source(raw: Any, path: str, fpath: str, value_sets: Mapping[str, ValueSet],
            lists: Mapping[str, ListSpec], coding: Any, r: _Reader,
            tp: Any = bool) -> Source | None:
    if not isinstance(raw, dict):
        r.error(path, "expected a source (a mapping)")
        return None
    kinds = [k for k in _SOURCE_KINDS if k in raw]
    if len(kinds) != 1:
        r.error(path, f"expected exactly one of {', '.join(_SOURCE_KINDS)}")
        return None
    kind = kinds[0]
    allowed = {kind, "value", "clinical_status", "refuted", "emit", "gives", "at_least_days",
               "in"}
    for key in raw:
        if key not in allowed:
            r.error(f"{path}.{key}", f"unknown key {key!r}")
    if kind == "patient":
        if raw["patient"] not in _PATIENT_ELEMENTS:
            r.error(f"{path}.patient", f"expected one of {', '.join(_PATIENT_ELEMENTS)}")
            return None
        return Source("patient", element=raw["patient"], where=path)
    if kind == "fracture":
        if not fpath.startswith("fractures[]."):
            r.error(f"{path}.fracture", "a fracture source supplies only facts of fractures[]")
            return None
        if raw["fracture"] not in _FRACTURE_ELEMENTS:
            r.error(f"{path}.fracture", f"expected one of {', '.join(_FRACTURE_ELEMENTS)}")
            return None
        if raw["fracture"] == "code":  # true when the fracture's own code is in a value set
            in_vs = value_sets.get(str(raw.get("in")))
            if in_vs is None:
                r.error(f"{path}.in", f"expected the value set the fracture's code is in, "
                        f"got {raw.get('in')!r}")
                return None
            if tp is not bool:
                r.error(f"{path}.fracture", "a fracture code source supplies only a "
                        "yes/no fact")
                return None
            return Source("fracture", value_set=in_vs, element="code", where=path)
        if "in" in raw:
            r.error(f"{path}.in", "only `fracture: code` takes a value set in `in`")
        return Source("fracture", element=raw["fracture"], where=path)
    vs = value_sets.get(str(raw[kind]))
    if vs is None:
        r.error(f"{path}.{kind}", f"unknown value set {raw[kind]!r}")
        return None
    status = str(raw.get("clinical_status", "active"))
    if status not in ("active", "any"):
        r.error(f"{path}.clinical_status", "expected active or any")
    refuted = raw.get("refuted")
    if refuted not in (None, False):
        r.error(f"{path}.refuted", "the only meaning a refuted Condition can have is false")
    emit_spec = raw.get("emit")
    emit_coding = coding(emit_spec, f"{path}.emit") if emit_spec is not None else None
    if emit_coding is not None and not vs.matches(emit_coding.system, emit_coding.code):
        r.error(f"{path}.emit", f"the code to write, {emit_coding.code}, is not in {vs.name}")
    value: dict[str, Any] = {}
    if kind == "observation":
        v = raw.get("value")
        if not isinstance(v, dict) or not v:
            r.error(f"{path}.value", "expected {quantity: UNIT[, at_least: N]}, "
                    "{interpretation: high}, {boolean: true}, {integer: true}")
            return None
        value = dict(v)
        if "quantity" in value and not is_known(str(value["quantity"])):
            r.error(f"{path}.value.quantity", f"unit {value['quantity']!r} is not in the "
                    "UCUM table (spinerules.fhir.ucum)")
        if "interpretation" in value and value["interpretation"] != "high":
            r.error(f"{path}.value.interpretation", "only `high` is supported")
        if not {"quantity", "interpretation", "boolean", "integer"} & set(value):
            r.error(f"{path}.value", "unknown value kind")
    elif "value" in raw:
        r.error(f"{path}.value", f"a {kind} source has no value")
    if "in" in raw:
        r.error(f"{path}.in", "only `fracture: code` takes a value set in `in`")
    gives = raw.get("gives")
    if gives is not None:
        choices = [e.value for e in tp] if isinstance(tp, type) and \
            issubclass(tp, enum.Enum) else None
        if kind != "condition" or choices is None:
            r.error(f"{path}.gives", "`gives` names the value a condition supplies to a fact "
                    "with named values")
        elif gives not in choices:
            r.error(f"{path}.gives", f"expected one of {', '.join(map(str, choices))}, "
                    f"got {gives!r}")
        elif refuted is False:
            r.error(f"{path}.refuted", "a condition that gives a named value cannot read "
                    "refuted as false")
    elif kind == "condition" and tp is not bool:
        r.error(f"{path}", "a condition source of a fact with named values needs `gives`")
    days = raw.get("at_least_days")
    if days is not None and (kind != "medication" or not isinstance(days, int)
                             or isinstance(days, bool) or days < 1):
        r.error(f"{path}.at_least_days", "a whole number of days >= 1, on a medication "
                "source")
        days = None
    return Source(kind, value_set=vs, value=value, clinical_status=status,
                  refuted_means_false=refuted is False,
                  emit=emit_spec if isinstance(emit_spec, dict) else None,
                  emit_coding=emit_coding, where=path,
                  gives=str(gives) if gives is not None else None, at_least_days=days)


def check_codes(m: Mapping_) -> list[FhirProblem]:
    """Every ICD-10-CM code of the mapping checked against ``simple-icd-10-cm``.

    Raises :class:`ImportError` with an install hint when the ``fhir`` extra is missing.
    """
    try:
        import simple_icd_10_cm as icd  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("checking ICD-10-CM codes needs the fhir extra: "
                          "pip install 'spinerules[fhir]'") from None
    problems: list[FhirProblem] = []
    for vs in m.value_sets.values():
        for i, (system, code) in enumerate(c for c in vs.codes):
            if system == ICD10CM and not icd.is_valid_item(code):
                short = next(k for k, v in m.systems.items() if v == system)
                codes_in_system = [c for s, c in vs.codes if s == system]
                path = f"value_sets.{vs.name}.{short}[{codes_in_system.index(code)}]"
                del i
                problems.append(FhirProblem(path, f"{code} is not an ICD-10-CM code",
                                            file=m.file, line=m.lines.get(path)))
    for list_spec in m.lists.values():
        for code in list_spec.levels_from_code:
            if not icd.is_valid_item(code):
                path = f"lists.{list_spec.name}.levels_from_code.{code}"
                problems.append(FhirProblem(path, f"{code} is not an ICD-10-CM code",
                                            file=m.file, line=m.lines.get(path)))
    for fact in m.facts.values():
        for s in fact.sources:
            c = s.emit_coding
            if c is not None and c.system == ICD10CM and not icd.is_valid_item(c.code):
                path = f"{s.where}.emit.code"
                problems.append(FhirProblem(path, f"{c.code} is not an ICD-10-CM code",
                                            file=m.file, line=m.lines.get(path)))
    return problems


_CACHE: dict[str, Mapping_] = {}


def bundled_mapping(record: str = "spine.Patient") -> Mapping_:
    """The bundled mapping for a record type (read once per process)."""
    if record not in _CACHE:
        path = BUNDLED.get(record)
        if path is None:
            raise KeyError(f"no bundled FHIR mapping for {record!r}")
        _CACHE[record] = load_mapping(path)
    return _CACHE[record]


def mapping_for(record_class: type) -> Mapping_:
    """The bundled mapping for a record class; :class:`KeyError` when there is none."""
    for name in BUNDLED:
        m = bundled_mapping(name)
        if m.record_class is record_class:
            return m
    raise KeyError(f"no bundled FHIR mapping for the record type {record_class.__name__}")


def codes_table(m: Mapping_) -> str:
    """The mapping's facts and codes as a Markdown table (kept in docs by a test)."""
    short = {uri: name for name, uri in m.systems.items()}
    rows = ["| fact | resource | codes | rule |", "|---|---|---|---|"]
    for fact in m.facts.values():
        for s in fact.sources:
            if s.kind == "project":
                continue
            if s.kind == "patient":
                resource, codes = f"Patient.{s.element}", "—"
            elif s.kind == "fracture":
                resource = {"bodySite": "Condition.bodySite", "onset": "Condition.onset[x]",
                            "levels_from_code": "Condition.code",
                            "code": "the fracture's Condition.code"}[str(s.element)]
                codes = f"`{m.level_system}`" if s.element == "bodySite" else "—"
                if s.element == "code" and s.value_set is not None:
                    codes = _codes(s.value_set, short)
                if s.element == "levels_from_code":
                    levels = m.lists["fractures"].levels_from_code
                    codes = ", ".join(f"{c} {lv}" for c, lv in levels.items())
            else:
                assert s.value_set is not None
                resource = {"condition": "Condition", "observation": "Observation",
                            "medication": "MedicationStatement/Request",
                            "report": "DiagnosticReport"}[s.kind]
                codes = _codes(s.value_set, short)
            rule = _rule(fact, s)
            rows.append(f"| `{fact.path}` | {resource} | {codes} | {rule} |")
    frac = m.lists.get("fractures")
    if frac is not None:
        codes = _codes(frac.value_set, short)
        rows.insert(2, f"| `fractures[]` | Condition (one fracture each, in Bundle order) | "
                    f"{codes} | active, not refuted |")
    return "\n".join(rows) + "\n"


def _codes(vs: ValueSet, short: Mapping[str, str]) -> str:
    by: dict[str, list[str]] = {}
    for system, code in vs.codes:
        by.setdefault(short.get(system, system), []).append(code)
    return "; ".join(f"{name}: {', '.join(codes)}" for name, codes in by.items())


def _rule(fact: Fact, s: Source) -> str:
    parts = []
    if s.kind == "condition":
        parts.append("any clinical status" if s.clinical_status == "any" else "active")
        if s.gives is not None:
            parts.append(f"gives `{s.gives}`")
        else:
            parts.append("refuted: false" if s.refuted_means_false else "true only")
    elif s.kind in ("medication", "report"):
        parts.append("active" if s.kind == "medication" else "final")
        if s.at_least_days is not None:
            parts.append(f"started at least {s.at_least_days} days before as_of")
        parts.append("true only")
    elif s.kind == "fracture" and s.element == "code":
        parts.append("true only")
    elif s.kind == "observation":
        v = s.value
        if "at_least" in v:
            parts.append(f">= {v['at_least']} {v['quantity']}")
        elif "quantity" in v:
            parts.append(f"in {v['quantity']}")
        elif "interpretation" in v:
            parts.append("interpretation H/HH (else above referenceRange.high)")
        parts.append("latest")
    if fact.combine != "agree":
        parts.append(f"combine: {fact.combine}")
    return ", ".join(parts) or "—"
