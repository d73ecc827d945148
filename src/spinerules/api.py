"""The public entry points: ``load``, ``loads``, ``check`` and the ``Guideline`` object."""

from __future__ import annotations

import datetime
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from spinerules.checker.check import Checked, check_program, structure_problems
from spinerules.checker.declared import DECLARED_MARK, declare
from spinerules.engine.codegen import FastFn, JsonFastFn, generate, generate_json
from spinerules.engine.compile import BudgetExceededError, EvaluationError
from spinerules.engine.evaluate import Plan, Planner, fast_codes, result_of, run
from spinerules.engine.report import Glossary
from spinerules.engine.result import Result
from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.parser import DEFAULT_LIMITS, RECOVERABLE, Limits, gc_paused
from spinerules.lang.project import find_project
from spinerules.lang.resolve import Program, assemble, printable
from spinerules.lang.resources import bundled, guidelines_dir
from spinerules.lang.source import Span
from spinerules.records.dates import parse_iso_date
from spinerules.records.loader import load_record, validate_record


def default_records() -> dict[str, type]:
    """The record types a guideline may name in its ``record`` header."""
    from spinerules.records.spine import RECORD_TYPES

    return dict(RECORD_TYPES)


#: the evaluators' own step counts (loop and quantifier steps) stop at this many times
#: ``Limits.max_steps``: a backstop, never reached when ``compile.Work``'s count, which
#: bounds them, is within the budget
_BACKSTOP = 16


class EvaluationFailedError(Exception):
    """A guideline could not be evaluated for this record (budget, run-time fault)."""

    def __init__(self, diagnostic: dg.Diagnostic) -> None:
        super().__init__(f"{diagnostic.span.location()}: {diagnostic.message}")
        self.diagnostic = diagnostic

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its diagnostic, so that it crosses a process pool."""
        return (type(self), (self.diagnostic,))


@attrs.frozen(kw_only=True)
class Guideline:
    """A loaded, checked and compiled guideline. Immutable; safe to share between threads.

    Example:
        >>> g = load("vcf")
        >>> g.id
        'vcf'
    """

    checked: Checked = attrs.field(repr=False)
    plan: Plan = attrs.field(repr=False)
    fast: _FastPath = attrs.field(repr=False)
    limits: Limits = attrs.field(repr=False)
    warnings: tuple[dg.Diagnostic, ...] = attrs.field(repr=False)

    @property
    def program(self) -> Program:
        return self.checked.program

    @property
    def header(self) -> n.Header:
        assert self.checked.program.header is not None
        return self.checked.program.header

    @property
    def id(self) -> str:
        return self.header.id

    @property
    def title(self) -> str:
        return self.header.title

    @property
    def version(self) -> str | None:
        return self.header.version

    @property
    def record_type(self) -> type:
        return self.checked.record

    _sha256: str = attrs.field(init=False, repr=False, eq=False)
    #: the record type has an ``id`` field (a result's ``patient``)
    _has_id: bool = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        h = hashlib.sha256()
        for name, digest in sorted(self.checked.program.sha256.items()):
            h.update(f"{name}\0{digest}\n".encode())
        object.__setattr__(self, "_sha256", h.hexdigest())
        record = self.checked.record
        object.__setattr__(self, "_has_id", attrs.has(record) and any(
            f.name == "id" for f in attrs.fields(record)))

    @property
    def sha256(self) -> str:
        """One hash over every file the guideline is made of (names and contents)."""
        return self._sha256

    def info(self) -> dict[str, Any]:
        """The ``guideline`` block of a result."""
        return {"id": self.id, "title": self.title, "version": self.version,
                "sha256": self.sha256, "files": dict(sorted(self.checked.program.sha256.items()))}

    def __reduce__(self) -> tuple[Any, ...]:
        """A guideline pickles as its source files, their hashes, its limits and record
        type; unpickling reads nothing from disk: it parses, checks and plans those texts
        again (once per process for the same guideline: :func:`_rebuild` keeps it) and
        refuses any text whose SHA-256 differs from the one recorded at load time."""
        program = self.checked.program
        sources = []
        for name, source in program.texts.items():
            raw = source.text.encode("utf-8")
            if hashlib.sha256(raw).hexdigest() != program.sha256[name]:
                raw = b"\xef\xbb\xbf" + raw  # the byte order mark the reader dropped
            sources.append((name, program.paths.get(name, name), raw, program.sha256[name]))
        record_name = self.header.record or "spine.Patient"
        record_type: type | None = self.record_type
        if getattr(record_type, DECLARED_MARK, None) is not None:
            record_type = None  # declared in the sources: declared again, not pickled
        return (_rebuild, (program.entry, program.root, tuple(sources), self.limits,
                           record_name, record_type, self.sha256))

    def warm(self) -> None:
        """Generate the code behind ``codes``, ``evaluate`` and traces now rather than on
        first use (``load(..., warm=True)`` does it): a service's first request then costs
        what every other does. A guideline too deep for CPython's compiler keeps its closures."""
        with gc_paused():
            self.fast.generate()
            self.fast.generate_json()
            for generated in (self.plan.decisions, self.plan.values):
                if generated is None:
                    continue
                if self.fast.too_deep:  # the same expressions: they would fail alike
                    generated.give_up()
                else:
                    generated.warm()

    def __repr__(self) -> str:
        return (f"<Guideline {self.id!r} version {self.version!r}: {self.rule_count()} rules, "
                f"record {self.header.record or 'spine.Patient'}>")

    def rule_count(self) -> int:
        """The number of rules (each once, however many loop iterations it runs in)."""
        return sum(1 for i in _walk(self.checked.program.items()) if isinstance(i, n.Rule))

    def glossary(self) -> Glossary:
        """Words for this guideline's facts and rules, for reports (``engine.report``)."""
        return Glossary.of(self.record_type, self.checked.program.items())

    def tests(self) -> list[n.Test]:
        """The ``test`` blocks of every file."""
        return [i for i in self.checked.program.items() if isinstance(i, n.Test)]

    def extract(self, bundle: Any, *, as_of: datetime.date | str | None = None) -> Any:
        """A FHIR R4 Bundle (parsed JSON) read onto this guideline's record type by the
        bundled mapping, at ``as_of`` (default today): a :class:`spinerules.fhir.Extraction`
        (the record, each fact's provenance, conflicts, unmapped content). Raises
        :class:`spinerules.fhir.FhirError` listing every problem with its JSON path."""
        from spinerules.fhir.errors import FhirError, FhirProblem
        from spinerules.fhir.extract import extract_bundle
        from spinerules.fhir.mapping import mapping_for

        try:
            mapping = mapping_for(self.record_type)
        except KeyError:
            raise FhirError([FhirProblem("$", f"no FHIR mapping for the record type of "
                                         f"`{self.id}`")]) from None
        return extract_bundle(bundle, as_of=as_date(as_of), mapping=mapping)

    def _from_fhir(self, record: Any, when: datetime.date) -> Any:
        """The Extraction when ``record`` is a FHIR resource (a record never has a
        ``resourceType``), else None."""
        if isinstance(record, Mapping) and "resourceType" in record:
            return self.extract(record, as_of=when)
        return None

    def _record(self, record: Any) -> Any:
        """An instance of the record type; anything else goes through the JSON loader, so
        a bad value is a ``RecordError`` naming what was expected."""
        cls = self.checked.record
        if isinstance(record, cls):  # attrs checks no types: check them here (once a record)
            validate_record(record, max_list_length=self.limits.max_list_length)
            return record

        return load_record(cls, record, max_list_length=self.limits.max_list_length)

    def evaluate(self, record: Any, *, as_of: datetime.date | str | None = None,
                 trace: bool = False) -> Result:
        """Evaluate one patient record (an attrs instance, a JSON-like mapping, or a FHIR R4
        Bundle as parsed JSON).

        ``as_of`` is the date "today" means (a ``datetime.date`` or ``"YYYY-MM-DD"``); it
        defaults to the current date, so pass it to make runs repeatable. An attrs
        instance is checked as strictly as JSON (``RecordError`` naming each wrong value).
        A Bundle is read by the bundled mapping at the same date (:meth:`extract`), and the
        result carries where each fact came from in ``Result.provenance``; a bad Bundle
        raises :class:`spinerules.fhir.FhirError`.
        """
        when = as_of if type(as_of) is datetime.date else as_date(as_of)
        budget = self.limits.max_steps * _BACKSTOP
        if type(record) is dict and not trace and "resourceType" not in record:
            # JSON read as it is (``Decisions.json``), when checked and within the budget
            outcome = self._json_outcome(record, when, budget)
            if outcome is not None:
                return result_of(self.plan, self.checked, outcome, self.info,
                                 record.get("id") if self._has_id else None, when)
        extraction = self._from_fhir(record, when)
        record = self._record(record if extraction is None else extraction.record)
        try:
            self._within_budget(record, when)
            result = run(self.plan, self.checked, record, as_of=when,
                         guideline_info=self.info, patient_id=getattr(record, "id", None),
                         trace=trace, budget=budget)
            if extraction is not None:
                result = attrs.evolve(result, provenance=extraction.provenance_json())
            return result
        except BudgetExceededError as exc:
            raise self._budget_error(exc) from None
        except EvaluationError as exc:
            raise EvaluationFailedError(dg.make(
                "SR505", exc.node.span, detail=str(exc))) from None
        except RecursionError:
            raise EvaluationFailedError(dg.make(
                "SR502", self.header.span, steps="too many nested",
                hints=("the guideline nests too deeply",))) from None

    def _json_outcome(self, data: dict[str, Any], as_of: datetime.date, budget: int
                      ) -> Any:
        """Generated code's outcome (``engine.outcomes``) for a record given as JSON, if
        it loads without a problem (``json_ok``) and a record with lists of the same
        lengths was counted within the budget before; else None (the record is loaded:
        the loader names what is wrong, the closures report an error)."""
        decisions = self.plan.decisions
        if decisions is None:
            return None
        limits = self.limits
        return decisions.json(data, as_of, budget, limits.max_list_length, limits.max_steps)

    def _within_budget(self, record: Any, as_of: datetime.date) -> None:
        """The budget, counted once for both evaluators before either runs (so that
        ``evaluate`` and ``codes`` stop on the same records); see ``compile.Work``."""
        if self.plan.work is not None:
            self.plan.work.check(record, as_of, self.limits.max_steps)

    def _budget_error(self, exc: BudgetExceededError) -> EvaluationFailedError:
        span = exc.node.span if exc.node is not None else self.header.span
        return EvaluationFailedError(dg.make(
            "SR502", span, steps=exc.steps,
            hints=("raise Limits.max_steps, or simplify the quantifiers, lists and scores "
                   "that run for every list element",)))

    def codes(self, record: Any, *, as_of: datetime.date | str) -> frozenset[str]:
        """The fast path: only the set of codes emitted for one record (no reasons).

        Gives the same codes as ``evaluate(...).codes()``; for population-scale runs. A FHIR
        Bundle is read as in :meth:`evaluate` (its provenance is not kept).
        """
        when = as_of if type(as_of) is datetime.date else as_date(as_of)
        limits = self.limits
        budget = limits.max_steps * _BACKSTOP
        if type(record) is dict and "resourceType" in record:
            record = self.extract(record, as_of=when).record
        try:
            if type(record) is dict:  # JSON read as it is, if checked and within the budget
                json_fn = self.fast.json_fn  # (called directly once made: one call less)
                out = self.fast.json_codes(record, when, budget, limits) if json_fn is None \
                    else json_fn(record, when, budget, limits.max_list_length, limits.max_steps)
                if out is not None:
                    return frozenset(out)
            record = self._record(record)
            self._within_budget(record, when)
            fn = self.fast.fn or self.fast.generate()  # (called directly: one frame less)
            return frozenset(fn(record, when, budget))
        except BudgetExceededError as exc:
            raise self._budget_error(exc) from None
        except EvaluationError as exc:
            raise EvaluationFailedError(dg.make(
                "SR505", exc.node.span, detail=str(exc))) from None
        except RecursionError:
            raise EvaluationFailedError(dg.make(
                "SR502", self.header.span, steps="too many nested",
                hints=("the guideline nests too deeply",))) from None


_REBUILT: dict[tuple[Any, ...], Guideline] = {}
_REBUILT_LOCK = threading.Lock()
_REBUILT_KEEP = 16
"""Guidelines rebuilt from pickles in this process, by hash, limits and record type (the
most recent few: a pool that ships one guideline with every task rebuilds it once)."""


def _rebuild(entry: str, root: str, sources: tuple[tuple[str, str, bytes, str], ...],
             limits: Limits, record_name: str, record_type: type | None,
             sha256: str) -> Guideline:
    """Unpickle a :class:`Guideline`: check each text's hash, then load it from memory."""
    key = (sha256, entry, root, limits, record_name, record_type)
    with _REBUILT_LOCK:
        found = _REBUILT.get(key)
    if found is not None:
        return found
    for name, _path, raw, digest in sources:
        if hashlib.sha256(raw).hexdigest() != digest:
            raise ValueError(f"cannot unpickle guideline {entry!r}: the text of {name!r} "
                             "does not match its SHA-256")
    from spinerules.lang.resolve import rebuild

    assembled = rebuild(entry, root, [(name, path, raw) for name, path, raw, _ in sources],
                        limits)
    records = {record_name: record_type} if record_type is not None else None
    checked, problems = analyse(entry, root=root, records=records,
                                limits=limits, assembled=assembled)
    errors = [d for d in problems if d.is_error]
    if checked is None or errors:
        raise dg.GuidelineError(errors or problems, assembled[0].texts)
    g = _build(checked, problems, limits)
    if g.sha256 != sha256:
        raise ValueError(f"cannot unpickle guideline {entry!r}: its files do not match "
                         "the recorded hash")
    with _REBUILT_LOCK:
        _REBUILT[key] = g
        while len(_REBUILT) > _REBUILT_KEEP:
            del _REBUILT[next(iter(_REBUILT))]
    return g


def as_date(value: object) -> datetime.date:
    """``as_of`` as a date: a ``datetime.date``, a ``"YYYY-MM-DD"`` string, or None (today).

    Anything else is a ``TypeError`` (a ``datetime.datetime`` too: say which day), and a
    string of another form (``"2026-W07-3"``, ``"20260218"``) a ``ValueError``.
    """
    if value is None:
        return datetime.date.today()
    if isinstance(value, datetime.datetime):
        raise TypeError("as_of must be a date, not a datetime (use .date())")
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        day = parse_iso_date(value)
        if day is None:
            raise ValueError(f"as_of must be a date as YYYY-MM-DD, got {value[:40]!r}")
        return day
    raise TypeError(f"as_of must be a datetime.date or a 'YYYY-MM-DD' string, got "
                    f"{type(value).__name__}")


def _locate(path_or_name: str | Path) -> tuple[Path, Path | None]:
    """The entry file and the root its imports are confined to (None: its own folder).

    A path that cannot even be looked at (a name too long, a symlink loop) is returned as
    it is: reading it gives the diagnostic.
    """
    try:
        return _find(path_or_name)
    except (OSError, RuntimeError):
        return Path(path_or_name), None


def _find(path_or_name: str | Path) -> tuple[Path, Path | None]:
    p = Path(path_or_name)
    if not p.exists() and isinstance(path_or_name, str):
        found = bundled(path_or_name)
        if found is not None:
            return found, guidelines_dir()
    project = find_project(p)
    if p.is_dir():
        entry = project.entry_for(p) if project is not None else None
        candidate = entry or p / f"{p.resolve().name}.rules"
        if candidate.is_file():
            p = candidate
    if project is not None:
        return p, project.root
    try:
        if guidelines_dir().resolve() in p.resolve().parents:
            return p, guidelines_dir()
    except OSError:  # pragma: no cover
        pass
    return p, None


def analyse(path_or_name: str | Path, *, root: str | Path | None = None,
            records: Mapping[str, type] | None = None, limits: Limits = DEFAULT_LIMITS,
            text: str | None = None,
            assembled: tuple[Program, list[dg.Diagnostic]] | None = None,
            ) -> tuple[Checked | None, list[dg.Diagnostic]]:
    """Run every static stage; returns the checked program (None if unusable) and diagnostics.

    ``assembled`` is a program already read (``resolve.rebuild``), checked as it is.
    """
    path, bundled_root = _locate(path_or_name)
    use_root = Path(root) if root is not None else bundled_root
    if assembled is None and text is None:
        project = find_project(path)
        if project is not None and project.problems:
            return None, list(project.problems)
    try:
        program, problems = assembled or assemble(path, root=use_root, limits=limits,
                                                  text=text)
    except RecursionError:
        return None, [dg.make("SR106", _nowhere(str(path)), limit=limits.max_depth)]
    syntax = [d for d in problems if d.is_error]
    if syntax and program.header is not None and program.files and all(
            d.code in RECOVERABLE for d in syntax):
        # the items that parse are checked too, so that every diagnostic is reported at
        # once; the guideline does not load (it has errors)
        return None, dg.sort_and_cap(_after_syntax_errors(program, problems, records, limits))
    if any(d.is_error for d in problems) or program.header is None:
        return None, dg.sort_and_cap(_name_hints(path_or_name, problems))
    registry = dict(records) if records is not None else default_records()
    declared, declare_problems = declare(program, registry)
    if declare_problems:
        problems.extend(declare_problems)
        if any(d.is_error for d in declare_problems):
            return None, dg.sort_and_cap(problems)
    registry.update(declared)
    header = program.header
    record_name = header.record or "spine.Patient"
    if record_name not in registry:
        problems.append(dg.make("SR212", header.span, name=record_name,
                                hints=dg.did_you_mean(record_name, registry) or (
                                    f"declare it: `type {record_name}:` and its fields, "
                                    "in the guideline or a module it imports",)))
        return None, dg.sort_and_cap(problems)
    structure = structure_problems(program, limits.max_block_depth, limits.max_nesting)
    if structure:
        return None, dg.sort_and_cap([*problems, *structure])
    count, first_over = 0, None
    for item in _walk(program.items()):
        count += 1
        if count == limits.max_rules + 1:
            first_over = item
    if first_over is not None:
        problems.append(dg.make("SR111", first_over.span, what="rules, defines and scores",
                                count=count, limit=limits.max_rules))
        return None, dg.sort_and_cap(problems)
    try:
        with gc_paused():  # many small acyclic objects (docs/performance.md)
            checked = check_program(program, registry[record_name])
    except RecursionError:
        return None, [*problems, dg.make("SR106", header.span, limit=limits.max_depth)]
    return checked, dg.sort_and_cap([*problems, *checked.diagnostics])


_BROKEN_ITEM = re.compile(r"`(?:define|score|source|rule|for|test) ([\w.]+)`")
#: what a checker says about names and codes that a broken item would have declared
_CASCADES = frozenset({"SR201", "SR206", "SR218"})
_UNSURE = frozenset({"SR217", "SR402", "SR404"})


def _after_syntax_errors(program: Program, problems: list[dg.Diagnostic],
                         records: Mapping[str, type] | None, limits: Limits,
                         ) -> list[dg.Diagnostic]:
    """The syntax errors and what checking the items that parsed finds, less what follows
    from the broken items (their names unknown, their codes never emitted)."""
    registry = dict(records) if records is not None else default_records()
    header = program.header
    assert header is not None
    record = registry.get(header.record or "spine.Patient")
    if record is None or structure_problems(program, limits.max_block_depth,
                                            limits.max_nesting):
        return problems
    broken = {m.group(1) for d in problems if d.code in RECOVERABLE
              for m in _BROKEN_ITEM.finditer(" ".join((d.message, *d.notes)))}
    try:
        with gc_paused():
            checked = check_program(program, record)
    except RecursionError:
        return problems
    kept = []
    for d in checked.diagnostics:
        if d.code in _UNSURE:
            continue
        if d.code in _CASCADES and any(f"`{name}`" in d.message for name in broken):
            continue
        kept.append(d)
    return [*problems, *kept]


def _name_hints(asked: str | Path, problems: list[dg.Diagnostic]) -> list[dg.Diagnostic]:
    """A name that is neither a file nor a bundled guideline (``load("vfc")``): its
    ``SR110`` lists the bundled names, the closest first."""
    if not isinstance(asked, str) or "/" in asked or asked.endswith(".rules"):
        return problems
    from spinerules.lang.resources import bundled_names

    names = bundled_names()
    out = []
    for d in problems:
        if d.code == "SR110" and d.span.source == asked:
            hints = (*dg.did_you_mean(asked, names),
                     f"the bundled guidelines are: {', '.join(names)}"
                     " (`spinerules list` shows their titles)")
            d = attrs.evolve(d, hints=(*d.hints, *hints))
        out.append(d)
    return out


def _walk(items: Any) -> Iterator[n.Rule | n.Define | n.Score]:
    """Rules, defines and scores in source order (iteratively: blocks may nest deeply)."""
    stack = list(reversed(list(items)))
    while stack:
        i = stack.pop()
        if isinstance(i, n.Rule | n.Define | n.Score):
            yield i
        elif isinstance(i, n.For):
            stack.extend(reversed(i.items))


def _nowhere(name: str) -> Span:
    return Span(source=name, start=0, end=0, line=1, column=1, end_line=1, end_column=1)


@attrs.frozen(kw_only=True)
class BundledGuideline:
    """One bundled guideline as ``spinerules list`` shows it (from its header alone)."""

    name: str
    title: str
    version: str | None
    status: str | None
    record: str
    path: Path


def bundled_guidelines() -> list[BundledGuideline]:
    """The bundled guidelines, by name: each entry file's header, parsed (not loaded)."""
    from spinerules.lang.parser import parse, read_source
    from spinerules.lang.resources import bundled_names

    out = []
    for name in bundled_names():
        path = guidelines_dir() / name / f"{name}.rules"
        source, _problems = read_source(str(path))
        file = parse(source)[0] if source is not None else None
        header = next((i for i in file.items if isinstance(i, n.Header)), None) \
            if file is not None else None
        out.append(BundledGuideline(
            name=name, title=header.title if header else "(the header does not parse)",
            version=header.version if header else None,
            status=header.status if header else None,
            record=(header.record if header else None) or "spine.Patient", path=path))
    return out


def record_type_named(name: str, records: Mapping[str, type] | None = None) -> type | None:
    """A record type by its full name (``spine.Patient``) or, when only one type has it,
    its namespace (``spine``); None when there is none."""
    registry = dict(records) if records is not None else default_records()
    if name in registry:
        return registry[name]
    under = [k for k in registry if k.split(".", 1)[0] == name]
    return registry[under[0]] if len(under) == 1 else None


def check(path_or_name: str | Path, **kwargs: Any) -> list[dg.Diagnostic]:
    """Every diagnostic of a guideline (errors and warnings); never raises for bad input.

    Example:
        >>> [d.code for d in check("vcf") if d.is_error]
        []
    """
    _check_arguments("check", path_or_name, kwargs.get("root"), kwargs.get("records"),
                     kwargs.get("limits", DEFAULT_LIMITS))
    text = kwargs.get("text")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"check(text=...) expects a str, got {type(text).__name__}")
    return analyse(path_or_name, **kwargs)[1]


def load(path_or_name: str | Path, *, root: str | Path | None = None,
         records: Mapping[str, type] | None = None,
         limits: Limits = DEFAULT_LIMITS, warm: bool = False) -> Guideline:
    """Load, check and compile a guideline by path or bundled name; raises GuidelineError.

    ``warm=True`` also generates the code behind ``codes``, ``evaluate`` and traces now
    (``Guideline.warm``), as a service should: its first request then costs what every other
    does. By default each is generated on first use, since generating all three costs more
    than one evaluation (a one-shot command) and grows faster than the rule count.

    Example:
        >>> load("vcf").title
        'Osteoporotic vertebral compression fracture'
    """
    _check_arguments("load", path_or_name, root, records, limits)
    checked, problems = analyse(path_or_name, root=root, records=records, limits=limits)
    errors = [d for d in problems if d.is_error]
    if checked is None or errors:
        texts = checked.program.texts if checked is not None else _texts_of(path_or_name, problems)
        raise dg.GuidelineError(errors or problems, texts)
    return _build(checked, problems, limits, warm)


def loads(text: str, *, name: str = "<string>.rules", root: str | Path | None = None,
          records: Mapping[str, type] | None = None,
          limits: Limits = DEFAULT_LIMITS, warm: bool = False) -> Guideline:
    """Load a guideline from a string (imports resolve against ``root``, default cwd);
    ``warm`` as for :func:`load`."""
    if not isinstance(text, str):
        hint = " (decode it first: text.decode('utf-8'))" if isinstance(text, bytes) else ""
        raise TypeError(f"loads() expects the guideline text as a str, got "
                        f"{type(text).__name__}{hint}")
    _check_arguments("loads", name, root, records, limits)
    checked, problems = analyse(name, root=root or Path.cwd(), records=records, limits=limits,
                                text=text)
    errors = [d for d in problems if d.is_error]
    if checked is None or errors:
        from spinerules.lang.source import Source

        raise dg.GuidelineError(errors or problems, {name: Source(name, printable(text))})
    return _build(checked, problems, limits, warm)


def _check_arguments(function: str, path: object, root: object, records: object,
                     limits: object) -> None:
    """A ``TypeError`` naming the argument, rather than an ``AttributeError`` deep inside."""
    if not isinstance(path, str | Path):
        raise TypeError(f"{function}() expects a path or a guideline name (str or Path), got "
                        f"{type(path).__name__}")
    if root is not None and not isinstance(root, str | Path):
        raise TypeError(f"{function}(root=...) expects a folder (str or Path), got "
                        f"{type(root).__name__}")
    if records is not None and not (isinstance(records, Mapping) and all(
            isinstance(k, str) and isinstance(v, type) for k, v in records.items())):
        raise TypeError(f"{function}(records=...) expects a mapping of names to record "
                        f"classes, got {type(records).__name__}")
    if not isinstance(limits, Limits):
        raise TypeError(f"{function}(limits=...) expects spinerules.Limits, got "
                        f"{type(limits).__name__}")


def _build(checked: Checked, problems: list[dg.Diagnostic], limits: Limits,
           warm: bool = False) -> Guideline:
    """Plan (closures, for results and traces) and, with ``warm``, generate its code
    (``Guideline.warm``)."""
    try:
        with gc_paused():
            plan = Planner(checked).plan()
    except RecursionError:  # within `max_nesting`, but called from a stack already deep
        header = checked.program.header
        span = header.span if header is not None else _nowhere(checked.program.entry)
        raise dg.GuidelineError([dg.make(
            "SR114", span, depth="too many", limit=limits.max_nesting,
            hints=("lower `Limits.max_nesting`, or load the guideline from a shallower "
                   "call stack",))], checked.program.texts) from None
    g = Guideline(checked=checked, plan=plan, fast=_FastPath(checked, plan),
                  limits=limits, warnings=tuple(d for d in problems if not d.is_error))
    if warm:
        g.warm()
    return g


class _FastPath:
    """``Guideline.codes``' function, generated when the guideline loads with ``warm=True``
    (``Guideline.warm``), or on first use; one lock makes that happen once. A guideline
    whose generated code nests deeper than CPython's compiler allows (a condition with
    thousands of operators) keeps the closures of its plan, which give the same codes.
    """

    def __init__(self, checked: Checked, plan: Plan) -> None:
        self._checked = checked
        self._plan = plan
        self.fn: FastFn | None = None  #: the function, once generated
        self.too_deep = False  #: CPython's compiler could not compile it
        self.json_fn: JsonFastFn | None = None  #: the function for JSON records, once made
        self.json_tried = False  #: generate_json ran (json_fn None: it cannot be made)
        self._lock = threading.Lock()

    def __call__(self, record: Any, as_of: datetime.date, budget: int) -> set[str]:
        fn = self.fn or self.generate()
        return fn(record, as_of, budget)

    def json_codes(self, data: dict[str, Any], as_of: datetime.date, budget: int,
                   limits: Limits) -> set[str] | None:
        """The codes of a record given as JSON, read as it is by generated code
        (``codegen.JsonGenerator``), when it loads without a problem (the function checks
        it as ``json_ok`` does) and a record with lists of the same lengths was counted
        within the budget before (the function looks the count up, ``Work.known``); else
        None: the record is loaded (which names what is wrong), counted, and read by
        ``fn``."""
        fn = self.json_fn
        if fn is None:
            if self.json_tried:
                return None
            fn = self.generate_json()
            if fn is None:
                return None
        return fn(data, as_of, budget, limits.max_list_length, limits.max_steps)

    def generate_json(self) -> JsonFastFn | None:
        """Generate the function for JSON records (once), or note that it cannot be."""
        with self._lock:
            if not self.json_tried:
                self.json_tried = True
                if not self.too_deep:
                    try:
                        self.json_fn = generate_json(self._checked, self._plan.work)
                    except Exception:  # (a record it cannot read): the record's way
                        self.json_fn = None
            return self.json_fn

    def generate(self) -> FastFn:
        """Generate the function (once; threads wait for the first)."""
        with self._lock:
            if self.fn is None:
                try:
                    self.fn = generate(self._checked)
                except (RecursionError, SyntaxError):  # too deep for CPython's compiler
                    self.too_deep = True
                    plan = self._plan

                    def closures(record: Any, as_of: datetime.date, budget: int) -> set[str]:
                        return set(fast_codes(plan, record, as_of=as_of, budget=budget))
                    self.fn = closures
            return self.fn


_CONTROLS = {c: "\ufffd" for c in (*range(32), 127) if chr(c) not in "\t\n\r"}


def _texts_of(path_or_name: str | Path, problems: list[dg.Diagnostic]) -> dict[str, Any]:
    from spinerules.lang.parser import read_source
    from spinerules.lang.source import Source

    out: dict[str, Any] = {}
    path, _ = _locate(path_or_name)
    if any(d.code == "SR115" for d in problems):  # the project file, to show its lines
        project = find_project(path)
        if project is not None and project.source is not None:
            out[project.source.name] = project.source
    too_large = {d.span.source for d in problems if d.code == "SR115" or d.code == "SR107"}
    for d in problems:
        name = d.span.source
        if name in out or name in too_large:  # not read again just to show a line
            continue
        for candidate in (Path(name), path.parent / Path(name).name,
                          guidelines_dir().parent / name):
            try:
                regular = candidate.is_file()
            except OSError:  # a name too long
                regular = False
            if regular:
                src, _p = read_source(str(candidate), name)
                if src is None and candidate.stat().st_size <= DEFAULT_LIMITS.max_bytes:
                    # not UTF-8 (SR105): show the line, bad bytes and control characters
                    # replaced one for one (so the offsets still hold)
                    text = candidate.read_bytes().decode("utf-8", "replace")
                    src = Source(name, text.translate(_CONTROLS))
                if src is not None:
                    out[name] = src
                break
    return out
