"""Running guideline tests: ``test`` blocks in `.rules` files and YAML case files.

A YAML case file holds one case or a list under ``cases:``::

    note: S2 a missing neurological examination is asked for
    guideline: vcf                      # bundled name, or a path relative to this file
    as_of: 2026-02-18
    patient: {age: 72, fractures: [{level: L1}]}     # or patient_file: ../patients/x.json
    want_codes: [request_neuro_exam]                 # recommended/classified codes
    want_not: [conservative_management]
    want_missing: [request_neuro_exam]
    want_scores: {genant: 1, tlics: [3, 6]}          # a value, or [min, max]
    want_not_missing: [request_dexa_status]
    want_rules: [S2.neuro_exam_missing]              # rule ids that must fire
    want_not_rules: [S6.conservative_first_line]     # rule ids that must not fire
    want_error: SR501                                # for an invalid patient record

Each case gives a ``CaseResult`` with the differences between expected and actual.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from spinerules.api import EvaluationFailedError, Guideline, analyse, load
from spinerules.checker.check import Checked
from spinerules.engine.result import ASK_CODE, Result
from spinerules.lang import diagnostics as dg
from spinerules.lang.nodes import For, Rule, Test
from spinerules.lang.resources import bundled
from spinerules.lang.source import Source, is_folder, read_limited, resolve, why_unreadable
from spinerules.records.dates import parse_iso_date
from spinerules.records.loader import DEFAULT_MAX_BYTES, RecordError, load_record
from spinerules.testing.casefile import (
    ParsedCaseFile,
    Vocabulary,
    check_parsed,
    located_problems,
    parse_case_text,
)

DEFAULT_AS_OF = datetime.date(2026, 1, 1)


@attrs.frozen(kw_only=True)
class Case:
    """One test case, from a `test` block or a YAML file."""

    name: str
    origin: str  # file:line
    guideline: str
    patient: Any  # a JSON-like mapping, or None when the file could not be read
    as_of: datetime.date
    want_codes: tuple[str, ...] = ()
    want_not: tuple[str, ...] = ()
    want_missing: tuple[str, ...] = ()
    want_not_missing: tuple[str, ...] = ()
    want_rules: tuple[str, ...] = ()  # rule ids that must fire
    want_not_rules: tuple[str, ...] = ()  # rule ids that must not fire
    want_scores: dict[str, tuple[float, float]] = attrs.field(factory=dict)
    want_error: str | None = None
    error: str | None = None  # a problem with the case itself


@attrs.frozen(kw_only=True)
class CaseResult:
    case: Case
    failures: tuple[str, ...]
    result: Result | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"name": self.case.name, "origin": self.case.origin, "passed": self.passed,
                "failures": list(self.failures)}


def cases_from_guideline(g: Guideline) -> Iterator[Case]:
    """The `test` blocks of a loaded guideline, as cases."""
    for t in g.tests():
        yield _case_from_block(g, t)


def _case_from_block(g: Guideline, t: Test) -> Case:
    here = Path(g.program.paths.get(t.span.source, t.span.source)).parent
    patient: Any = None
    error = None
    if t.given is None:
        error = "the test names no patient (`given \"file.json\"`)"
    else:
        patient, error = read_test_patient(t.given, here, project_root(Path(g.program.root)))
    return Case(
        name=t.name, origin=t.span.location(),
        guideline=g.program.paths.get(g.program.entry, g.program.entry), patient=patient,
        as_of=t.as_of or DEFAULT_AS_OF, want_codes=t.expect, want_not=t.expect_not,
        want_missing=t.expect_missing,
        want_scores={s.name: (s.low, s.high) for s in t.expect_scores}, error=error)


MAX_CASE_FILE_BYTES = 512 * 1024
"""Size of one YAML case file (the largest bundled one is about 200 KB)."""

MAX_BROKEN_CASES = 100
"""Broken cases reported for one case file; then one ``SR120`` says how many were left."""


def cases_from_yaml(path: Path, cache: GuidelineCache | None = None) -> Iterator[Case]:
    """The cases of one YAML case file (at most :data:`MAX_CASE_FILE_BYTES`; after
    :data:`MAX_BROKEN_CASES` broken cases, one last case says how many were not read).

    The file is checked first (``casefile``): a case with an unknown key, a value of the
    wrong shape, or a code, rule or score its guideline cannot give (the guideline loaded
    through ``cache``) fails with the located diagnostics; a problem of the whole file
    gives one more failing case.
    """

    def unreadable(error: str) -> Case:
        return Case(name=path.name, origin=str(path), guideline="", patient=None,
                    as_of=DEFAULT_AS_OF, error=error)

    parsed, error = read_case_file(path)
    if parsed is None:
        yield unreadable(error or "cannot read the case file")
        return
    source = parsed.source
    cache = cache if cache is not None else GuidelineCache()
    located = located_problems(parsed, _vocabulary_in(path, _loaded_vocabulary(cache)))

    def rendered(diags: list[dg.Diagnostic]) -> str:
        return dg.render_all(diags, {source.name: source})

    whole = [d for i, d in located if i is None]
    if whole:
        yield unreadable(rendered(whole))
    if parsed.problems:
        return
    by_case: dict[int, list[dg.Diagnostic]] = {}
    for i, d in located:
        if i is not None:
            by_case.setdefault(i, []).append(d)
    data = parsed.data
    root = project_root(path.parent)
    entries = data.get("cases", [data]) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        entries = []
    defaults = {k: v for k, v in data.items() if k != "cases"} if isinstance(data, dict) else {}
    broken = 0
    for i, raw_entry in enumerate(entries):
        try:
            case = _yaml_case(path, i, raw_entry, defaults, root)
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            case = Case(name=f"{path.stem}[{i}]", origin=f"{path}:case {i + 1}", guideline="",
                        patient=None, as_of=DEFAULT_AS_OF,
                        error=f"the case is malformed: {str(exc)[:200]}")
        if i in by_case:  # the located problems, then what reading the case found
            also = f"\n{case.error}" if case.error else ""
            case = attrs.evolve(case, error=rendered(by_case[i]) + also)
        yield case
        broken += case.error is not None
        if broken >= MAX_BROKEN_CASES and i + 1 < len(entries):
            more = len(entries) - i - 1
            yield Case(name=path.name, origin=f"{path}:case {i + 2}", guideline="",
                       patient=None, as_of=DEFAULT_AS_OF,
                       error=f"error[SR120]: too many problems: stopped after "
                       f"{MAX_BROKEN_CASES} broken cases in this file; {more:,} more cases "
                       "were not read")
            return


def read_case_file(path: Path) -> tuple[ParsedCaseFile | None, str | None]:
    """A case file read and parsed (a YAML error is among its ``problems``), or None and
    why it could not be read at all."""
    try:
        raw, size = read_limited(path, MAX_CASE_FILE_BYTES)
    except OSError as exc:
        return None, f"error[SR110]: cannot read the file `{path}`: {why_unreadable(exc)}"
    if len(raw) > MAX_CASE_FILE_BYTES:
        return None, (f"error[SR107]: the file is too large ({size} bytes; the limit is "
                      f"{MAX_CASE_FILE_BYTES}): split the cases into several files")
    try:
        text = raw.decode("utf-8")
    except ValueError as exc:
        return None, f"error[SR105]: the file is not readable UTF-8 text: {exc}"
    return parse_case_text(Source(str(path), text.removeprefix("\ufeff"))), None


def check_case_file(path: Path, checked: CheckedCache | None = None,
                    ) -> tuple[list[dg.Diagnostic], Source | None, str | None]:
    """The diagnostics of one case file, its source (to show lines), or why it could not
    be read; what ``spinerules check`` reports for a ``.yaml`` file. The guidelines it
    names are checked, not loaded (``checked``: analyses shared between files)."""
    parsed, error = read_case_file(path)
    if parsed is None:
        return [], None, error
    checked = checked if checked is not None else CheckedCache()
    return check_parsed(parsed, _vocabulary_in(path, checked.vocabulary)), parsed.source, None


class CheckedCache:
    """Guidelines analysed (parsed and checked, not planned) by name, for the names a case
    file may use: what ``spinerules check`` needs, at a third of a load's cost."""

    def __init__(self) -> None:
        self._found: dict[str, Vocabulary | None] = {}

    def vocabulary(self, name: str) -> Vocabulary | None:
        key = _cache_key(name)
        if key not in self._found:
            checked, diags = analyse(name)
            ok = checked is not None and not any(d.is_error for d in diags)
            self._found[key] = vocabulary_of(checked) if ok and checked is not None else None
        return self._found[key]


def vocabulary(g: Guideline) -> Vocabulary:
    """The codes, rule ids and score names a guideline can give."""
    return vocabulary_of(g.checked)


def vocabulary_of(checked: Checked) -> Vocabulary:
    """The codes, rule ids and score names of a checked program."""
    rules = set()
    stack = list(checked.program.items())
    while stack:
        item = stack.pop()
        if isinstance(item, Rule):
            rules.add(item.rule_id)
        elif isinstance(item, For):
            stack.extend(item.items)
    return Vocabulary(codes=frozenset({*checked.codes, ASK_CODE}), rules=frozenset(rules),
                      scores=frozenset(s.name for s in checked.scores.values()))


def _vocabulary_in(path: Path, provider: Callable[[str], Vocabulary | None],
                   ) -> Callable[[str], Vocabulary | None]:
    """The vocabulary of a guideline named in the case file ``path`` (None: it does not
    load, which running its cases reports)."""
    root = project_root(path.parent)

    def of(name: str) -> Vocabulary | None:
        target = name if _is_name(name) else str(path.parent / name)
        if not _is_name(target) and _outside(Path(target), root):
            return None
        return provider(target)
    return of


def _loaded_vocabulary(cache: GuidelineCache) -> Callable[[str], Vocabulary | None]:
    def of(name: str) -> Vocabulary | None:
        try:
            return vocabulary(cache.load(name))
        except dg.GuidelineError:
            return None
    return of


def _yaml_case(path: Path, i: int, raw: Any, defaults: dict[str, Any], root: Path) -> Case:
    """One entry of a case file."""
    if not isinstance(raw, dict):
        raise TypeError(f"a case is a mapping (guideline:, patient:, want_codes: ...), got "
                        f"{type(raw).__name__}")
    entry = {**defaults, **raw}
    name = str(entry.get("name") or entry.get("note") or f"{path.stem}[{i}]")
    origin = f"{path}:case {i + 1}"
    error = None
    guideline = str(entry.get("guideline", ""))
    if guideline and not _is_name(guideline):
        guideline = str(path.parent / guideline)
    if guideline and not _is_name(guideline):
        why = _outside(Path(guideline), root)
        if why:
            error = f"error[SR110]: cannot read the guideline `{entry.get('guideline')}`: " \
                f"{why}"
    patient = entry.get("patient")
    if "patient_file" in entry:
        patient, unread = read_test_patient(str(entry["patient_file"]), path.parent, root)
        error = error or unread
    as_of = entry.get("as_of", DEFAULT_AS_OF)
    if isinstance(as_of, str):
        as_of = parse_iso_date(as_of)
        if as_of is None:
            error = f"as_of is not a date like 2026-02-18: {entry.get('as_of')!r}"
            as_of = DEFAULT_AS_OF
    elif not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        error = f"as_of is not a date like 2026-02-18: {as_of!r}"
        as_of = DEFAULT_AS_OF
    scores: dict[str, tuple[float, float]] = {}
    for k, v in (entry.get("want_scores") or {}).items():
        scores[str(k)] = (float(v[0]), float(v[1])) if isinstance(v, list) else (
            float(v), float(v))
    return Case(
        name=name, origin=origin, guideline=guideline, patient=patient, as_of=as_of,
        want_codes=tuple(entry.get("want_codes") or entry.get("want_recommendations") or ()),
        want_not=tuple(entry.get("want_not") or entry.get("want_not_codes") or ()),
        want_missing=tuple(entry.get("want_missing") or ()),
        want_not_missing=tuple(entry.get("want_not_missing") or ()),
        want_rules=tuple(entry.get("want_rules") or ()),
        want_not_rules=tuple(entry.get("want_not_rules") or ()),
        want_scores=scores, want_error=entry.get("want_error"), error=error)


PROJECT_MARKERS = ("spinerules.toml", "pyproject.toml", ".git")
"""Files or folders that mark a project's top folder."""


def project_root(folder: Path) -> Path:
    """The folder test patients and case files may name files in: the nearest folder at or
    above ``folder`` that holds ``spinerules.toml``, ``pyproject.toml`` or ``.git``, else
    ``folder`` itself."""
    try:
        start = resolve(folder)
    except OSError:
        return folder
    for candidate in (start, *start.parents):
        if candidate.parent == candidate:
            break  # never the filesystem's root
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return start


def _outside(path: Path, root: Path) -> str | None:
    """Why ``path`` may not be read (it leaves ``root``, or cannot be resolved), or None."""
    try:
        real, real_root = resolve(path), resolve(root)
    except OSError as exc:
        return why_unreadable(exc)
    if real != real_root and real_root not in real.parents:
        return f"it lies outside the project folder `{real_root}`"
    return None


def read_test_patient(name: str, here: Path, root: Path) -> tuple[Any, str | None]:
    """The JSON of a test patient file named in a test block or case file, and an error.

    The file must lie inside ``root`` (the project folder, symlinks followed), be a regular
    file (not a named pipe or device) and hold at most the records' ``DEFAULT_MAX_BYTES``.
    """
    shown = name if len(name) <= 80 else name[:77] + "..."

    def fail(detail: str) -> tuple[Any, str]:
        return None, f"error[SR504]: cannot read the test patient `{shown}`: {detail}"

    path = here / name
    why = _outside(path, root)
    if why is not None:
        return fail(why)
    try:
        raw, size = read_limited(path, DEFAULT_MAX_BYTES)
    except OSError as exc:
        return fail(why_unreadable(exc))
    if len(raw) > DEFAULT_MAX_BYTES:
        return fail(f"the file is too large ({size} bytes; the limit is {DEFAULT_MAX_BYTES})")
    try:
        return json.loads(raw), None
    except (ValueError, RecursionError) as exc:
        return fail(f"not valid JSON: {str(exc).splitlines()[0][:200]}")


def _is_name(text: str) -> bool:
    return "/" not in text and not text.endswith(".rules")


def _cache_key(name: str) -> str:
    """A guideline's resolved entry file (a bundled name: its entry file), or the name."""
    path = Path(name)
    try:
        if not path.exists() and _is_name(name):
            path = bundled(name) or path
        if path.exists():
            return str(resolve(path))
    except OSError:
        pass
    return name


class GuidelineCache:
    """Guidelines loaded for a test run, each once: by its resolved entry file (or its
    bundled name), so that the 230 cases of one case file share one load. A guideline that
    does not load is remembered too (its error is raised again for each case). ``root``:
    the folder imports are confined to (default: each guideline's project's)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = root
        self._loaded: dict[str, Guideline | dg.GuidelineError] = {}

    def load(self, name: str) -> Guideline:
        """The loaded guideline ``name`` (a path or a bundled name); ``GuidelineError``."""
        key = _cache_key(name)
        found = self._loaded.get(key)
        if found is None:
            try:
                found = load(name, root=self.root)
            except dg.GuidelineError as exc:
                found = exc
            self._loaded[key] = found
        if isinstance(found, dg.GuidelineError):
            raise found
        return found


def run_case(case: Case, guideline: Guideline | None = None, *,
             cache: GuidelineCache | None = None,
             root: str | Path | None = None) -> CaseResult:
    """Evaluate one case and compare; never raises for a bad case. Without ``guideline``
    the case's own is loaded (through ``cache`` when given: once for all its cases;
    ``root``: the folder imports are confined to, default its project's)."""
    if case.error:
        return CaseResult(case=case, failures=(case.error,))
    try:
        g = guideline or (cache.load(case.guideline) if cache is not None
                          else load(case.guideline, root=root))
    except dg.GuidelineError as exc:
        return CaseResult(case=case, failures=(f"the guideline does not load:\n{exc}",))
    try:
        record: Any = load_record(g.record_type, case.patient)
        result = g.evaluate(record, as_of=case.as_of, trace=True)
    except RecordError as exc:
        if case.want_error == "SR501":
            return CaseResult(case=case, failures=())
        return CaseResult(case=case, failures=(f"invalid patient record:\n{exc}",))
    except EvaluationFailedError as exc:
        if case.want_error == exc.diagnostic.code:
            return CaseResult(case=case, failures=())
        return CaseResult(case=case, failures=(f"evaluation failed: {exc}",))
    failures: list[str] = []
    if case.want_error:
        failures.append(f"expected error {case.want_error}, but the patient was evaluated")
    codes = result.codes()
    missing = result.missing_codes()
    for code in case.want_codes:
        if code not in codes and code not in missing:
            failures.append(f"expected `{code}`, not emitted")
    for code in case.want_not:
        if code in codes or code in missing:
            failures.append(f"`{code}` was emitted, but the case forbids it")
    for code in case.want_missing:
        if code not in missing:
            failures.append(f"expected the request `{code}`, not made")
    for code in case.want_not_missing:
        if code in missing:
            failures.append(f"the request `{code}` was made, but the case forbids it")
    fired = {o.rule for o in result.trace.outcomes if o.status == "fire"} \
        if result.trace is not None else set()
    for rule_id in case.want_rules:
        if rule_id not in fired:
            failures.append(f"expected rule `{rule_id}` to fire; it did not")
    for rule_id in case.want_not_rules:
        if rule_id in fired:
            failures.append(f"rule `{rule_id}` fired, but the case forbids it")
    for name, (low, high) in case.want_scores.items():
        s = result.scores.get(name)
        if s is None:
            failures.append(f"expected score `{name}`, none computed")
        elif (s.low, s.high) != (low, high):
            got = f"{s.low:g}" if s.value is not None else f"{s.low:g}..{s.high:g}"
            want = f"{low:g}" if low == high else f"{low:g}..{high:g}"
            failures.append(f"score `{name}`: expected {want}, got {got}")
    return CaseResult(case=case, failures=tuple(failures), result=result)


def describe_failure(r: CaseResult) -> str:
    """Expected against actual, and the trace of the rules involved."""
    lines = [f"FAIL {r.case.name} ({r.case.origin})"]
    lines += [f"  - {f}" for f in r.failures]
    if r.result is not None:
        lines.append(f"  emitted: {', '.join(sorted(r.result.codes())) or '(none)'}")
        lines.append(f"  missing: {', '.join(sorted(r.result.missing_codes())) or '(none)'}")
        involved = {c for f in r.failures for c in _codes_in(f)}
        if r.result.trace is not None and involved:
            for code in sorted(involved):
                lines.append("  " + r.result.explain(code).replace("\n", "\n  "))
    return "\n".join(lines)


def _codes_in(text: str) -> list[str]:
    parts = text.split("`")
    return [parts[i] for i in range(1, len(parts), 2)]


def run_cases(collected: Iterable[tuple[Case, Guideline | None]],
              cache: GuidelineCache | None = None) -> list[CaseResult]:
    """Run collected cases, loading each guideline once (``cache``, a new one by default)."""
    cache = cache if cache is not None else GuidelineCache()
    return [run_case(case, g, cache=cache) for case, g in collected]


def collect(paths: list[str], cache: GuidelineCache | None = None, *,
            root: str | Path | None = None,
            ) -> Iterator[tuple[Case, Guideline | None]]:
    """Cases from guideline files, bundled names, folders and YAML case files (guidelines
    loaded through ``cache`` when given, else with ``root``: the folder imports are confined
    to, default each guideline's project's)."""
    if cache is None:
        cache = GuidelineCache(root=root)
    for p in paths:
        path = Path(p)
        if is_folder(path):
            for f in sorted(path.rglob("*")):
                if f.suffix in (".yaml", ".yml"):
                    yield from ((c, None) for c in cases_from_yaml(f, cache))
                elif f.suffix == ".rules" and _is_entry(f):
                    yield from _guideline_cases(str(f), cache)
        elif path.suffix in (".yaml", ".yml"):
            yield from ((c, None) for c in cases_from_yaml(path, cache))
        else:
            yield from _guideline_cases(p, cache)


def _is_entry(f: Path) -> bool:
    """A guideline's entry file (its header within the first 4,000 bytes); a file that is
    not a regular file counts, so that loading it reports why it cannot be read."""
    if is_folder(f):
        return False
    try:
        head = read_limited(f, 4000)[0].decode("utf-8", errors="replace")
    except OSError:
        return True
    return any(line.startswith("guideline ") for line in head.splitlines())


def _guideline_cases(p: str, cache: GuidelineCache,
                     ) -> Iterator[tuple[Case, Guideline | None]]:
    try:
        g = cache.load(p)
    except dg.GuidelineError as exc:
        yield (Case(name=p, origin=p, guideline=p, patient=None, as_of=DEFAULT_AS_OF,
                    error=f"the guideline does not load:\n{exc}"), None)
        return
    for c in cases_from_guideline(g):
        yield c, g
