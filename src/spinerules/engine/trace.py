"""Traces: what each rule did in one evaluation, and why / why-not explanations.

A trace is data (``RuleOutcome`` per rule and loop iteration); explanations and the
aligned table are filters over it. Tracing is opt-in: without ``trace=True`` no outcome
is recorded and nothing extra is computed for rules that do not fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs


@attrs.frozen(kw_only=True)
class Because:
    """One fact or condition behind a recommendation, with its value."""

    expression: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "value": self.value}


class Deferred:
    """A rule's reasons, worked out when first read (``RuleOutcome.reasons``; its
    ``details`` likewise).

    The reasons of every rule of a trace are lines of text, often several defines deep;
    most callers read those of one or two rules (``explain``), or none (``to_json``). So
    the evaluation keeps what makes them (``why``, and the evaluation's environment, whose
    values are all computed by then) instead of the lines. The lines are the same whenever
    they are made: the record, ``as_of`` and every value they show are fixed when the
    evaluation returns. A problem in making them (an evaluation error in a part no
    condition needed) becomes a line that says so. Pickled, it is the lines.
    """

    __slots__ = ("_args", "_why")

    def __init__(self, why: Callable[[Any], Iterable[str]], args: Any) -> None:
        self._why = why
        self._args = args

    def __call__(self) -> tuple[str, ...]:
        return tuple(self._why(self._args))

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self(),))

    def details(self) -> tuple[str, ...]:
        """Its lines (as ``RuleOutcome.details`` or ``reasons``: see ``Later``)."""
        return self()

    def reasons(self) -> tuple[str, ...]:
        return self()


class Later(Protocol):
    """Both deferred fields of a rule's outcome, held once (``RuleOutcome``): its details
    and its reasons, each worked out when first read. A :class:`Deferred` is either."""

    def details(self) -> tuple[str, ...]: ...

    def reasons(self) -> tuple[str, ...]: ...


def _details_of(value: tuple[str, ...] | Later) -> tuple[str, ...]:
    return value if type(value) is tuple else value.details()  # type: ignore[union-attr]


def _reasons_of(value: tuple[str, ...] | Later) -> tuple[str, ...]:
    return value if type(value) is tuple else value.reasons()  # type: ignore[union-attr]


@attrs.frozen(kw_only=True)
class RuleOutcome:
    """One rule (or score) in one loop iteration: ``fire``, ``skip`` or ``unknown``.

    ``reasons`` (the deciding conditions, indented under defines) and ``details`` may be
    given as a :class:`Deferred`, or both as one :class:`Later`: worked out on first read,
    then kept. Compared, printed and pickled, they are their lines."""

    rule: str
    location: str
    status: str
    codes: tuple[str, ...]
    facts: tuple[str, ...]
    atoms: tuple[tuple[str, Any, bool], ...]  # (condition, value, value it needs)
    binding: tuple[Because, ...] = ()
    # per atom: "x is 6 weeks; needs >= 12 weeks" or "" (``details``)
    given_details: tuple[str, ...] | Later = attrs.field(
        default=(), alias="details", eq=_details_of, repr=lambda r: repr(_details_of(r)))
    given_reasons: tuple[str, ...] | Later = attrs.field(
        default=(), alias="reasons", eq=_reasons_of, repr=lambda r: repr(_reasons_of(r)))

    @property
    def details(self) -> tuple[str, ...]:
        """Per atom, the comparison behind its value ("x is 6 weeks; needs >= 12 weeks"),
        or "" (``explain``)."""
        return self._lines("given_details")

    @property
    def reasons(self) -> tuple[str, ...]:
        """The deciding conditions, indented under defines (``explain``)."""
        return self._lines("given_reasons")

    def _lines(self, field: str) -> tuple[str, ...]:
        """A field given as lines or deferred: its lines, made once and kept."""
        given = getattr(self, field)
        if type(given) is tuple:
            return given
        lines: tuple[str, ...] = given.details() if field == "given_details" \
            else given.reasons()
        object.__setattr__(self, field, lines)
        return lines

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and copied) with its lines."""
        return (rule_outcome, (self.rule, self.location, self.status, self.codes, self.facts,
                               self.atoms, self.binding, self.details, self.reasons))

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "location": self.location, "status": self.status,
                "codes": list(self.codes), "facts": list(self.facts),
                "conditions": [{"expression": t, "value": v, "needs": p}
                               for t, v, p in self.atoms],
                "binding": [b.to_json() for b in self.binding]}


_new = object.__new__
_SET_EXPRESSION = vars(Because)["expression"].__set__  # (the slots' descriptors)
_SET_VALUE = vars(Because)["value"].__set__


def because(expression: str, value: Any) -> Because:
    """``Because(expression=..., value=...)``, made by setting its slots (see
    ``rule_outcome``)."""
    out = _new(Because)
    _SET_EXPRESSION(out, expression)
    _SET_VALUE(out, value)
    return out


_OUTCOME_FIELDS = ("rule", "location", "status", "codes", "facts", "atoms", "binding",
                   "given_details", "given_reasons")
_SET_OUTCOME = tuple(getattr(RuleOutcome, f).__set__ for f in _OUTCOME_FIELDS)


def rule_outcome(rule: str, location: str, status: str, codes: tuple[str, ...],
                 facts: tuple[str, ...], atoms: tuple[tuple[str, Any, bool], ...],
                 binding: tuple[Because, ...], details: tuple[str, ...] | Later,
                 reasons: tuple[str, ...] | Later) -> RuleOutcome:
    """``RuleOutcome(...)``, the same object, made by setting its slots directly (in half
    the time of attrs' frozen ``__init__``: a trace makes one per rule and iteration)."""
    out = _new(RuleOutcome)
    s0, s1, s2, s3, s4, s5, s6, s7, s8 = _SET_OUTCOME
    s0(out, rule)
    s1(out, location)
    s2(out, status)
    s3(out, codes)
    s4(out, facts)
    s5(out, atoms)
    s6(out, binding)
    s7(out, details)
    s8(out, reasons)
    return out


@attrs.frozen
class Trace:
    """All outcomes of one evaluation, in evaluation order."""

    outcomes: tuple[RuleOutcome, ...]

    def fired(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.status == "fire"]

    def unknown(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.status == "unknown"]

    def why(self, rule_id: str) -> list[RuleOutcome]:
        """The outcomes of one rule (one per loop iteration)."""
        return [o for o in self.outcomes if o.rule == rule_id]

    def render(self) -> str:
        """An aligned table: location, rule, status, and what decided it."""
        rows = []
        for o in self.outcomes:
            if o.status == "fire":
                what = "emits " + ", ".join(o.codes)
            elif o.status == "unknown":
                what = "needs " + ", ".join(o.facts)
            else:
                failed = [t for t, v, need in o.atoms if _truth(v) is not need]
                what = "false: " + "; ".join(failed[:3]) if failed else "not applicable"
            rows.append((o.location, o.rule, o.status, what))
        w0 = max((len(r[0]) for r in rows), default=0)
        w1 = max((len(r[1]) for r in rows), default=0)
        return "\n".join(f"{a:<{w0}}  rule {b:<{w1}}  {c:<7}  {d}" for a, b, c, d in rows)


def _truth(v: Any) -> bool | None:
    if v is True or v is False:
        return v
    return None


def _value_text(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def explain_code(trace: Trace, code: str) -> str:
    """Why ``code`` was emitted, or why not: the conditions with their values."""
    lines: list[str] = []
    relevant = [o for o in trace.outcomes if code in o.codes]
    if not relevant:
        return f"No rule of this guideline emits `{code}`."
    fired = [o for o in relevant if o.status == "fire"]
    if fired:
        lines.append(f"`{code}` was emitted.")
    else:
        lines.append(f"`{code}` was not emitted.")
    for o in relevant:
        where = " ".join(f"{b.expression} = {b.value}" for b in o.binding)
        head = f"rule {o.rule} ({o.location}){' for ' + where if where else ''}: "
        reasons = list(o.reasons) or [
            f"- {t}: {_value_text(v)}" for t, v, _need in o.atoms if not t.startswith("via ")]
        if o.status == "fire":
            lines.append(head + ("fired, because" if reasons
                                 else "fired: it has no condition (it always applies)"))
        elif o.status == "unknown":
            lines.append(head + "undetermined; it would be decided by " + ", ".join(o.facts))
        else:
            lines.append(head + ("did not fire, because" if reasons
                                 else "did not fire (no condition of it was reached)"))
        lines.extend(f"  {line}" for line in reasons)
        if o.status == "skip":
            details = o.details or ("",) * len(o.atoms)
            failing = [(t, d) for (t, v, need), d in zip(o.atoms, details, strict=False)
                       if not t.startswith("via ") and _truth(v) is not None
                       and _truth(v) is not need]
            if len(failing) == 1:
                text, detail = failing[0]
                lines.append(f"  smallest change: {detail or text + ' the other way'}")
    return "\n".join(lines)
