"""Diagnostics: stable codes, one table of wordings, and a compiler-style renderer.

Codes are grouped by stage: ``SR1xx`` parse, ``SR2xx`` resolve, ``SR3xx`` types,
``SR4xx`` consistency, ``SR5xx`` runtime and input records. Tests assert on codes;
the wording lives only here (as cel-go keeps every checker message in one file).

Example:
    >>> from spinerules.lang.source import Source
    >>> src = Source("demo.rules", "define x: 1 +\\n")
    >>> d = make("SR103", src.span(13, 14), what="`define x`")
    >>> print(render(d, src).splitlines()[0])
    error[SR103]: `define x` ends before it is complete
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from spinerules.lang.source import Source, Span


class Severity(enum.Enum):
    """How bad a diagnostic is; only errors stop a guideline from loading."""

    ERROR = "error"
    WARNING = "warning"


E, W = Severity.ERROR, Severity.WARNING

#: code -> (severity, message template, label template). Templates use str.format.
CODES: dict[str, tuple[Severity, str, str]] = {
    # ---- SR1xx: reading and parsing
    "SR101": (E, "unexpected character `{char}`", "not part of the language"),
    "SR102": (E, "unexpected {found}", "expected {expected}"),
    "SR103": (E, "{what} ends before it is complete", "more was expected here"),
    "SR104": (E, "the file is empty", "a guideline starts with `guideline <id> \"<title>\"`"),
    "SR105": (E, "the file is not readable UTF-8 text", "{detail}"),
    "SR106": (E, "expression nested too deeply (more than {limit} levels)", "too deep"),
    "SR107": (E, "the file is too large ({size} bytes; the limit is {limit})", "too large"),
    "SR108": (E, "invalid date `{text}`", "{detail}"),
    "SR109": (E, "unknown unit `{unit}`", "not a unit"),
    "SR110": (E, "cannot read the file `{path}`", "{detail}"),
    "SR111": (E, "too many {what} ({count}; the limit is {limit})", "limit reached here"),
    "SR112": (E, "number `{text}` is too large", "not a finite number"),
    "SR113": (E, "{what} nested too deeply (more than {limit} levels)", "too deep"),
    "SR114": (E, "expression nested too deeply through the defines and scores it uses "
                 "({depth} levels; the limit is {limit})", "the chain passes the limit here"),
    "SR115": (E, "invalid project file `{path}`: {detail}", "here"),
    "SR120": (E, "too many problems: {detail}", "stopped here"),
    # ---- SR2xx: names, imports, sources
    "SR201": (E, "unknown name `{name}`", "not defined"),
    "SR202": (E, "rule id `{name}` is used twice", "second use"),
    "SR203": (E, "`{name}` is defined twice", "second definition"),
    "SR204": (E, "`{record}` has no field `{name}`", "unknown field"),
    "SR205": (E, "definitions refer to each other in a cycle: {cycle}", "cycle starts here"),
    "SR206": (E, "no source named `{name}`", "undeclared source"),
    "SR207": (E, "source `{name}` is declared twice", "second declaration"),
    "SR208": (E, "`{kind} {code}` cites no source", "add `cite <SOURCE>`"),
    "SR209": (E, "import `{path}` leaves the guideline folder", "imports stay inside `{root}`"),
    "SR210": (E, "cannot read the imported file `{path}`", "{detail}"),
    "SR211": (E, "imports form a cycle: {cycle}", "cycle"),
    "SR212": (E, "unknown record type `{name}`", "not a registered record type"),
    "SR213": (E, "the guideline has no `guideline` header",
              "expected `guideline <id> \"<title>\"`"),
    "SR214": (E, "a second `guideline` header", "only one per guideline"),
    "SR215": (W, "source `{name}` has no DOI, PMID or URL", "add `doi`, `pmid` or `url`"),
    "SR216": (E, "test `{name}` is declared twice", "second declaration"),
    "SR217": (W, "`{name}` is defined but never used", "unused"),
    "SR218": (E, "`{name}` is not available here", "{detail}"),
    "SR219": (E, "source `{name}` has no title", "add `title \"...\"`"),
    "SR220": (E, "`{name}` hides an outer name of the same spelling", "choose another name"),
    "SR221": (E, "invalid {what} `{value}`", "{detail}"),
    "SR222": (E, "unknown type `{name}` for field `{field}`", "not a type"),
    "SR223": (E, "{what} on field `{field}` of type `{type}`",
              "only numbers have units and ranges"),
    "SR224": (E, "record types hold each other in a cycle: {cycle}", "cycle starts here"),
    "SR225": (E, "the declaration of `{name}` differs from the Python class `{cls}`: {detail}",
              "differs"),
    # ---- SR3xx: types
    "SR301": (E, "cannot compare `{left}` with `{right}`", "expected `{left}`, found `{right}`"),
    "SR302": (E, "a condition must be true or false, found `{found}`", "not a condition"),
    "SR303": (E, "operator `{op}` does not apply to `{left}` and `{right}`", "type mismatch"),
    "SR304": (E, "`{name}` is not a value of `{enum}`", "unknown value"),
    "SR305": (E, "cannot iterate over `{found}`", "expected a list"),
    "SR306": (E, "`{found}` has no fields", "not a record"),
    "SR307": (E, "range `{low}..{high}` is empty (the bounds are reversed)", "reversed range"),
    "SR308": (E, "score `{name}`: {detail}", "overlap"),
    "SR309": (E, "score `{name}`: {detail}", "gap"),
    "SR310": (E, "pattern of type `{found}` cannot match an input of type `{expected}`",
              "mismatch"),
    "SR311": (E, "`{what}` needs a fact, found a literal", "always known"),
    "SR312": (E, "ordering `{op}` needs numbers, quantities, dates or levels; found `{found}`",
              "not ordered"),
    "SR313": (W, "this arm can never match: an earlier arm already covers it", "unreachable"),
    "SR314": (E, "`in` needs a list of values of the same type, found `{found}`", "mixed list"),
    "SR315": (E, "`{kind}` needs a condition", "add `: <condition>`"),
    # ---- SR4xx: consistency
    "SR401": (W, "`{code}` is both recommended and advised against", "{detail}"),
    "SR402": (E, "invariant names the code `{code}`, which no rule emits", "unknown code"),
    "SR403": (E, "code `{code}` is used with two actions: `{first}` and `{second}`",
              "conflicting action"),
    "SR404": (W, "test `{name}` names the code `{code}`, which no rule emits", "unknown code"),
    "SR410": (E, "`spinerules verify` cannot encode this: {detail}", "not encoded"),
    # ---- SR5xx: runtime and input records
    "SR501": (E, "the patient record is invalid", "{detail}"),
    "SR502": (E, "evaluation budget exhausted after {steps} steps", "stopped here"),
    "SR503": (E, "test `{name}` failed", "{detail}"),
    "SR504": (E, "cannot read the test patient `{path}`", "{detail}"),
    "SR505": (E, "evaluation failed: {detail}", "here"),
    # ---- SR6xx: case files (spinerules.testing.casefile)
    "SR601": (E, "unknown key `{key}` in {where}", "not a case-file key"),
    "SR602": (E, "`{key}` names the {what} `{name}`, which guideline `{guideline}` cannot give",
              "unknown {what}"),
    "SR603": (E, "`{key}` must be {expected}", "found {found}"),
    "SR604": (E, "not a readable case file", "{detail}"),
    # ---- SR7xx: population scale (spinerules.population: the SQL translation)
    "SR701": (E, "cannot translate {what} to SQL", "not translated"),
}


@attrs.frozen(kw_only=True)
class Diagnostic:
    """One located problem. ``hints`` say what to do; ``notes`` add context."""

    code: str
    severity: Severity
    message: str
    span: Span
    label: str = ""
    hints: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        """True for errors (which stop loading), false for warnings."""
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--format json`` shape of ``spinerules check``)."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.source,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "label": self.label,
            "hints": list(self.hints),
            "notes": list(self.notes),
        }


def make(
    code: str,
    span: Span,
    /,
    *,
    hints: Iterable[str] = (),
    notes: Iterable[str] = (),
    **args: Any,
) -> Diagnostic:
    """Build a diagnostic from the code table, filling the templates with ``args``."""
    severity, message, label = CODES[code]
    return Diagnostic(
        code=code,
        severity=severity,
        message=message.format(**args),
        label=label.format(**args),
        span=span,
        hints=tuple(hints),
        notes=tuple(notes),
    )


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt name, or None.

    Example:
        >>> suggest("neuro_exm", ["neuro", "symptoms"])
        'neuro'
    """
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """A one-element hint tuple ``("did you mean `x`?",)`` or ``()``."""
    best = suggest(name, candidates)
    return (f"did you mean `{best}`?",) if best else ()


MAX_DIAGNOSTICS = 100


def sort_and_cap(
    diagnostics: Iterable[Diagnostic], limit: int = MAX_DIAGNOSTICS
) -> list[Diagnostic]:
    """Sort by file and position, drop exact duplicates, keep at most ``limit``; when more
    are left out, one last ``SR120`` (at the first left out) says how many."""
    seen: set[tuple[str, str, int]] = set()
    out: list[Diagnostic] = []
    for d in sorted(diagnostics, key=lambda d: (d.span.source, d.span.start, d.code)):
        key = (d.code, d.span.source, d.span.start)
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    if len(out) <= limit:
        return out
    dropped = out[limit:]
    if len(dropped) == 1 and dropped[0].code == "SR120":
        return out  # the parser's own summary of a file: kept
    more = sum(1 for d in dropped if d.code != "SR120")
    last = make("SR120", dropped[0].span,
                detail=f"{more} more not shown (only the first {limit})")
    if not any(d.is_error for d in dropped):
        last = attrs.evolve(last, severity=Severity.WARNING)
    return [*out[:limit], last]


def render(diagnostic: Diagnostic, source: Source | None) -> str:
    """Render one diagnostic as text with the source line and a caret underline."""
    d = diagnostic
    span = d.span
    # rustc's layout: the arrow and the notes line up with the gutter's bar
    shown_line = source is not None and span.line >= 1
    gutter = " " * len(str(span.line)) if shown_line else " "
    lines = [f"{d.severity.value}[{d.code}]: {d.message}", f"{gutter}--> {span.location()}"]
    if source is not None and shown_line:
        text = source.line_text(span.line).replace("\t", " ")
        if span.end_line == span.line:
            width = max(1, span.end_column - span.column)
        else:
            width = max(1, len(text) - span.column + 1)
        lines.append(f"{gutter} |")
        lines.append(f"{span.line} | {text}".rstrip())
        caret = " " * (span.column - 1) + "^" * width
        lines.append(f"{gutter} | {caret} {d.label}".rstrip())
        lines.append(f"{gutter} |")
    elif d.label:  # no source line to put the label under: keep what it says
        lines.append(f"{gutter} = note: {d.label}")
    for hint in d.hints:
        lines.append(f"{gutter} = hint: {hint}")
    for note in d.notes:
        lines.append(f"{gutter} = note: {note}")
    return "\n".join(lines)


def render_all(diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> str:
    """Render many diagnostics, separated by blank lines, with a closing count."""
    parts = [render(d, sources.get(d.span.source)) for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    parts.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n\n".join(parts)


class GuidelineError(Exception):
    """Raised by ``load()`` when a guideline has errors; carries every diagnostic."""

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> None:
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources)
        super().__init__(render_all(self.diagnostics, self.sources))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its diagnostics and sources, so that it crosses a process pool."""
        return (type(self), (self.diagnostics, self.sources))
