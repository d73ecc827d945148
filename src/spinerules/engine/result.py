"""Results: recommendations with reasons and sources, missing facts, scores, conflicts.

``Result.to_json()`` is the contract of ``docs/integrators/results.md`` (``spinerules.result/1``,
published as ``spinerules/engine/result.schema.json``); ``render_text`` is the clinician's view.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from spinerules.engine.trace import Because, Trace, explain_code

SCHEMA_ID = "spinerules.result/1"
URGENCY_ORDER = {"critical": 0, "urgent": 1, "soon": 2, "routine": 3, None: 4}
URGENCY_TITLE = {"critical": "Critical: act now", "urgent": "Urgent", "soon": "Soon",
                 "routine": "Routine care", None: "Other"}


@attrs.frozen(kw_only=True)
class Citation:
    """A published source as cited by one action, with the cited locator."""

    key: str
    title: str | None
    year: int | None = None
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    locator: str | None = None
    evidence: str | None = None
    unverified: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"key": self.key, "title": self.title, "year": self.year, "doi": self.doi,
               "pmid": self.pmid, "url": self.url, "locator": self.locator,
               "evidence": self.evidence}
        if self.unverified:
            out["unverified"] = self.unverified
        return out

    def reference(self) -> str:
        """One line for a reference list."""
        ident = (f"doi:{self.doi}" if self.doi else f"PMID {self.pmid}" if self.pmid
                 else self.url or "")
        parts = [p for p in (self.title, str(self.year) if self.year else None, ident) if p]
        text = ". ".join(parts)
        if self.locator:
            text += f" ({self.locator})"
        if self.unverified:
            text += " [identifier unverified]"
        return text


@attrs.frozen(kw_only=True)
class Recommendation:
    code: str
    action: str
    strength: str | None
    urgency: str | None
    text: str | None
    rule: str
    location: str
    citations: tuple[Citation, ...]
    because: tuple[Because, ...]
    against: tuple[Citation, ...] = ()
    #: facts not recorded that the rule fired without: it read their absence as an
    #: answer (`known x` false), and with any of them recorded it might not fire
    pending: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code, "action": self.action, "strength": self.strength,
            "urgency": self.urgency, "text": self.text, "rule": self.rule,
            "location": self.location, "citations": [c.to_json() for c in self.citations],
            "because": [b.to_json() for b in self.because]}
        if self.pending:  # (only then: results without it are as before)
            out["pending"] = list(self.pending)
        return out


#: the code of the engine's own request (``evaluate._Run.ask``): facts that rules need
#: and that no request of the guideline asks for (docs/integrators/results.md)
ASK_CODE = "record_missing_facts"
ASK_TEXT = ("Record these facts: the rules listed as waiting cannot decide without them, "
            "or decided only by taking a fact that is not recorded as absent.")


@attrs.frozen(kw_only=True)
class MissingData:
    """A fact to ask for: the request's code and text, the facts, the rules waiting."""

    code: str
    text: str | None
    facts: tuple[str, ...]
    waiting: tuple[str, ...]
    rule: str
    location: str
    citations: tuple[Citation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "facts": list(self.facts),
                "waiting": list(self.waiting), "rule": self.rule, "location": self.location,
                "citations": [c.to_json() for c in self.citations]}


@attrs.frozen(kw_only=True)
class Undetermined:
    """A rule that neither fired nor failed: the facts that would decide it."""

    rule: str
    location: str
    facts: tuple[str, ...]
    codes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "location": self.location, "facts": list(self.facts),
                "codes": list(self.codes)}


@attrs.frozen(kw_only=True)
class ScoreResult:
    """A score's value, or the range of possible totals and the facts that would narrow it."""

    name: str
    value: float | None
    low: float
    high: float
    facts: tuple[str, ...] = ()
    note: str | None = None

    @property
    def determined(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        if self.value is not None:
            return {"value": _num(self.value)}
        out: dict[str, Any] = {"min": _num(self.low), "max": _num(self.high),
                               "facts": list(self.facts)}
        if self.note:
            out["note"] = self.note
        return out


@attrs.frozen(kw_only=True)
class Conflict:
    """A contradiction, a broken invariant, or sources that disagree."""

    kind: str  # "contradiction" | "invariant" | "sources_disagree"
    code: str | None
    detail: str
    rules: tuple[str, ...] = ()
    supporting: tuple[Citation, ...] = ()
    opposing: tuple[Citation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "code": self.code, "detail": self.detail,
                               "rules": list(self.rules)}
        if self.supporting or self.opposing:
            out["supporting"] = [c.to_json() for c in self.supporting]
            out["opposing"] = [c.to_json() for c in self.opposing]
        return out


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


@attrs.frozen(kw_only=True)
class Result:
    """The outcome of one evaluation."""

    guideline: dict[str, Any]
    patient: str | None
    as_of: str
    recommendations: tuple[Recommendation, ...]
    missing: tuple[MissingData, ...]
    scores: dict[str, ScoreResult]
    conflicts: tuple[Conflict, ...]
    undetermined: tuple[Undetermined, ...]
    trace: Trace | None = attrs.field(default=None, eq=False, repr=False)
    provenance: dict[str, Any] | None = attrs.field(default=None, repr=False)
    """When the patient came from FHIR: the ``provenance`` object of the result schema (where
    each fact came from, disagreeing resources, unmapped content); ``None`` otherwise."""
    #: (``Result.later``) how to build the fields of ``_LATER`` when first read, and the
    #: codes without them; None once built (and for a result made whole)
    _later: Later | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def later(cls, patient: str | None, later: Later) -> Result:
        """A result whose other fields (its guideline, date, recommendations, missing
        facts, scores, conflicts and undetermined rules) are built by ``later.build`` when
        one of them is first read (equality, ``repr``, ``to_json`` and pickling read them);
        ``codes()`` before that is ``later.codes()``. The evaluation decided everything
        before: building only makes the objects."""
        self = object.__new__(cls)
        set_patient, set_trace, set_provenance, set_later = _SET_LATER
        set_patient(self, patient)  # (its slots, set directly: one per evaluation)
        set_trace(self, None)
        set_provenance(self, None)
        set_later(self, later)
        return self

    if not TYPE_CHECKING:  # (for the type checker, every field is always there)
        def __getattr__(self, name: str) -> Any:
            """A field of ``_LATER`` not built yet: build them all (``later``)."""
            if name in _LATER:
                later = object.__getattribute__(self, "_later")
                if later is not None:
                    for key, value in later.build().items():
                        object.__setattr__(self, key, value)
                    object.__setattr__(self, "_later", None)
                # (built here, or by another thread since this one looked: the fields are
                # set before ``_later`` is cleared)
                return object.__getattribute__(self, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def codes(self) -> set[str]:
        """Every code recommended, classified, warned or advised against."""
        later = self._later
        if later is not None:
            return later.codes()
        return {r.code for r in self.recommendations}

    def missing_codes(self) -> set[str]:
        return {m.code for m in self.missing}

    def get(self, code: str) -> list[Recommendation]:
        """The recommendations with one code."""
        return [r for r in self.recommendations if r.code == code]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "guideline": self.guideline,
            "patient": self.patient,
            "as_of": self.as_of,
            "recommendations": [r.to_json() for r in self.recommendations],
            "missing": [m.to_json() for m in self.missing],
            "scores": {k: v.to_json() for k, v in self.scores.items()},
            "conflicts": [c.to_json() for c in self.conflicts],
            "undetermined": [u.to_json() for u in self.undetermined],
            **({} if self.provenance is None else {"provenance": self.provenance}),
        }

    def dumps(self) -> str:
        """Canonical JSON (sorted keys, fixed separators): byte-identical for equal runs.

        Always strict JSON: an infinite or NaN number (an extreme fact, say) is written as
        the string ``"Infinity"``, ``"-Infinity"`` or ``"NaN"``, never as a bare token.
        """
        data = self.to_json()
        try:
            return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False,
                              allow_nan=False)
        except ValueError:
            return json.dumps(_finite(data), indent=2, sort_keys=True, ensure_ascii=False,
                              allow_nan=False)

    def explain(self, code: str) -> str:
        """Why (or why not) ``code``: needs a result made with ``trace=True``."""
        if self.trace is None:
            raise ValueError("explain() needs a result evaluated with trace=True")
        return explain_code(self.trace, code)


class Later(Protocol):
    """What ``Result.later`` keeps until its fields are built."""

    def build(self) -> dict[str, Any]:
        """The fields of ``_LATER``, made."""

    def codes(self) -> set[str]:
        """The result's codes (a new set), without building its fields."""


_REC_FIELDS = ("code", "action", "strength", "urgency", "text", "rule", "location",
               "citations", "because", "against", "pending")
_SET_REC = tuple(vars(Recommendation)[name].__set__ for name in _REC_FIELDS)


def recommendation(code: str, action: str, strength: str | None, urgency: str | None,
                   text: str | None, rule: str, location: str,
                   citations: tuple[Citation, ...], because: tuple[Because, ...],
                   against: tuple[Citation, ...], pending: tuple[str, ...]) -> Recommendation:
    """``Recommendation(...)``, the same object, made by setting its slots (in half the
    time of attrs' frozen ``__init__``: a result makes one per code emitted)."""
    out = object.__new__(Recommendation)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10 = _SET_REC
    s0(out, code)
    s1(out, action)
    s2(out, strength)
    s3(out, urgency)
    s4(out, text)
    s5(out, rule)
    s6(out, location)
    s7(out, citations)
    s8(out, because)
    s9(out, against)
    s10(out, pending)
    return out


#: the slots ``Result.later`` sets (the others are made when first read)
_SET_LATER = tuple(vars(Result)[name].__set__
                   for name in ("patient", "trace", "provenance", "_later"))

_LATER = frozenset(("guideline", "as_of", "recommendations", "missing", "scores", "conflicts",
                    "undetermined"))


def _finite(x: Any) -> Any:
    """``x`` with every non-finite float replaced by its JavaScript spelling, as a string."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def render_text(result: Result) -> str:
    """The plan for a clinician (``spinerules.engine.report.render_text`` without a
    glossary: facts and rules named by their paths and ids, not their docs)."""
    from spinerules.engine.report import render_text as render

    return render(result)


def result_schema() -> dict[str, Any]:
    """The JSON Schema of ``Result.to_json()`` (shipped as ``result.schema.json``)."""
    from importlib.resources import files

    text = files("spinerules.engine").joinpath("result.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
