"""The questions ``spinerules verify`` and ``spinerules diff`` ask the solver, and the
witnesses that the evaluator confirms.

Every satisfiable question gives a witness: a minimal patient record (JSON) and an
``as_of``; the Python evaluator is then run on it, and a witness whose result does not
show what the solver said is an internal error, reported as such (never dropped). An
unsatisfiable question is a proof, for every record whose lists hold at most
``max_list`` elements.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
import z3  # type: ignore[import-untyped]

from spinerules.checker.check import DefineRef, FieldRef, child_nodes
from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.verify.encode import (
    FALSE,
    POSITIVE,
    TRUE,
    Encoder,
    RuleInstance,
    SymRecord,
    Unsupported,
    V,
    rule_parts,
    tri,
)

if TYPE_CHECKING:
    from spinerules.api import Guideline
    from spinerules.engine.result import Result

#: seconds the solver may spend minimising one witness (then the first model found is kept)
MINIMISE_MS = 4000


@attrs.frozen(kw_only=True)
class Finding:
    """One result of ``verify`` or ``diff``.

    ``kind``: ``invariant`` (a counterexample), ``exclusive`` (a `never` pair that fires
    together: the same), ``contradiction``, ``dead_rule``, ``never_decided``,
    ``never_true`` / ``never_false`` (a condition of a rule), ``subsumed``, ``vacuous_all``,
    ``false_test`` (an `== false` test whose unknown leaves the rule undecided where
    `false` would fire it), ``changed`` (diff). ``proof``: no record exists (the finding is
    the proof itself: no witness); else ``witness`` (and ``other`` for a second record)
    with ``confirmed``: whether the evaluator agreed.
    """

    kind: str
    subject: str
    location: str
    message: str
    severity: str = "warning"
    proof: bool = False
    witness: dict[str, Any] | None = None
    other: dict[str, Any] | None = None
    as_of: str | None = None
    confirmed: bool | None = None
    outcomes: dict[str, str] | None = None  # diff: {"old": ..., "new": ...}
    problem: str = ""  # what the evaluator showed instead, when not confirmed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "subject": self.subject,
                               "location": self.location, "message": self.message,
                               "severity": self.severity, "proof": self.proof}
        if self.witness is not None:
            out.update(witness=self.witness, as_of=self.as_of, confirmed=self.confirmed)
        if self.other is not None:
            out["other"] = self.other
        if self.outcomes is not None:
            out["outcomes"] = self.outcomes
        if self.problem:
            out["problem"] = self.problem
        return out


@attrs.frozen(kw_only=True)
class Report:
    """What ``verify`` found on one guideline (or ``diff`` between two)."""

    guideline: str
    max_list: int
    proved: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    diagnostics: tuple[dg.Diagnostic, ...] = ()
    queries: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    texts: dict[str, Any] = attrs.field(factory=dict, repr=False)  # sources, for carets

    @property
    def internal_errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.witness is not None and not f.confirmed)

    def to_json(self) -> dict[str, Any]:
        return {"guideline": self.guideline, "max_list": self.max_list,
                "proved": list(self.proved),
                "findings": [f.to_json() for f in self.findings],
                "internal_errors": len(self.internal_errors),
                "diagnostics": [{"code": d.code, "message": d.message,
                                 "location": d.span.location()} for d in self.diagnostics],
                "queries": self.queries, "seconds": round(self.seconds, 2),
                "notes": list(self.notes)}


class Solver:
    """One encoding, asked many questions (incrementally)."""

    def __init__(self, base: list[Any], enc: Encoder) -> None:
        self.enc = enc
        self.base = base
        self.solver = z3.Solver()
        self.solver.add(*base)
        self.queries = 0

    def sat(self, *goal: Any) -> bool:
        self.queries += 1
        self.solver.push()
        self.solver.add(*goal)
        found = self.solver.check() == z3.sat
        self.solver.pop()
        return bool(found)

    def model(self, *goal: Any, minimal: bool = True) -> z3.ModelRef | None:
        """A model of ``goal``, with as few known facts (and list elements) as the solver
        finds within ``MINIMISE_MS``."""
        self.queries += 1
        self.solver.push()
        self.solver.add(*goal)
        if self.solver.check() != z3.sat:
            self.solver.pop()
            return None
        first = self.solver.model()
        self.solver.pop()
        if not minimal:
            return first
        opt = z3.Optimize()
        opt.set("timeout", MINIMISE_MS)
        opt.add(*self.base, *goal)
        cost = [z3.If(k, 1, 0) for k in _knowns(self.enc.patient)]
        cost += [lst.length for lst in _lists(self.enc.patient)]
        opt.minimize(z3.Sum(*cost) if cost else z3.IntVal(0))
        if opt.check() == z3.sat:
            return opt.model()
        return first


def _knowns(rec: SymRecord) -> Iterator[Any]:
    for leaf in rec.leaves.values():
        yield leaf.known
    for sub in rec.subs.values():
        yield sub.present
        yield from _knowns(sub)
    for lst in rec.lists.values():
        yield lst.known
        for item in lst.items:
            if isinstance(item.val, SymRecord):
                yield from _knowns(item.val)


def _lists(rec: SymRecord) -> Iterator[Any]:
    for sub in rec.subs.values():
        yield from _lists(sub)
    for lst in rec.lists.values():
        yield lst
        for item in lst.items:
            if isinstance(item.val, SymRecord):
                yield from _lists(item.val)


def _unsupported(exc: Unsupported) -> dg.Diagnostic:
    return dg.make("SR410", exc.node.span, detail=str(exc),
                   hints=("rewrite the expression, or leave this guideline to the property "
                          "tests: nothing was proved",))


# ---------------------------------------------------------------------- confirming


def _rules_out(result: Result) -> set[str]:
    """The rules that fired (from the trace: merged requests keep one rule each)."""
    if result.trace is not None:
        return {o.rule for o in result.trace.outcomes if o.status == "fire"}
    return {r.rule for r in result.recommendations} | {m.rule for m in result.missing}


def _rules_undetermined(result: Result) -> set[str]:
    if result.trace is not None:
        return {o.rule for o in result.trace.outcomes if o.status == "unknown"}
    return {u.rule for u in result.undetermined}


def _outputs(result: Result) -> set[str]:
    return result.codes() | result.missing_codes()


class _Witnesses:
    def __init__(self, g: Guideline, solver: Solver) -> None:
        self.g = g
        self.solver = solver

    def find(self, goal: list[Any], check: Callable[[Result], str | None], *,
             enc: Encoder | None = None) -> tuple[dict[str, Any], str, bool, str] | None:
        """(witness, as_of, confirmed, problem) for ``goal``, or None when unsatisfiable."""
        m = self.solver.model(*goal)
        if m is None:
            return None
        record, as_of = (enc or self.solver.enc).witness(m)
        problem = self.confirm(record, as_of, check)
        return record, as_of.isoformat(), not problem, problem

    def confirm(self, record: dict[str, Any], as_of: datetime.date,
                check: Callable[[Result], str | None], g: Guideline | None = None) -> str:
        try:
            result = (g or self.g).evaluate(record, as_of=as_of, trace=True)
        except Exception as exc:  # an internal error: the evaluator refused the witness
            return f"the evaluator refused the witness: {exc}"
        return check(result) or ""


def _walk_rules(items: Any) -> Iterator[n.Rule]:
    for item in items:
        if isinstance(item, n.Rule):
            yield item
        elif isinstance(item, n.For):
            yield from _walk_rules(item.items)


# ---------------------------------------------------------------------- verify


CHECKS = ("invariants", "conflicts", "rules", "lints")


def verify(g: Guideline, *, max_list: int = 3, lints: bool = True,
           checks: tuple[str, ...] = CHECKS) -> Report:
    """The questions of ``spinerules verify`` on one loaded guideline: ``checks`` chooses
    among invariants, conflicts (contradictions), rules (dead, never decided) and lints
    (``lints=False`` leaves the lints out too)."""
    start = time.perf_counter()
    try:
        enc = Encoder(g.checked, max_list=max_list).encode()
    except Unsupported as exc:
        return Report(guideline=g.id, max_list=max_list, diagnostics=(_unsupported(exc),),
                      seconds=time.perf_counter() - start, texts=g.checked.program.texts)
    solver = Solver(enc.base, enc)
    w = _Witnesses(g, solver)
    findings: list[Finding] = []
    proved: list[str] = []

    # invariants (`never a and b` is the language's declaration of an exclusive pair)
    for inv, when in (enc.invariants if "invariants" in checks else []):
        if inv.mode == "never":
            goal = [z3.And(*[enc.fired(c) for c in inv.codes])]
            if when is not None:
                goal.append(when.t)
        else:
            assert when is not None
            goal = [when.t, z3.Not(z3.Or(*[enc.fired(c) for c in inv.codes]))]
        name = inv.name

        def broken(r: Result, name: str = name) -> str | None:
            if any(c.kind == "invariant" and name in c.detail for c in r.conflicts):
                return None
            return f"the evaluator reports no broken invariant `{name}`"
        found = w.find(goal, broken)
        if found is None:
            proved.append(name)
            continue
        record, as_of, ok, problem = found
        what = " and ".join(inv.codes) if inv.mode == "never" else \
            f"none of {', '.join(inv.codes)}"
        findings.append(Finding(
            kind="invariant", subject=name, location=inv.span.location(), severity="error",
            message=f"invariant `{name}` is broken ({inv.mode}: {what})",
            witness=record, as_of=as_of, confirmed=ok, problem=problem))

    # a code both recommended (or considered) and advised against
    for code in (enc.codes() if "conflicts" in checks else []):
        pos, neg = enc.fired_kind(code, POSITIVE), enc.fired_kind(code, ("advise_against",))
        if z3.is_false(z3.simplify(pos)) or z3.is_false(z3.simplify(neg)):
            continue

        def contradiction(r: Result, code: str = code) -> str | None:
            ok = any(c.kind == "contradiction" and c.code == code for c in r.conflicts)
            return None if ok else f"the evaluator reports no contradiction on `{code}`"
        found = w.find([pos, neg], contradiction)
        if found is not None:
            record, as_of, ok, problem = found
            findings.append(Finding(
                kind="contradiction", subject=code, location="", severity="error",
                message=f"`{code}` can be both recommended and advised against",
                witness=record, as_of=as_of, confirmed=ok, problem=problem))

    # dead and never-decidable rules
    rules = enc.all_rules() if "rules" in checks or "lints" in checks else []
    dead: set[int] = set()
    for rule in rules:
        if not solver.sat(enc.rule_fires(rule)):
            dead.add(rule.nid)
            if "rules" not in checks:
                continue
            findings.append(Finding(
                kind="dead_rule", subject=rule.rule_id, location=rule.span.location(),
                message=f"rule {rule.rule_id} can never fire", proof=True))
        elif "rules" in checks and not solver.sat(enc.rule_decided(rule)):
            findings.append(Finding(
                kind="never_decided", subject=rule.rule_id, location=rule.span.location(),
                message=f"rule {rule.rule_id} can never be decided: it is undetermined for "
                        "every record", proof=True))
    if lints and "lints" in checks:
        findings += _lints(g, enc, solver, w, dead)
    notes = ("`never a and b` invariants are the language's exclusive pairs; coverage goals "
             "are `always a or b when c` invariants",
             "a code has one action kind (SR403), so recommend and advise_against of one "
             "code cannot meet in a checked guideline")
    return Report(guideline=g.id, max_list=max_list, proved=tuple(proved),
                  findings=tuple(findings), queries=solver.queries,
                  seconds=time.perf_counter() - start, notes=notes)


def _lints(g: Guideline, enc: Encoder, solver: Solver, w: _Witnesses,
           dead: set[int]) -> list[Finding]:
    findings: list[Finding] = []
    by_rule: dict[int, list[RuleInstance]] = {}
    for ri in enc.rules:
        if not ri.path.endswith("[*]"):
            by_rule.setdefault(ri.rule.nid, []).append(ri)

    # a condition that is never true, or never false, wherever the rule runs
    for rule in enc.all_rules():
        if rule.nid in dead:
            continue
        parts = rule_parts(rule)
        if len(parts) < 2:
            continue
        for part, needed in parts:
            ts_: list[Any] = []
            fs: list[Any] = []
            for ri in by_rule.get(rule.nid, []):
                v = enc.expr(part, ri.env) if ri.env is not None else None
                if v is None:
                    continue
                ts_.append(z3.And(ri.active, v.t))
                fs.append(z3.And(ri.active, v.f))
            if not ts_:
                continue
            text = _text(g, part)
            if not solver.sat(z3.Or(*ts_)):
                findings.append(Finding(
                    kind="never_true", subject=rule.rule_id, location=part.span.location(),
                    message=f"in rule {rule.rule_id}, `{text}` is never true", proof=True))
            elif not solver.sat(z3.Or(*fs)):
                what = "the test adds nothing" if needed else "the rule can never fire"
                findings.append(Finding(
                    kind="never_false", subject=rule.rule_id, location=part.span.location(),
                    message=f"in rule {rule.rule_id}, `{text}` is never false: {what}",
                    proof=True))

    # a rule that never fires without another rule of the same code and kind
    by_code: dict[tuple[str, str], list[n.Rule]] = {}
    for rule in enc.all_rules():
        for action in rule.actions:
            by_code.setdefault((action.code, action.kind), []).append(rule)
    for (code, _kind), rs in by_code.items():
        rs = list(dict.fromkeys(rs))
        for a in rs:
            if a.nid in dead:
                continue
            for b in rs:
                if b is a or b.nid in dead:
                    continue
                if solver.sat(enc.rule_fires(a), z3.Not(enc.rule_fires(b))):
                    continue
                if not solver.sat(enc.rule_fires(b), z3.Not(enc.rule_fires(a))) and \
                        b.span.start < a.span.start and b.span.source == a.span.source:
                    continue  # the same condition: reported once, on the first of the two

                def both(r: Result, a: n.Rule = a, b: n.Rule = b) -> str | None:
                    out = _rules_out(r)
                    if a.rule_id in out and b.rule_id in out:
                        return None
                    return f"the evaluator did not fire both {a.rule_id} and {b.rule_id}"
                found = w.find([enc.rule_fires(a)], both)
                record, as_of, ok, problem = found if found else (None, None, None, "")
                findings.append(Finding(
                    kind="subsumed", subject=a.rule_id, location=a.span.location(),
                    message=f"rule {a.rule_id} never fires without rule {b.rule_id}, which "
                            f"gives the same `{code}`: it adds nothing",
                    witness=record, as_of=as_of, confirmed=ok, problem=problem))
                break

    # `all(...)` true only because the list is empty, where that decides a rule: with
    # the list empty, the rule's outcome differs from its outcome with the `all` false
    alternatives: dict[int, Encoder] = {}
    seen: set[tuple[int, int]] = set()
    for ri in enc.rules:
        for q, _vac in ri.vacuous:
            key = (ri.rule.nid, q.nid)
            if key in seen:
                continue
            seen.add(key)
            if q.nid not in alternatives:
                alternatives[q.nid] = Encoder(
                    g.checked, max_list=enc.max_list, patient=enc.patient, as_of=enc.as_of,
                    base=enc.base, node_overrides={q.nid: tri(FALSE, TRUE)}).encode()
            alt = alternatives[q.nid]
            rule = ri.rule
            vac = z3.Or(*[v for r in enc.rules if r.rule is rule
                          for qq, v in r.vacuous if qq.nid == q.nid])
            fires, fires_alt = enc.rule_fires(rule), alt.rule_fires(rule)
            goal = [vac, fires != fires_alt]
            m = solver.model(*goal)
            if m is None:
                continue
            record, day = enc.witness(m)
            fired_here = bool(z3.is_true(m.eval(fires, model_completion=True)))

            def outcome(r: Result, rule: n.Rule = rule, want: bool = fired_here
                        ) -> str | None:
                if (rule.rule_id in _rules_out(r)) == want:
                    return None
                return f"the evaluator {'did not fire' if want else 'fired'} {rule.rule_id}"
            problem = w.confirm(record, day, outcome)
            effect = "fires" if fired_here else "does not fire"
            findings.append(Finding(
                kind="vacuous_all", subject=rule.rule_id, location=q.span.location(),
                message=f"rule {rule.rule_id} {effect} because `{_text(g, q)}` is true of "
                        "an empty list (it would not be decided so if the `all` were false)",
                witness=record, as_of=day.isoformat(), confirmed=not problem,
                problem=problem))

    findings += _false_tests(g, enc, solver, w, dead)
    return findings


def _text(g: Guideline, node: n.Node) -> str:
    src = g.checked.program.texts.get(node.span.source)
    return " ".join(src.slice(node.span).split()) if src is not None else "?"


def _false_facts(g: Guideline, rule: n.Rule) -> dict[str, n.Compare]:
    """The facts a rule tests with `== false` (or `!= false`), through its defines:
    the leaf's name in the symbolic record (element 0 for a loop's) -> the test."""
    checked = g.checked
    found: dict[str, n.Compare] = {}
    seen: set[int] = set()
    stack: list[n.Node] = [*([rule.when] if rule.when is not None else []), *rule.unless]
    loop_lists = _loop_lists(g)
    while stack:
        x = stack.pop()
        if isinstance(x, n.Compare) and x.op in ("==", "!="):
            for side, other in ((x.left, x.right), (x.right, x.left)):
                if isinstance(other, n.Bool) and other.value is False and \
                        isinstance(side, n.Path):
                    ref = checked.refs.get(side.nid)
                    if isinstance(ref, FieldRef):
                        if ref.root == "patient":
                            found[".".join(ref.fields)] = x
                        elif ref.root in loop_lists:
                            found[f"{loop_lists[ref.root]}[0]." + ".".join(ref.fields)] = x
        if isinstance(x, n.Path):
            ref = checked.refs.get(x.nid)
            if isinstance(ref, DefineRef) and ref.nid not in seen:
                seen.add(ref.nid)
                stack.append(checked.defines[ref.nid].expr)
        stack.extend(child_nodes(x))
    return found


def _loop_lists(g: Guideline) -> dict[str, str]:
    """`for` variables over a list of the patient -> that list's name."""
    out: dict[str, str] = {}

    def walk(items: Any) -> None:
        for item in items:
            if isinstance(item, n.For):
                ref = g.checked.refs.get(item.source.nid)
                if isinstance(ref, FieldRef) and ref.root == "patient":
                    out[item.var] = ".".join(ref.fields)
                walk(item.items)
    walk(g.checked.program.items())
    return out


def _false_tests(g: Guideline, enc: Encoder, solver: Solver, w: _Witnesses,
                 dead: set[int]) -> list[Finding]:
    """`x == false` on a fact: is there a record where `x` is unknown, the rule is
    undetermined, and recording `x` as false would fire it? Then the rule waits on a fact
    that the author may have meant as "not recorded means no"."""
    findings: list[Finding] = []
    tests: dict[str, list[tuple[n.Rule, n.Compare]]] = {}
    for rule in enc.all_rules():
        if rule.nid in dead:
            continue
        for fact, cmp in _false_facts(g, rule).items():
            tests.setdefault(fact, []).append((rule, cmp))
    for fact, pairs in tests.items():
        override = V(z3.BoolVal(True), z3.BoolVal(False), "bool")
        other = Encoder(g.checked, max_list=enc.max_list, patient=enc.patient,
                        as_of=enc.as_of, base=enc.base, overrides={fact: override}).encode()
        known = _leaf_known(enc, fact)
        if known is None:
            continue
        for rule, cmp in pairs:
            goal = [z3.Not(known), enc.rule_undetermined(rule), other.rule_fires(rule)]
            m = solver.model(*goal)
            if m is None:
                continue
            record, as_of = enc.witness(m)
            changed = _set_fact(record, fact, False)

            def undetermined(r: Result, rule: n.Rule = rule) -> str | None:
                ok = rule.rule_id in _rules_undetermined(r)
                return None if ok else f"the evaluator did not leave {rule.rule_id} undetermined"

            def fires(r: Result, rule: n.Rule = rule, fact: str = fact) -> str | None:
                return None if rule.rule_id in _rules_out(r) else \
                    f"the evaluator did not fire {rule.rule_id} with `{fact}: false`"
            problem = w.confirm(record, as_of, undetermined) or \
                w.confirm(changed, as_of, fires)
            findings.append(Finding(
                kind="false_test", subject=rule.rule_id, location=cmp.span.location(),
                message=f"rule {rule.rule_id} tests `{_text(g, cmp)}`: while `{fact}` is "
                        "not recorded the rule waits, and `false` would fire it (if a "
                        "missing value means \"no\" here, write `not (known x and x)`; "
                        "if the fact must be recorded, add a `request` for it)",
                severity="info", witness=record, other=changed, as_of=as_of.isoformat(),
                confirmed=not problem, problem=problem))
    return findings


def _leaf_known(enc: Encoder, fact: str) -> Any:
    rec: Any = enc.patient
    parts = fact.split(".")
    known = z3.BoolVal(True)
    for i, p in enumerate(parts):
        if "[" in p:
            name, idx = p[:-1].split("[")
            lst = rec.lists.get(name)
            if lst is None:
                return None
            known = z3.And(known, lst.active(int(idx)))
            rec = lst.items[int(idx)].val
            continue
        if i == len(parts) - 1:
            leaf = rec.leaves.get(p)
            return None if leaf is None else z3.And(known, leaf.known)
        sub = rec.subs.get(p)
        if sub is None:
            return None
        rec = sub
    return None


def _set_fact(record: dict[str, Any], fact: str, value: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(record)
    cur: Any = out
    parts = fact.split(".")
    for p in parts[:-1]:
        if "[" in p:
            name, idx = p[:-1].split("[")
            cur = cur[name][int(idx)]
        else:
            cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


# ---------------------------------------------------------------------- diff


def diff(old: Guideline, new: Guideline, *, max_list: int = 3) -> Report:
    """For each code (and each request) of either version: a patient whose outcome
    changes, with both outcomes, or a proof that none does."""
    start = time.perf_counter()
    if old.record_type is not new.record_type:
        raise ValueError(f"the two guidelines read different record types "
                         f"({old.record_type.__name__} and {new.record_type.__name__})")
    try:
        a = Encoder(old.checked, max_list=max_list).encode()
        b = Encoder(new.checked, max_list=max_list, patient=a.patient, as_of=a.as_of,
                    base=a.base).encode()
    except Unsupported as exc:
        return Report(guideline=f"{old.id} -> {new.id}", max_list=max_list,
                      diagnostics=(_unsupported(exc),), seconds=time.perf_counter() - start,
                      texts={**old.checked.program.texts, **new.checked.program.texts})
    solver = Solver(a.base, a)
    w = _Witnesses(old, solver)
    findings: list[Finding] = []
    proved: list[str] = []
    requests = a.requested_codes() | b.requested_codes()
    for code in dict.fromkeys([*a.codes(), *b.codes()]):
        fa, fb = a.fired(code), b.fired(code)
        label = "missing request" if code in requests else "code"
        for before, after, goal in ((True, False, [fa, z3.Not(fb)]),
                                    (False, True, [z3.Not(fa), fb])):
            m = solver.model(*goal)
            if m is None:
                continue
            record, as_of = a.witness(m)

            def shows(present: bool, code: str = code) -> Callable[[Result], str | None]:
                def check(r: Result) -> str | None:
                    if (code in _outputs(r)) == present:
                        return None
                    return f"the evaluator {'did not give' if present else 'gave'} `{code}`"
                return check
            problem = w.confirm(record, as_of, shows(before), old) or \
                w.confirm(record, as_of, shows(after), new)
            word = {True: "given", False: "not given"}
            findings.append(Finding(
                kind="changed", subject=code, location="", severity="info",
                message=f"{label} `{code}`: {word[before]} by the old version, "
                        f"{word[after]} by the new",
                witness=record, as_of=as_of.isoformat(), confirmed=not problem,
                problem=problem, outcomes={"old": word[before], "new": word[after]}))
        if not any(f.subject == code for f in findings):
            proved.append(code)
    return Report(guideline=f"{old.id} -> {new.id}", max_list=max_list, proved=tuple(proved),
                  findings=tuple(findings), queries=solver.queries,
                  seconds=time.perf_counter() - start,
                  notes=("a code's outcome is whether the result gives it (as a "
                         "recommendation, warning, classification or request)",))
