"""Shared machinery of the fuzz tests: profiles, the property, and input builders.

The property every fuzz test checks: whatever the input, only the project's own error types
come out (``GuidelineError`` carrying diagnostics, ``RecordError``, ``EvaluationFailedError``),
``check`` never raises, results serialise to strict JSON, and each input is done within
``TIME_BOUND`` seconds (a generous bound that only catches hangs; it is not a speed claim).

Profiles: ``SPINERULES_FUZZ=ci`` (the default, about 12,700 examples in total, well under
90 s) and ``SPINERULES_FUZZ=long`` (20 times as many); see docs/security.md.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

import spinerules
from spinerules import api
from spinerules.lang.diagnostics import CODES, Diagnostic, GuidelineError
from spinerules.records import RecordError, load_record, load_record_json
from spinerules.records.spine import Patient

ROOT = Path(__file__).resolve().parents[2]
GUIDELINES = ROOT / "guidelines"
PATIENTS = ROOT / "examples" / "patients"
AS_OF = datetime.date(2026, 2, 18)

PROFILE = os.environ.get("SPINERULES_FUZZ", "ci").strip().lower() or "ci"
if PROFILE not in ("ci", "long"):
    raise ValueError(f"SPINERULES_FUZZ must be `ci` or `long`, not {PROFILE!r}")

TIME_BOUND = 5.0
"""CPU seconds one input may take, end to end (load, check, evaluate). Catches hangs only:
CPU time, so that a busy machine (or a process paused by a benchmark) does not count."""
WALL_BOUND = 60.0
"""Wall seconds one input may take: catches a hang that does not spin (a deadlock)."""

ALLOWED: tuple[type[BaseException], ...] = (GuidelineError, RecordError,
                                            spinerules.EvaluationFailedError)


def examples(ci: int, long: int) -> int:
    """The number of examples for one fuzz test under the active profile."""
    return long if PROFILE == "long" else ci


# --- the property --------------------------------------------------------------------------


class EngineFault(AssertionError):
    """An input made the engine misbehave (a foreign exception, bad JSON, a slow input)."""


@attrs.frozen
class KnownIssue:
    """An engine bug logged in /tmp/engine-issues.md, with a strict-xfail regression test.

    The fuzzers keep running past inputs that hit it (a strict xfail cannot mark a random
    test), so that new bugs still surface; when the lead fixes the bug, the regression test
    named in ``test`` starts to pass (XPASS is a failure under strict) and this entry goes.
    """

    name: str
    test: str
    matches: Callable[[BaseException, list[str]], bool]


def _frames(exc: BaseException) -> list[str]:
    """``file:function`` of each frame the exception passed through (``units.py:format_quantity``;
    generated code shows as ``<spinerules:...>:_fast``)."""
    return [f"{Path(f.filename).name}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)]


def known_issue(exc: BaseException) -> KnownIssue | None:
    from .known_issues import KNOWN

    frames = _frames(exc)
    for issue in KNOWN:
        if issue.matches(exc, frames):
            return issue
    return None


def _show(value: object, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


SEEN_KNOWN: dict[str, int] = {}
"""How often each known issue was hit in this session (listed in the terminal summary)."""


def guarded(what: str, payload: object, step: Callable[[], None]) -> None:
    """Run ``step``; turn a foreign exception or a slow input into an ``EngineFault``."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        step()
    except ALLOWED:
        pass
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the property: nothing else may escape
        issue = known_issue(exc)
        if issue is not None:
            SEEN_KNOWN[issue.name] = SEEN_KNOWN.get(issue.name, 0) + 1
            return
        if isinstance(exc, EngineFault):
            raise EngineFault(f"{what}: {exc}\ninput: {_show(payload)}") from None
        tb = "".join(traceback.format_exception(exc, limit=-8))
        raise EngineFault(f"{what}: {type(exc).__name__}: {exc}\ninput: {_show(payload)}\n{tb}"
                          ) from exc
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    if used > TIME_BOUND or elapsed > WALL_BOUND:
        raise EngineFault(f"{what}: took {used:.1f} CPU-s, {elapsed:.1f} s (bounds "
                          f"{TIME_BOUND} CPU-s, {WALL_BOUND} s)\ninput: {_show(payload)}")


def strict_json(text: str) -> Any:
    """Parse JSON refusing NaN and Infinity (which are not JSON)."""

    def refuse(name: str) -> Any:
        raise EngineFault(f"result JSON contains {name}")

    return json.loads(text, parse_constant=refuse)


def assert_diagnostics(diags: object) -> list[Diagnostic]:
    if not isinstance(diags, list) or not all(isinstance(d, Diagnostic) for d in diags):
        raise EngineFault(f"check() returned {type(diags).__name__}, not a list of diagnostics")
    for d in diags:
        if d.code not in CODES:
            raise EngineFault(f"unknown diagnostic code {d.code}")
    return diags


# --- patients ------------------------------------------------------------------------------


@functools.cache
def example_patients() -> tuple[tuple[str, str], ...]:
    """(name, JSON text) of every bundled example patient."""
    return tuple((p.name, p.read_text(encoding="utf-8")) for p in sorted(PATIENTS.glob("*.json")))


@functools.cache
def probe_patients() -> tuple[Patient, ...]:
    """A few records to evaluate fuzzed guidelines with: typical, empty and extreme."""
    out = [Patient()]
    for name, text in example_patients():
        if name in ("founding-case.json", "neuro-deficit.json"):
            out.append(load_record_json(Patient, text))
    out.append(load_record(Patient, {
        "id": "extreme", "age": 0, "sex": "male", "prior_vertebral_fractures": 0,
        "fractures": [{"level": "C1", "height_loss_pct": 100, "weeks_since_onset": 0,
                       "marrow_edema": False, "mechanism": "none",
                       "morphology": "distraction", "posterior_ligament": "injured"},
                      {"level": "S5", "height_loss_pct": 0, "weeks_since_onset": 1e6}],
        "symptoms": {"pain_score": 10}, "bone_health": {"t_score": -10, "z_score": 10},
    }))
    return tuple(out)


def exercise(g: spinerules.Guideline, patients: tuple[Any, ...] | None = None,
             as_of: datetime.date = AS_OF) -> None:
    """Evaluate a loaded guideline: full results, traces, explanations, JSON and fast path."""
    for patient in patients if patients is not None else probe_patients():
        try:
            result = g.evaluate(patient, as_of=as_of, trace=True)
        except spinerules.EvaluationFailedError:
            continue
        strict_json(result.dumps())
        result.explain(next(iter(sorted(result.codes())), "no_such_code"))
        if result.trace is not None:
            result.trace.render()
        from spinerules.engine.result import render_text

        render_text(result)
        try:
            fast = g.codes(patient, as_of=as_of)
        except spinerules.EvaluationFailedError:
            continue
        if set(fast) != result.codes():
            raise EngineFault(f"fast path gave {sorted(fast)}, evaluate gave "
                              f"{sorted(result.codes())} for {patient!r}")


# --- guidelines ----------------------------------------------------------------------------


def check_rules_file(path: Path, root: Path, *, evaluate: bool = True) -> None:
    """The whole static pipeline on one file, then (if it loads) evaluation."""
    diags = assert_diagnostics(api.check(str(path), root=root))
    if any(d.is_error for d in diags):
        return
    try:
        g = api.load(str(path), root=root)
    except GuidelineError as exc:
        raise EngineFault(f"check() found no error but load() raised:\n{exc}") from None
    if evaluate:
        exercise(g)


def check_rules_bytes(data: bytes, folder: Path, name: str = "fuzz.rules",
                      *, evaluate: bool = True) -> None:
    path = folder / name
    path.write_bytes(data)
    guarded("rules", data, lambda: check_rules_file(path, folder, evaluate=evaluate))


# --- token-level mutation of the bundled guideline -----------------------------------------

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)?'
                   r"|[A-Za-z_][A-Za-z0-9_]*|\.\.|->|<=|>=|==|!=|\n[ \t]*|[ \t]+|.", re.S)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _strip_module(text: str) -> str:
    return re.sub(r"^(module|import)\b.*$", "", text, flags=re.M)


_NAMESPACES = (
    ("SR201", re.compile(r"^\s*(?:define|score)\s+(\w+)", re.M)),  # unknown name
    ("SR206", re.compile(r"^\s*source\s+(\w+)", re.M)),  # no source named ...
    ("SR402", re.compile(r"\b(?:recommend|consider|advise_against|warn|classify|request)"
                         r"\s+(\w+)")),  # invariant names a code no rule emits
)


def _header(entry_text: str) -> str:
    """The `guideline` item of an entry file (everything before its first import)."""
    return re.split(r"^import\b", entry_text, maxsplit=1, flags=re.M)[0].rstrip() + "\n"


@functools.cache
def mutation_bases() -> tuple[tuple[str, str, str], ...]:
    """(file name, context text, file text) for each bundled guideline file.

    The context is the file's guideline header plus the files that declare the names,
    sources and codes it uses (its own guideline's first, then the others'), so that the
    unmutated file checks clean on its own and mutations reach the checker and the
    evaluator, at a fraction of the cost of loading a whole guideline per example.
    """
    folders = sorted(d for d in GUIDELINES.iterdir() if (d / f"{d.name}.rules").is_file())
    files = {f"{d.name}/{p.name}": p.read_text(encoding="utf-8")
             for d in folders for p in sorted(d.glob("*.rules"))}
    out = []
    for key, text in files.items():
        folder, name = key.split("/")
        is_entry = name == f"{folder}.rules"
        header = "" if is_entry else _header(files[f"{folder}/{folder}.rules"])
        own = [k for k in files if k.startswith(folder + "/")]
        declared: list[dict[str, str]] = []
        for _code, pattern in _NAMESPACES:
            table: dict[str, str] = {}
            for k in own + [k for k in files if k not in own]:
                if k.endswith(f"/{k.split('/')[0]}.rules"):
                    continue  # entry files hold headers; never use them as context
                for m in pattern.finditer(files[k]):
                    table.setdefault(m.group(1), k)
            declared.append(table)
        context: list[str] = []
        for _ in range(10):
            body = header + "".join(_strip_module(files[c]) for c in context)
            _checked, diags = api.analyse("/nonexistent/ctx.rules", root="/nonexistent",
                                          text=body + _strip_module(text))
            more: set[str] = set()
            for (code, _pattern), table in zip(_NAMESPACES, declared, strict=True):
                for d in diags:
                    m = re.search(r"`(\w+)`", d.message)
                    if d.code == code and m and m.group(1) in table:
                        more.add(table[m.group(1)])
            more -= {key, *context}
            if not more:
                break
            context += sorted(more)
        body = header + "".join(_strip_module(files[c]) for c in context)
        out.append((key, body, _strip_module(text)))
    return tuple(out)


def mutate(toks: list[str], ops: list[tuple[int, int, int]]) -> str:
    """Apply token and line mutations; each op is (kind, i, j) with i, j taken modulo size."""
    toks = list(toks)
    for kind, i, j in ops:
        if kind <= 4 and toks:
            a, b = i % len(toks), j % len(toks)
            if kind == 0:
                del toks[a]
            elif kind == 1:
                toks.insert(a, toks[a])
            elif kind == 2:
                toks[a], toks[b] = toks[b], toks[a]
            elif kind == 3:
                toks[a] = toks[b]
            else:
                toks.insert(a, toks[b])
        else:
            lines = "".join(toks).split("\n")
            a, b = i % len(lines), j % len(lines)
            if kind == 5:
                del lines[a]
            elif kind == 6:
                lines.insert(a, lines[a])
            elif kind == 7:
                lines[a], lines[b] = lines[b], lines[a]
            else:
                lines[a] = " " * (j % 9) + lines[a].lstrip()
            toks = tokens("\n".join(lines))
    return "".join(toks)


# --- grammar-shaped programs ---------------------------------------------------------------

KEYWORDS = (
    "guideline", "module", "import", "source", "define", "rule", "for", "score", "invariant",
    "test", "version", "record", "status", "review", "description", "title", "authors",
    "publisher", "journal", "year", "doi", "pmid", "url", "evidence", "note", "unverified",
    "when", "unless", "recommend", "consider", "advise_against", "warn", "classify", "request",
    "strength", "urgency", "cite", "against", "in", "and", "or", "not", "unknown", "known",
    "any", "all", "count", "true", "false", "today", "else", "from", "component", "band",
    "ask", "never", "always", "given", "as_of", "expect", "no", "missing", "patient",
)
PUNCT = (":", ",", ".", "..", "(", ")", "[", "]", "->", "<", "<=", "==", "!=", ">=", ">",
         "+", "-", "*", "/", "%", "\n", "\n  ", "\n    ", " ")

HEADER = """guideline fz "Fuzz"
  record spine.Patient
source S:
  title "A source" url "https://example.org"
source T:
  title "Another" doi "10.1/x"
"""

PATIENT_PATHS = (
    "patient.age", "patient.sex", "patient.prior_vertebral_fractures", "patient.id",
    "patient.neuro.deficit", "patient.neuro.tlics_status", "patient.symptoms.pain_score",
    "patient.symptoms.fever", "patient.history.cancer", "patient.bone_health.t_score",
    "patient.augmentation_contraindication", "patient.fractures", "patient.neuro",
)
LOOP_PATHS = ("f.level", "f.height_loss_pct", "f.weeks_since_onset", "f.marrow_edema",
              "f.mechanism", "f.morphology", "f.sins.location", "f.posterior_ligament")
ENUMS = ("L1", "T11", "S5", "C1", "female", "male", "low_energy", "burst", "intact",
         "injured", "junctional")
UNITS = ("", "", " days", " weeks", " months", " years", " %", " week", " furlongs")

