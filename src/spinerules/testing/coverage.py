"""Rule and condition coverage of a guideline by a set of evaluations.

- **Rule coverage**: how often each rule fired, did not fire, or was undetermined; a rule is
  covered when it was seen both firing and not firing. A score is covered when every arm
  or band that classifies was taken at least once; a score none of whose arms classifies
  (its bands written as rules, as for a level-scoped score) when its value was computed.
- **Condition coverage (MC/DC, unique cause)**: an atomic condition of a rule is covered
  when two evaluations of that rule differ in their outcome (fired / not fired), differ in
  that condition (true / false), and agree on every other condition of the rule.

Example:
    >>> import datetime, spinerules
    >>> g = spinerules.load("vcf")
    >>> r = g.evaluate({"age": 70}, as_of=datetime.date(2026, 2, 18), trace=True)
    >>> report = measure(g, [r])
    >>> 0 <= report.rule_percent <= 100
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from spinerules.lang import nodes as n

if TYPE_CHECKING:
    from spinerules.api import Guideline
    from spinerules.engine.result import Result


@attrs.frozen(kw_only=True)
class ConditionCoverage:
    text: str
    covered: bool


@attrs.frozen(kw_only=True)
class RuleCoverage:
    rule: str
    location: str
    fired: int
    not_fired: int
    undetermined: int
    conditions: tuple[ConditionCoverage, ...] = ()
    arms: tuple[tuple[str, bool], ...] = ()  # scores: (classify code, taken)
    value_only: bool = False  # a score none of whose arms or bands classifies

    @property
    def covered(self) -> bool:
        if self.arms:
            return all(taken for _, taken in self.arms)
        if self.value_only:
            return self.fired > 0  # its value was computed in some evaluation
        return self.fired > 0 and self.not_fired > 0

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "location": self.location, "fired": self.fired,
                "not_fired": self.not_fired, "undetermined": self.undetermined,
                "covered": self.covered,
                "conditions": [{"condition": c.text, "covered": c.covered}
                               for c in self.conditions],
                "arms": [{"code": c, "taken": t} for c, t in self.arms]}


@attrs.frozen(kw_only=True)
class CoverageReport:
    guideline: str
    evaluations: int
    rules: tuple[RuleCoverage, ...]

    @property
    def rule_percent(self) -> float:
        if not self.rules:
            return 100.0
        return 100.0 * sum(r.covered for r in self.rules) / len(self.rules)

    @property
    def condition_percent(self) -> float:
        conds = [c for r in self.rules for c in r.conditions]
        if not conds:
            return 100.0
        return 100.0 * sum(c.covered for c in conds) / len(conds)

    def to_json(self) -> dict[str, Any]:
        return {"guideline": self.guideline, "evaluations": self.evaluations,
                "rule_coverage": round(self.rule_percent, 2),
                "condition_coverage": round(self.condition_percent, 2),
                "rules": [r.to_json() for r in self.rules]}

    def render(self) -> str:
        lines = [f"coverage of {self.guideline} over {self.evaluations} evaluation(s): "
                 f"rules {self.rule_percent:.1f}%, conditions (MC/DC) "
                 f"{self.condition_percent:.1f}%"]
        for r in self.rules:
            if not r.covered:
                if r.arms:
                    missing = ", ".join(c for c, t in r.arms if not t)
                    lines.append(f"  {r.location}  score {r.rule}: arms never taken: {missing}")
                else:
                    lines.append(f"  {r.location}  rule {r.rule}: fired {r.fired}, not fired "
                                 f"{r.not_fired}, undetermined {r.undetermined}")
            for c in r.conditions:
                if not c.covered:
                    lines.append(f"  {r.location}  rule {r.rule}: condition not shown to "
                                 f"matter on its own: {c.text}")
        return "\n".join(lines)


def _rule_atoms(rule: n.Rule, guideline: Guideline) -> list[str]:
    """The rule's own atomic conditions, as the trace names them."""
    texts: list[str] = []

    def walk(e: n.Expr, prefix: str) -> None:
        if isinstance(e, n.BoolOp):
            for o in e.operands:
                walk(o, prefix)
        elif isinstance(e, n.Not):
            walk(e.operand, prefix)
        else:
            src = guideline.program.texts.get(e.span.source)
            text = prefix + (" ".join(src.slice(e.span).split()) if src else "?")
            if text not in texts:
                texts.append(text)

    if rule.when is not None:
        walk(rule.when, "")
    for u in rule.unless:
        walk(u, "unless ")
    return texts


def measure(guideline: Guideline, results: Iterable[Result]) -> CoverageReport:
    """Coverage of ``guideline`` by traced results (``evaluate(..., trace=True)``)."""
    results = list(results)
    outcomes: dict[str, list[Any]] = {}
    taken: dict[str, set[str]] = {}
    for r in results:
        if r.trace is None:
            raise ValueError("coverage needs results evaluated with trace=True")
        for o in r.trace.outcomes:
            outcomes.setdefault(o.rule, []).append(o)
        for rec in r.recommendations:
            taken.setdefault(rec.rule, set()).add(rec.code)
    rows: list[RuleCoverage] = []

    def visit(items: Iterable[n.Item]) -> None:
        for item in items:
            if isinstance(item, n.For):
                visit(item.items)
            elif isinstance(item, n.Rule):
                rows.append(_rule_row(item, outcomes.get(item.rule_id, []),
                                      _rule_atoms(item, guideline)))
            elif isinstance(item, n.Score):
                seen = outcomes.get(item.name, [])
                codes = [a.action.code for a in (*item.arms, *item.bands)
                         if a.action is not None]
                if not codes:
                    # Only a value (its bands, if any, are rules of their own): counted as
                    # "fired" where the value was computed, "not fired" where it was not.
                    computed = sum(any(a[0] == item.name for a in o.atoms) for o in seen)
                    rows.append(RuleCoverage(
                        rule=item.name, location=item.span.location(), fired=computed,
                        not_fired=len(seen) - computed, undetermined=0, value_only=True))
                    continue
                rows.append(RuleCoverage(
                    rule=item.name, location=item.span.location(),
                    fired=sum(o.status == "fire" for o in seen),
                    not_fired=sum(o.status == "skip" for o in seen),
                    undetermined=sum(o.status == "unknown" for o in seen),
                    arms=tuple((c, c in taken.get(item.name, set()))
                               for c in dict.fromkeys(codes))))

    visit(guideline.program.items())
    return CoverageReport(guideline=guideline.id, evaluations=len(results), rules=tuple(rows))


def _rule_row(rule: n.Rule, seen: list[Any], texts: list[str]) -> RuleCoverage:
    decided = [o for o in seen if o.status in ("fire", "skip")]
    conditions: list[ConditionCoverage] = []
    vectors = []
    for o in decided:
        values = {t: v for t, v, _need in o.atoms}
        vectors.append((o.status, tuple(values.get(t) for t in texts)))
    for i, text in enumerate(texts):
        covered = False
        by_rest: dict[tuple[Any, ...], set[tuple[str, Any]]] = {}
        for status, vec in vectors:
            if vec[i] not in (True, False):
                continue
            rest = vec[:i] + vec[i + 1:]
            by_rest.setdefault(rest, set()).add((status, vec[i]))
        for pairs in by_rest.values():
            statuses = {s for s, _ in pairs}
            truths = {v for _, v in pairs}
            if len(statuses) == 2 and len(truths) == 2:
                covered = True
                break
        conditions.append(ConditionCoverage(text=text, covered=covered))
    return RuleCoverage(
        rule=rule.rule_id, location=rule.span.location(),
        fired=sum(o.status == "fire" for o in seen),
        not_fired=sum(o.status == "skip" for o in seen),
        undetermined=sum(o.status == "unknown" for o in seen),
        conditions=tuple(conditions))
