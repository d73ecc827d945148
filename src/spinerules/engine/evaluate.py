"""Planning a checked guideline once, and running the plan against one record.

``plan()`` turns the checked AST into closures grouped by block (top level, and each
``for``); ``run()`` walks that plan with a fresh ``Env`` and builds the ``Result``.
Nothing here mutates the plan, so one ``Guideline`` serves many threads at once.
"""

from __future__ import annotations

import datetime
import enum
import re
import sys
import threading
from collections.abc import Callable, Hashable, Iterator
from operator import itemgetter
from typing import Any

import attrs

from spinerules.checker import typesys as ts
from spinerules.checker.check import Checked, DefineRef, child_nodes
from spinerules.engine.codegen import (
    _U,
    MARK,
    ValuesFn,
)
from spinerules.engine.compile import (
    NO_VALUES,
    BudgetExceededError,
    Compiler,
    Env,
    EvaluationError,
    Thunk,
    Work,
    _static_path,
    absence_tests,
    kleene,
)
from spinerules.engine.outcomes import (
    ASSUMED,
    ASSUMED_FACTS,
    FACTS,
    FIRED,
    NO_LIST,
    ROWS,
    SCORE_INPUTS,
    SCORED,
    UNDETERMINED,
    WHENS,
    Event,
    Outcome,
    OutcomeFn,
    OutcomeSpec,
    Rows,
    generate_outcomes,
    generate_values,
)
from spinerules.engine.result import (
    ASK_CODE,
    ASK_TEXT,
    URGENCY_ORDER,
    Citation,
    Conflict,
    MissingData,
    Recommendation,
    Result,
    ScoreResult,
    Undetermined,
    recommendation,
)
from spinerules.engine.trace import (
    Because,
    RuleOutcome,
    Trace,
    rule_outcome,
)
from spinerules.engine.trace import because as because_line
from spinerules.engine.values import UNDECIDED, Bounded, SumBands, Unknown, k_not
from spinerules.lang import nodes as n
from spinerules.lang.units import DISPLAY, format_quantity

_SPACES = re.compile(r"\s+")
#: explanation lines go this deep below a rule's condition; each depth's indentation
_DEEPEST = 3
_INDENT = tuple("  " * d for d in range(_DEEPEST + 1))
#: a trace outcome lists at most this many facts one by one (``_Run.trace_facts``)
_TRACE_FACTS = 24
_ANY_INDEX = re.compile(r"\[\d+\]")
#: ``Because`` lines kept per atom (one per value shown: few for most atoms)
_KEEP_BECAUSE = 64
_KEEP_BINDINGS = 4096  #: loop elements' ``Because`` lines kept per plan
_NO_FACTS: frozenset[str] = frozenset()
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


#: an explanation: ``(depth, line)`` for a define's, finished lines for a rule's own
Explainer = Callable[["Env"], list[Any]]


@attrs.frozen
class Atom:
    """A leaf condition of a rule, kept to explain why it fired or not."""

    text: str
    thunk: Thunk  # its value (kept per environment)
    polarity: bool  # the value the rule needs from it (False under `not` / `unless`)
    show: Callable[[Any], Any]
    node: n.Expr
    detail: Callable[[Env], str] | None = None  # "x is 6 weeks, needs >= 12 weeks"
    traced: Thunk | None = None  # its value in a trace (``Planner.val``)
    #: its ``Because`` lines by value shown (immutable: results share them)
    _becauses: dict[tuple[type, Any], Because] = attrs.field(factory=dict, eq=False,
                                                             repr=False)

    def because(self, value: Any) -> Because:
        """The ``because`` line of this atom with the value ``value``."""
        shown = self.show(value)
        key = (type(shown), shown)
        try:
            return self._becauses[key]
        except KeyError:
            pass
        if len(self._becauses) >= _KEEP_BECAUSE:
            self._becauses.clear()
        line = self._becauses[key] = Because(expression=self.text, value=shown)
        return line


@attrs.frozen
class RulePlan:
    rule: n.Rule
    cond: Thunk
    atoms: tuple[Atom, ...]
    probes: tuple[Thunk, ...]  # operands of `unknown x` tests: what a request asks for
    order: int
    why: Callable[[Env], list[str]] = lambda env: []  # the deciding conditions (traces)
    location: str = ""  # the rule's `file:line:column`
    codes: tuple[str, ...] = ()  # its actions' codes
    #: a trace takes this rule's atoms from its block's table of shown atoms, by position
    pick: Callable[[list[Any]], tuple[Any, ...]] = lambda table: ()
    slots: tuple[int, ...] = ()  # the positions ``pick`` takes
    traced: Thunk | None = None  # ``cond`` for a trace (see ``Planner.traced_part``)
    #: ``cond`` in the strict reading (``Planner.assumptions``), for a rule whose condition
    #: uses the idiom `known x and x`; ``checks``: the idiom's operands, the two readings
    #: agree while none is unknown (None: always read strictly)
    strict: Thunk | None = None
    checks: tuple[Thunk, ...] | None = ()
    check_nodes: tuple[n.Expr, ...] | None = ()  # the operands ``checks`` compute
    cites: tuple[n.Citation, ...] = ()  # its actions' citations (for the engine's request)
    #: its atoms' ``Because`` lines by the values shown (``_Run.fired``; immutable: results
    #: share them). An atom's values have one type (the checker's), so equal tuples of
    #: values show the same.
    becauses: dict[tuple[Any, ...], tuple[Because, ...]] = attrs.field(
        factory=dict, eq=False, repr=False)
    probe_nodes: tuple[n.Expr, ...] = ()  # the nodes ``probes`` compute
    emits: tuple[str, ...] = ()  # the codes it emits when it fires (not its requests)


@attrs.frozen
class ScorePlan:
    score: n.Score
    thunk: Thunk  # -> ScoreOutcome, cached per Env
    order: int
    #: the outcome from the values of its inputs (a table's source, or each component;
    #: unknown as an ``Unknown``) and the facts behind the unknown ones (generated code's)
    from_values: Callable[[tuple[Any, ...], frozenset[str]], ScoreOutcome] = \
        attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class LoopPlan:
    loop: n.For
    source: Thunk
    path: Callable[[Env], str]
    block: BlockPlan


@attrs.frozen
class BlockPlan:
    rules: tuple[RulePlan, ...]
    scores: tuple[ScorePlan, ...]
    loops: tuple[LoopPlan, ...]
    #: the distinct atoms of the block's rules: a trace shows each once per environment
    #: (rules share the atoms of the defines they open) and each rule picks its own
    slots: tuple[Atom, ...] = ()
    key: int = 0  # 0 for the top level, else the `for`'s node id
    #: per slot, what a trace shows it with: (text, node id, show, polarity, value thunk,
    #: whether ``show`` is ``show_value``)
    rows: tuple[tuple[str, int, Callable[[Any], Any], bool, Thunk, bool], ...] = attrs.field(
        init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(
            (a.text, a.node.nid, a.show, a.polarity, a.traced or a.thunk,
             a.show is show_value) for a in self.slots))


def _picker(indices: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """``table -> tuple(table[i] for i in indices)``, done in C by ``itemgetter``."""
    if not indices:
        return lambda table: ()
    if len(indices) == 1:
        i = indices[0]
        return lambda table: (table[i],)
    get: Callable[[list[Any]], tuple[Any, ...]] = itemgetter(*indices)
    return get


@attrs.frozen
class ScoreOutcome:
    value: float | None
    low: float
    high: float
    facts: frozenset[str]
    action: n.Action | None  # the classify of the arm or band, when decided
    pending: tuple[n.Action, ...]  # possible actions while undetermined
    input_text: str
    input_value: Any
    note: str | None = None


@attrs.frozen
class InvariantPlan:
    invariant: n.Invariant
    when: Thunk | None


class TraceValues:
    """The values a trace shows, computed by generated code (``outcomes.ValuesGenerator``).

    A trace shows the value of every leaf of every rule, and of the defines they open,
    three levels down: hundreds of values per patient, most of which the conditions never
    needed. Generated code computes them all in a fraction of the closures' time, with
    unknown one marker (all a trace shows of it), and decides every rule: its value, the
    facts behind it when unknown, and the facts its decision assumed absent, named as the
    closures name them (``outcomes.OutcomeGenerator.paths``); ``_Run.traced_rule`` takes
    them from there. The explanations (``reasons``, ``details``) remain the closures'.

    The function is generated when the guideline loads (``warm``), or on the first traced
    evaluation. If it cannot be generated (a guideline nested too deeply for CPython's
    compiler), that evaluation takes every value from the closures; if an evaluation stops
    in it (an evaluation error, the step budget), the closures take over from the block
    where it stopped (``_Run.take``), and report the same error as before when a decision
    needs the part that raised it.
    """

    def __init__(self, checked: Checked, wanted: dict[int, list[n.Expr]],
                 spec: OutcomeSpec, rows: Rows | None = None) -> None:
        self._checked = checked
        self.wanted = wanted
        self.spec = spec  # (the rules' facts are named as for ``Decisions``)
        self.rows = rows  # (each block's atoms as the trace shows them: ``BlockPlan.rows``)
        self._fn: ValuesFn | None = None
        self._failed = False
        self._lock = threading.Lock()

    def give_up(self) -> None:
        """Use the closures alone (the guideline is too deep for CPython's compiler)."""
        with self._lock:
            if self._fn is None:
                self._failed = True

    def warm(self) -> None:
        """Generate the function now (once; threads wait for the first)."""
        with self._lock:
            if self._fn is None and not self._failed:
                try:
                    self._fn = generate_values(self._checked, self.wanted, self.spec,
                                               self.rows)
                except (RecursionError, SyntaxError):  # too deep for CPython
                    self._failed = True

    def __call__(self, record: Any, as_of: datetime.date, budget: int
                 ) -> Iterator[tuple[dict[Any, Any], dict[Any, Any]]] | None:
        fn = self._fn
        if fn is None:
            if self._failed:
                return None
            self.warm()
            fn = self._fn
            if fn is None:
                return None
        try:
            return iter(fn(record, as_of, budget))
        except (EvaluationError, BudgetExceededError, RecursionError):
            return None


class Decisions:
    """What a result needs, from generated code, for ``evaluate`` with the trace off
    (``outcomes.OutcomeGenerator``): every rule decided, and where a condition, a score or
    a list is unknown, the facts behind it; ``_Run.replay`` builds the result from them.
    Another function reads a record given as JSON without building the record
    (``outcomes.JsonOutcomeGenerator``).

    The functions are generated when the guideline loads (``warm``) or on first use. If
    one cannot be generated (a guideline nested too deeply for CPython's compiler) or an
    evaluation stops in it (an evaluation error, the step budget: generated code computes
    every define, the closures only those a decision needs), that evaluation runs on the
    closures alone, which then report the same error as before.
    """

    def __init__(self, checked: Checked, spec: OutcomeSpec, work: Work | None = None
                 ) -> None:
        self._checked = checked
        self.spec = spec
        self._work = work  # (the budget counts a record given as JSON is looked up in)
        self._fn: OutcomeFn | None = None
        self._json_fn: OutcomeFn | None = None
        self._failed = False
        self._json_tried = False
        self._lock = threading.Lock()

    def give_up(self) -> None:
        """Use the closures alone (the guideline is too deep for CPython's compiler)."""
        with self._lock:
            if self._fn is None:
                self._failed = True

    def warm(self) -> None:
        """Generate both functions now (each once; threads wait for the first)."""
        self._record_fn()
        self._reader_fn()

    def _record_fn(self) -> OutcomeFn | None:
        with self._lock:
            if self._fn is None and not self._failed:
                try:
                    self._fn = generate_outcomes(self._checked, self.spec)
                except (RecursionError, SyntaxError):  # too deep for CPython
                    self._failed = True
            return self._fn

    def _reader_fn(self) -> OutcomeFn | None:
        with self._lock:
            if not self._json_tried:
                self._json_tried = True
                if not self._failed:
                    try:
                        self._json_fn = generate_outcomes(self._checked, self.spec,
                                                          json=True, work=self._work)
                    except Exception:  # (a record it cannot read): loaded instead
                        self._json_fn = None
            return self._json_fn

    def __call__(self, record: Any, as_of: datetime.date, budget: int) -> Outcome | None:
        return _outcome(self._fn or self._record_fn(), record, as_of, budget)

    def json(self, data: dict[str, Any], as_of: datetime.date, budget: int, limit: int,
             steps: int) -> Outcome | None:
        """The events of a record given as JSON (``limit``: the longest list allowed;
        ``steps``: the step budget); None when it cannot be read so: something is wrong
        with it, which the function's own check finds as ``json_ok`` does, or a record
        with lists of the same lengths was not counted within the budget before (the
        record is then loaded, which names what is wrong, and counted)."""
        fn = self._json_fn or self._reader_fn()
        if fn is None:
            return None
        try:
            return fn(data, as_of, budget, limit, steps)
        except (EvaluationError, BudgetExceededError, RecursionError):
            return None


def _outcome(fn: OutcomeFn | None, record: Any, as_of: datetime.date, budget: int
             ) -> Outcome | None:
    """``fn``'s outcome; None without it, or when the evaluation stops in it (the
    closures then evaluate, and report the error). (``Decisions.json`` likewise.)"""
    if fn is None:
        return None
    try:
        return fn(record, as_of, budget)
    except (EvaluationError, BudgetExceededError, RecursionError):
        return None


@attrs.frozen
class Plan:
    block: BlockPlan
    invariants: tuple[InvariantPlan, ...]
    citations: dict[str, Citation]
    cited: dict[tuple[n.Citation, ...], tuple[Citation, ...]]  # a cite list, resolved once
    #: the same by the identity of the cite list (a node's own tuple, kept by ``cited``)
    cited_by_id: dict[int, tuple[Citation, ...]] = attrs.field(factory=dict)
    values: TraceValues | None = None
    work: Work | None = None  #: the budget's count (``compile.Work``)
    decisions: Decisions | None = None  #: the result from generated code (trace off)
    #: the plans by node id, for ``_Run.replay``
    rules: dict[int, RulePlan] = attrs.field(factory=dict, eq=False, repr=False)
    scores: dict[int, ScorePlan] = attrs.field(factory=dict, eq=False, repr=False)
    loops: dict[int, LoopPlan] = attrs.field(factory=dict, eq=False, repr=False)
    #: ``Because`` lines of loop elements (``variable = path``), shared by results
    bindings: dict[tuple[str, str], Because] = attrs.field(factory=dict, eq=False, repr=False)
    #: a rule's cite list -> its sources by key (``_Run.ask``), by the list's identity
    sources: dict[int, tuple[tuple[n.Citation, ...], dict[str, Citation]]] = attrs.field(
        factory=dict, eq=False, repr=False)


def display(t: ts.Type) -> Callable[[Any], Any]:
    """How a value of type ``t`` appears in ``because`` (JSON-ready)."""
    if isinstance(t, ts.QuantityT):
        unit = t.unit or DISPLAY.get(t.dim, "")

        def show_q(v: Any) -> Any:
            return "unknown" if isinstance(v, Unknown) else format_quantity(v, unit)
        return show_q
    return show_value


def _truth_text(v: Any) -> str:
    return "true" if v is True else "false" if v is False else str(v)


def show_value(v: Any) -> Any:
    """A JSON-ready rendering of a run-time value."""
    t = type(v)
    if t is bool or t is str or t is int or v is None:  # the common cases first
        return v
    if isinstance(v, Unknown):
        return "unknown"
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, float):
        return int(v) if v.is_integer() else round(v, 4)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, bool | int | str) or v is None:
        return v
    return str(v)


_TRACED = 1 << 40
"""Added to a node id: the key of its closure for a trace in ``Env.memo`` (``traced_memo``),
apart from its plain closure's (the node id) and a define's explanation (minus its id)."""


class Planner:
    """Builds the ``Plan`` of a checked guideline."""

    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.compiler = Compiler(checked)
        # the strict reading of conditions: the idiom's `known x` is unknown while x is; it
        # shares the scores and loop defines of the plain one (its define values are kept
        # apart); in a trace, the parts that hold none of those tests are read from the
        # precomputed values (``Compiler.use_vals``)
        self.strict = Compiler(checked, strict=absence_tests(checked), use_vals=True)
        self.strict.score_thunks = self.compiler.score_thunks
        self.strict.loop_defines = self.compiler.loop_defines
        # the closures of a trace: a part that the block's precomputed values know is read
        # from them (``Compiler.use_vals``); it shares the plain one's scores, loop defines
        # and define values (the same values)
        self.traced = Compiler(checked, use_vals=True)
        self.traced.score_thunks = self.compiler.score_thunks
        self.traced.loop_defines = self.compiler.loop_defines
        self._kept_fns: dict[Hashable, Callable[[Env], Any]] = {}
        self._getters: dict[int, Thunk] = {}
        self._texts: dict[int, str] = {}
        # the nodes whose values a trace shows, per block (0: top level, else the `for`'s
        # id); and, per define, those its explanation shows (added to each block using it)
        self._block = 0
        self._wanted: dict[int, dict[int, n.Expr]] = {0: {}}
        self._define_nodes: dict[int, dict[int, n.Expr]] = {}
        self._capturing: list[dict[int, n.Expr]] = []
        self._opened: set[tuple[int, int]] = set()  # (block, define) already added
        self.order = 0
        self.citations = {
            key: Citation(key=key, title=s.title, year=s.year, doi=s.doi, pmid=s.pmid,
                          url=s.url, evidence=s.evidence, unverified=s.unverified)
            for key, s in checked.sources.items()
        }

    def memo(self, e: n.Expr) -> Thunk:
        """``e``'s closure, its value kept per environment: the condition, its atoms and its
        explanation look at the same sub-expressions, which are then computed once."""
        if not e.nid:
            return self.compiler.compile(e)
        return self._kept(e.nid, lambda: self.compiler.compile(e))

    def traced_memo(self, e: n.Expr) -> Thunk:
        """``memo(e)`` for a trace: the closure reads what the block's precomputed values
        know (``Planner.traced``). Only a trace's values and conditions use it."""
        if not e.nid:
            return self.traced.compile(e)
        return self._kept(e.nid + _TRACED, lambda: self.traced.compile(e))

    def val(self, e: n.Expr) -> Thunk:
        """``e``'s value as a trace shows it: from the block's precomputed values
        (``Env.vals``, see ``TraceValues``) when they are there, else from
        ``traced_memo(e)``."""
        if not e.nid:
            return self.traced_memo(e)
        self._want(e)
        if e.nid in self._getters:
            return self._getters[e.nid]
        thunk, key = self.traced_memo(e), e.nid

        def get(env: Env) -> Any:
            vals = env.vals
            if key in vals:
                return vals[key]  # (unknown there is codegen's marker, an Unknown)
            vals = env.root.vals  # a top-level define's node, explained inside a loop
            return vals[key] if key in vals else thunk(env)
        self._getters[key] = get
        return get

    def _want(self, e: n.Expr) -> None:
        self._wanted[self._block][e.nid] = e
        for nodes in self._capturing:
            nodes[e.nid] = e

    def _kept(self, key: Hashable, make: Callable[[], Callable[[Env], Any]],
              top: bool = False) -> Callable[[Env], Any]:
        """The function ``make()`` returns, made once per ``key``, its result kept in the
        evaluation environment (``Env.memo``) under the same key; with ``top``, in the
        top-level environment, for a result that no loop variable can change."""
        if key in self._kept_fns:
            return self._kept_fns[key]
        fn = make()

        def kept(env: Env) -> Any:
            memo = env.memo
            try:
                return memo[key]
            except KeyError:
                value = memo[key] = fn(env)
                return value

        def kept_on_top(env: Env) -> Any:
            memo = env.root.memo
            try:
                return memo[key]
            except KeyError:
                value = memo[key] = fn(env)
                return value
        self._kept_fns[key] = kept_on_top if top else kept
        return self._kept_fns[key]

    def text(self, node: n.Node) -> str:
        """A node's source text on one line (asked for many times per node: kept)."""
        if node.nid in self._texts:
            return self._texts[node.nid]
        src = self.checked.program.texts.get(node.span.source)
        text = "?" if src is None else _SPACES.sub(" ", src.slice(node.span)).strip()
        if node.nid:
            self._texts[node.nid] = text
        return text

    def plan(self) -> Plan:
        items = list(self.checked.program.items())
        self._mark_loop_defines(items, top=True)
        block = self.block(items)
        invariants = tuple(
            InvariantPlan(i, self.compiler.compile(i.when) if i.when is not None else None)
            for i in items if isinstance(i, n.Invariant))
        cited: dict[tuple[n.Citation, ...], tuple[Citation, ...]] = {}

        def resolve(cs: tuple[n.Citation, ...]) -> None:
            cited[cs] = tuple(
                attrs.evolve(self.citations[c.key], locator=c.locator) if c.locator
                else self.citations[c.key] for c in cs)

        by_id: dict[int, tuple[Citation, ...]] = {}
        for node in _cited(items):
            for cs in (node.cites, node.against):
                if cs not in cited:
                    resolve(cs)
                by_id[id(cs)] = cited[cs]  # (each node's own list: found without hashing)
        wanted = {k: list(v.values()) for k, v in self._wanted.items()}
        always: set[int] = set()  # rules with the idiom `known x and x` (``assumptions``)
        atoms: dict[int, list[n.Expr]] = {}
        probes: dict[int, list[n.Expr]] = {}
        checks: dict[int, tuple[n.Expr, ...] | None] = {}
        rules: dict[int, RulePlan] = {}
        scores: dict[int, ScorePlan] = {}
        loops: dict[int, LoopPlan] = {}
        rows: Rows = {}
        blocks = [block]
        while blocks:
            b = blocks.pop()
            rows[b.key] = [(t, k, show, p, plain) for t, k, show, p, _, plain in b.rows]
            for rp in b.rules:
                rules[rp.rule.nid] = rp
                atoms[rp.rule.nid] = [a.node for a in rp.atoms]
                probes[rp.rule.nid] = list(rp.probe_nodes)
                if rp.strict is not None:
                    always.add(rp.rule.nid)
                    checks[rp.rule.nid] = rp.check_nodes
            scores.update((sp.score.nid, sp) for sp in b.scores)
            loops.update((lp.loop.nid, lp) for lp in b.loops)
            blocks.extend(lp.block for lp in b.loops)
        spec = OutcomeSpec(frozenset(always), atoms, self.strict.strict, probes,
                           [ip.invariant for ip in invariants], checks)
        work = Work(self.checked, self.compiler)
        return Plan(block=block, invariants=invariants, citations=self.citations, cited=cited,
                    cited_by_id=by_id,
                    values=TraceValues(self.checked, wanted, spec, rows),
                    work=work,
                    decisions=Decisions(self.checked, spec, work),
                    rules=rules, scores=scores, loops=loops)

    def _mark_loop_defines(self, items: list[n.Item], top: bool) -> None:
        for item in items:
            if isinstance(item, n.For):
                for inner in item.items:
                    if isinstance(inner, n.Define):
                        self.compiler.loop_defines.add(inner.nid)
                    if isinstance(inner, n.Score):
                        self.compiler.loop_defines.add(inner.nid)
                self._mark_loop_defines(list(item.items), top=False)

    def block(self, items: list[n.Item] | tuple[n.Item, ...]) -> BlockPlan:
        rules: list[RulePlan] = []
        scores: list[ScorePlan] = []
        loops: list[LoopPlan] = []
        for item in items:
            self.order += 1
            if isinstance(item, n.Rule):
                rules.append(self.rule(item))
            elif isinstance(item, n.Score):
                scores.append(self.score(item))
            elif isinstance(item, n.For):
                outer, self._block = self._block, item.nid
                self._wanted[item.nid] = {}
                inner = self.block(item.items)
                self._block = outer
                loops.append(LoopPlan(item, self.compiler.compile(item.source),
                                      _static_path(item.source), inner))
        slots: dict[tuple[str, int, bool], int] = {}
        table: list[Atom] = []
        for i, rp in enumerate(rules):
            picks = []
            for a in rp.atoms:
                key = (a.text, a.node.nid, a.polarity)
                if key not in slots:
                    slots[key] = len(table)
                    table.append(a)
                picks.append(slots[key])
            rules[i] = attrs.evolve(rp, pick=_picker(picks), slots=tuple(picks))
        return BlockPlan(tuple(rules), tuple(scores), tuple(loops), tuple(table), self._block)

    # ------------------------------------------------------------------ rules
    def traced_part(self, e: n.Expr) -> Thunk:
        """A condition's value in a trace: the precomputed one when it is known; when it
        is unknown, the closure's, which names the facts that would decide it."""
        get, thunk = self.val(e), self.traced_memo(e)

        def part(env: Env) -> Any:
            v = get(env)
            return thunk(env) if v is _U else v
        return part

    def condition(self, rule: n.Rule, part: Callable[[n.Expr], Thunk]) -> Thunk:
        """A rule's `when` and not-`unless`es, each part's value from ``part``."""
        parts: list[Thunk] = []
        if rule.when is not None:
            parts.append(part(rule.when))
        for u in rule.unless:
            parts.append(_negate(part(u)))
        if not parts:
            return _always
        if len(parts) == 1:
            return parts[0]
        return _conjunction(tuple(parts))

    def rule(self, rule: n.Rule) -> RulePlan:
        cond = self.condition(rule, self.memo)
        atoms: list[Atom] = []
        probes: list[n.Expr] = []
        if rule.when is not None:
            self.atoms(rule.when, True, atoms, probes, prefix="")
        for u in rule.unless:
            self.atoms(u, False, atoms, probes, prefix="unless ")
        # (value of the part, its explanation, the value that lets the rule fire)
        parts_why = [(self.val(rule.when), self.explainer(rule.when), True)] \
            if rule.when is not None else []
        parts_why += [(self.val(u), self.explainer(u, prefix="unless "), False)
                      for u in rule.unless]

        def why(env: Env) -> list[str]:
            if len(parts_why) == 1:  # fired or not, the one part is the reason
                lines: list[str] = parts_why[0][1](env)
                return lines
            values = [(v(env), w, ok) for v, w, ok in parts_why]
            if all(v is ok for v, _, ok in values):  # fired: every part, as it stood
                return [line for _, w, _ in values for line in w(env)]
            # not fired or undetermined: only the parts that stopped it
            return [line for v, w, ok in values if v is not ok for line in w(env)]
        strict, checks, nodes = self.assumptions(rule)
        return RulePlan(rule, cond, tuple(atoms),
                        tuple(self.compiler.compile(p) for p in probes), self.order, why,
                        rule.span.location(), tuple(a.code for a in rule.actions),
                        traced=self.condition(rule, self.traced_part), strict=strict,
                        checks=checks, check_nodes=nodes,
                        cites=tuple(dict.fromkeys(c for a in rule.actions for c in a.cites)),
                        probe_nodes=tuple(probes),
                        emits=tuple(a.code for a in rule.actions if a.kind != "request"))

    def assumptions(self, rule: n.Rule) -> tuple[Thunk | None, tuple[Thunk, ...] | None,
                                                 tuple[n.Expr, ...] | None]:
        """What a rule's decision assumed: its condition read strictly (``Compiler.strict``),
        if it uses the idiom `known x and x` anywhere (through its defines too), and the
        operands of those `known` tests, which decide whether the strict reading can differ.

        A rule that fires, or does not, only because `known x` read an unrecorded `x` as
        "no" is undetermined in the strict reading: the engine then shows the facts as
        pending on its recommendations, or asks for them (``_Run.finish``)."""
        if all(a.kind == "request" for a in rule.actions):
            return None, (), ()
        roots = [*([rule.when] if rule.when is not None else []), *rule.unless]
        tests: list[n.IsKnown] = []
        quantified = False  # a test under a quantifier: its operand needs the element
        seen: set[int] = set()
        stack: list[tuple[n.Node, bool]] = [(r, False) for r in roots]
        while stack:
            x, inside = stack.pop()
            if isinstance(x, n.IsKnown) and x.nid in self.strict.strict:
                tests.append(x)
                quantified = quantified or inside
            if isinstance(x, n.Path):
                ref = self.checked.refs.get(x.nid)
                if isinstance(ref, DefineRef) and ref.nid not in seen:
                    seen.add(ref.nid)
                    stack.append((self.checked.defines[ref.nid].expr, False))
            inner = inside or isinstance(x, n.Quantifier)
            stack.extend((c, inner) for c in child_nodes(x))
        if not tests:
            return None, (), ()
        strict = self.condition(rule, self.strict.compile)
        if quantified:
            return strict, None, None
        return strict, tuple(self.compiler.compile(t.operand) for t in tests), \
            tuple(t.operand for t in tests)

    def define_explainer(self, nid: int) -> Explainer:
        """A define's explanation, made once and kept per environment: many rules open the
        same define (`conservative_pathway`, `red_flag`), at different depths."""
        expr = self.checked.defines[nid].expr
        # a top-level define's explanation is the same in every loop: made once per patient
        top = nid not in self.compiler.loop_defines
        if nid not in self._define_nodes:  # made once: note the nodes it shows
            self._capturing.append({})
            outer = self._block
            if top:  # (its nodes are the top block's, wherever it is first opened)
                self._block = 0
            self._kept(-nid, lambda: self.explainer(expr, opened=True), top)
            self._block = outer
            self._define_nodes[nid] = self._capturing.pop()
        # its nodes, once per block; a top-level define's in the top block only, as its
        # values (and explanation) are the same in every loop element
        block = 0 if top else self._block
        if (block, nid) not in self._opened:
            self._opened.add((block, nid))
            wanted = self._wanted[block]
            for e in self._define_nodes[nid].values():
                wanted[e.nid] = e
        for nodes in self._capturing:
            nodes.update(self._define_nodes[nid])
        explain: Explainer = self._kept(-nid, lambda: self.explainer(expr, opened=True), top)
        return explain

    def explainer(self, e: n.Expr, prefix: str = "", opened: bool = False) -> Explainer:
        """The conditions that decide ``e``'s value: for a false `and`, its false parts; for
        a true `or`, its true parts; defines are opened down to the facts, to a depth of
        three below a rule's condition.

        A define's explanation (``opened``) is a list of ``(depth, line)``, made once per
        evaluation as if opened right below a rule (depth 1, and its own defines down to
        depth 3), and shifted where it is opened deeper; lines that end up below depth 3
        are left out, just as they would not have been opened. A rule's own condition is
        explained in finished lines (indented), the defines it opens rendered once."""
        value = self.val(e)
        if isinstance(e, n.BoolOp):
            subs = [(self.val(o), self.explainer(o, prefix, opened))
                    for o in e.operands]
            deciding = e.op == "or"  # the value that decides: false for and, true for or

            def why_bool(env: Env) -> list[Any]:
                v = value(env)
                vals = [(s(env), w) for s, w in subs]
                if v is deciding:
                    chosen = [w for x, w in vals if x is deciding]
                elif isinstance(v, Unknown):
                    chosen = [w for x, w in vals if isinstance(x, Unknown)]
                else:
                    chosen = [w for _, w in vals]
                if len(chosen) == 1:
                    return chosen[0](env)
                return [line for w in chosen for line in w(env)]
            return why_bool
        if isinstance(e, n.Not):  # the operand, with its own value: "red_flag: false"
            return self.explainer(e.operand, prefix, opened)
        text = prefix + self.text(e)
        shown = display(self.checked.types.get(e.nid, ts.ERROR))
        ref = self.checked.refs.get(e.nid) if isinstance(e, n.Path) else None
        inner: Explainer | None = None
        rendered: Callable[[Env], list[str]] | None = None
        if isinstance(ref, DefineRef):
            inner = self.define_explainer(ref.nid)
            if not opened:
                lines_of = inner
                rendered = self._kept(("rendered", ref.nid), lambda: lambda env: [
                    _INDENT[d] + body for d, body in lines_of(env)],
                    ref.nid not in self.compiler.loop_defines)
        detail: Callable[[Env], str] | None = None
        if isinstance(e, n.Compare):
            side = self.val(e.left)
            show_side = display(self.checked.types.get(e.left.nid, ts.ERROR))
            left_text, right_text, op = self.text(e.left), self.text(e.right), e.op

            def detail(env: Env) -> str:
                return f"{left_text} is {show_side(side(env))} ({op} {right_text})"

        def why_leaf(env: Env) -> list[Any]:
            v = value(env)
            shown_v = _truth_text(shown(v))
            line = f"- {text}: {shown_v}"
            if detail is not None and not isinstance(v, Unknown):
                line = f"- {text}: {shown_v}, since {detail(env)}"
            if not opened:  # a rule's own condition: finished lines
                return [line, *rendered(env)] if rendered is not None else [line]
            if inner is None:
                return [(1, line)]
            return [(1, line), *[(d + 1, body) for d, body in inner(env) if d < _DEEPEST]]
        return why_leaf

    def atoms(self, e: n.Expr, polarity: bool, out: list[Atom], probes: list[n.Expr],
              prefix: str, depth: int = 0) -> None:
        """The leaf conditions of ``e``; a define is listed, then expanded (two levels), so
        that ``because`` reaches the patient's facts."""
        if isinstance(e, n.BoolOp):
            for o in e.operands:
                self.atoms(o, polarity, out, probes, prefix, depth)
            return
        if isinstance(e, n.Not):
            self.atoms(e.operand, not polarity, out, probes, prefix, depth)
            return
        ref = self.checked.refs.get(e.nid) if isinstance(e, n.Path) else None
        if isinstance(e, n.IsKnown) and not e.known and polarity:
            probes.append(e.operand)
        shown = display(self.checked.types.get(e.nid, ts.ERROR))
        detail = None
        if isinstance(e, n.Compare):
            side = self.val(e.left)
            show_side = display(self.checked.types.get(e.left.nid, ts.ERROR))
            left_text, right_text = self.text(e.left), self.text(e.right)
            op = e.op if polarity else _NEGATED[e.op]

            def detail(env: Env) -> str:
                return f"{left_text} is {show_side(side(env))}; needs {op} {right_text}"
        text = prefix + self.text(e)
        if all(a.text != text for a in out):
            out.append(Atom(text, self.memo(e), polarity, shown, e, detail, self.val(e)))
        if isinstance(ref, DefineRef) and depth < 2:
            inner = self.checked.defines[ref.nid]
            outer = self._block
            if ref.nid not in self.compiler.loop_defines:  # its values: the top block's
                self._block = 0
            self.atoms(inner.expr, polarity, out, probes, f"via {inner.name}: ", depth + 1)
            self._block = outer

    # ------------------------------------------------------------------ scores
    def score(self, s: n.Score) -> ScorePlan:
        compile_ = self.compiler.compile

        def matcher(arm: n.Arm, input_t: ts.Type) -> Callable[[Any], bool]:
            return self.compiler.matcher(arm.pattern, input_t)

        def type_of(e: n.Expr) -> ts.Type:
            return self.checked.types.get(e.nid, ts.ERROR)

        nid = s.nid
        local = nid in self.compiler.loop_defines
        if s.source is not None:
            source = compile_(s.source)
            input_t = type_of(s.source)
            arms = [(matcher(a, input_t), a) for a in s.arms]
            input_text = self.text(s.source)
            show = display(input_t)

            def from_values(values: tuple[Any, ...], facts: frozenset[str]) -> ScoreOutcome:
                (v,) = values
                if isinstance(v, Unknown):
                    pts = [a.points for _, a in arms]
                    pending = tuple(a.action for _, a in arms if a.action is not None)
                    return ScoreOutcome(None, min(pts), max(pts), facts, None, pending,
                                        input_text, "unknown")
                for match, arm in arms:
                    if match(v):
                        return ScoreOutcome(arm.points, arm.points, arm.points, frozenset(),
                                            arm.action, (), input_text, show(v))
                return ScoreOutcome(None, 0, 0, frozenset(), None, (), input_text, show(v),
                                    note="no arm matched")

            def compute(env: Env) -> ScoreOutcome:
                v = source(env)
                return from_values((v,), v.paths if isinstance(v, Unknown) else _NO_FACTS)
        else:
            comps = []
            for c in s.components:
                ct = type_of(c.source)
                comps.append((c, compile_(c.source), [(matcher(a, ct), a) for a in c.arms],
                              display(ct)))
            band_actions = [b.action for b in s.bands]
            # keyed by band (an action is its band's own), None for a band without one
            sums = SumBands([tuple(a.points for _, a in carms) for _, _, carms, _ in comps],
                            [matcher(b, ts.NUMBER) for b in s.bands],
                            [i if a is not None else None for i, a in enumerate(band_actions)])
            text = ", ".join(self.text(c.source) for c in s.components)

            def from_values(values: tuple[Any, ...], facts: frozenset[str]) -> ScoreOutcome:
                points: list[float | None] = []  # None: unknown
                asks: list[str] = []
                shown: list[str] = []
                for (comp, _, carms, show), v in zip(comps, values, strict=True):
                    if isinstance(v, Unknown):
                        points.append(None)
                        if comp.ask:
                            asks.append(comp.ask)
                        shown.append(f"{comp.name} unknown")
                    else:
                        hit = next((a.points for m, a in carms if m(v)), None)
                        points.append(hit if hit is not None else 0.0)
                        shown.append(f"{comp.name} {show(v)}")
                value, low, high, key, keys = sums.decide(points)
                decided = band_actions[key] if key is not UNDECIDED and key is not None \
                    else None
                pending = () if key is not UNDECIDED else tuple(band_actions[k] for k in keys)
                note = None
                if value is None:
                    note = "undetermined"
                    if asks:
                        note += "; " + " and ".join(asks) + " would decide it"
                return ScoreOutcome(value, low, high, facts, decided, pending, text,
                                    "; ".join(shown), note)

            def compute(env: Env) -> ScoreOutcome:
                values = tuple(src(env) for _, src, _, _ in comps)
                return from_values(values, _NO_FACTS.union(
                    *(v.paths for v in values if isinstance(v, Unknown))))

        def thunk(env: Env) -> ScoreOutcome:
            cache = env.cache if local else env.root.cache
            key = -nid
            try:
                out: ScoreOutcome = cache[key]
            except KeyError:
                out = cache[key] = compute(env)
            return out

        def as_value(env: Env) -> Any:
            out = thunk(env)
            if out.value is not None:
                return out.value
            if out.facts:  # undetermined: some input is missing; its totals are known
                return Bounded(out.facts, out.low, out.high)
            return Unknown(out.facts)
        self.compiler.score_thunks[nid] = as_value
        return ScorePlan(s, thunk, self.order, from_values)


def _cited(items: list[n.Item] | tuple[n.Item, ...]) -> Iterator[n.Action | n.Score]:
    """Every node that cites: rules' actions, scores, and the actions of their arms."""
    for item in items:
        if isinstance(item, n.Rule):
            yield from item.actions
        elif isinstance(item, n.Score):
            yield item
            yield from (arm.action for arm in (*item.arms, *item.bands)
                        if arm.action is not None)
        elif isinstance(item, n.For):
            yield from _cited(item.items)


def _always(env: Env) -> Any:
    return True


def _negate(inner: Thunk) -> Thunk:
    return lambda env: k_not(inner(env))


def _conjunction(parts: tuple[Thunk, ...]) -> Thunk:
    return kleene(list(parts), False)


# ---------------------------------------------------------------------- running


class _Run:
    """Accumulates one evaluation's outputs."""

    def __init__(self, plan: Plan, checked: Checked, tracing: bool) -> None:
        self.plan = plan
        self.checked = checked
        self.tracing = tracing
        self.recs: list[tuple[int, int, Recommendation]] = []
        self.requests: list[tuple[int, MissingData]] = []
        # undetermined rules, one entry per rule (its loop elements summed up): the facts
        # that would decide it, as a set, and its codes
        self.undecided: dict[tuple[str, str], tuple[set[str], tuple[str, ...]]] = {}
        # rules (and scores) that need facts not recorded, and their citations (``assume``)
        self.needed: dict[tuple[str, str], tuple[set[str], tuple[n.Citation, ...]]] = {}
        self.scores: dict[str, ScoreResult] = {}
        self.conflicts: list[Conflict] = []
        self.outcomes: list[RuleOutcome] = []
        self.seq = 0
        self.snapshots: Iterator[tuple[dict[Any, Any], dict[Any, Any]]] | None = None
        self.whens: tuple[Any, ...] | None = None  # the invariants' `when`s, if generated
        self.summaries: dict[frozenset[str], tuple[str, ...]] = {}  # (``trace_facts``)
        self.patterns: dict[str, str] = {}  # a fact -> its list elements summed up

    def take(self, key: int, index: int) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """The precomputed values of the block instance about to run, if in step."""
        if self.snapshots is not None:
            try:
                snap = next(self.snapshots, None)
            except (EvaluationError, BudgetExceededError, RecursionError):
                snap = None  # (generated code stopped: the closures go on, and meet the
                # error if a decision needs the part that raised it)
            if snap is not None and snap[0][MARK] == (key, index):
                return snap
            self.snapshots = None  # out of step, or stopped: closures from here on
        return NO_VALUES, NO_VALUES

    def cites(self, cs: tuple[n.Citation, ...]) -> tuple[Citation, ...]:
        try:
            return self.plan.cited_by_id[id(cs)]
        except KeyError:  # (an equal list held by another node)
            return self.plan.cited[cs]

    def emit(self, action: n.Action, rule_id: str, span_loc: str, because: tuple[Because, ...],
             order: int, cites: tuple[n.Citation, ...], against: tuple[n.Citation, ...],
             pending: tuple[str, ...] = ()) -> None:
        self.seq += 1
        rec = recommendation(action.code, action.kind, action.strength, action.urgency,
                             action.text, rule_id, span_loc, self.cites(cites), because,
                             self.cites(against), pending)
        self.recs.append((order, self.seq, rec))
        if against:
            self.conflicts.append(Conflict(
                kind="sources_disagree", code=action.code,
                detail=f"`{action.code}`: the cited sources are not unanimous; both sides "
                       "are shown",
                rules=(rule_id,), supporting=rec.citations, opposing=rec.against))

    def block(self, block: BlockPlan, env: Env, binding: tuple[Because, ...],
              suffix: str, index: int = 0) -> None:
        shown: list[tuple[str, Any, bool]] = []
        details: _Details | None = None
        becauses: list[Because | None] = []
        decided: dict[Any, Any] = NO_VALUES
        if self.tracing:
            vals, decided = self.take(block.key, index)
            env.vals = vals  # (kept by the trace's explanations; ``decided`` is let go)
            if block is self.plan.block and decided:
                self.whens = decided.get(WHENS)
        for sp in block.scores:
            inputs = decided.get((sp.score.nid, SCORE_INPUTS)) if decided else None
            if inputs is not None:  # (generated code's, as for ``replay``)
                self.scored(sp, sp.from_values(*inputs), binding, suffix)
            else:
                self.score(sp, env, binding, suffix)
        if self.tracing:  # every atom of the block, each shown once
            rows = decided.get(ROWS)  # (as generated code shows them), or:
            if rows is not None:
                shown = rows
            else:
                vals, top = env.vals, env.root.vals
                # (a truth value shows as itself: ``show_value`` is not called for it; a
                # top-level define's node in a loop is in the top level's values)
                shown = [(t, v if (v := vals[k] if k in vals else top[k] if k in top
                                   else value(env)).__class__ is bool and plain else show(v),
                          p) for t, k, show, p, value, plain in block.rows]
            details = _Details(block.slots, env)  # (made when a rule's are first read)
            becauses = [None] * len(shown)  # made as rules fire, shared between them
        for rp in block.rules:
            if decided and rp.rule.nid in decided:  # decided, facts named, by generated code
                self.traced_rule(rp, env, decided, binding, shown, details, becauses)
            else:
                self.rule(rp, env, binding, shown, details, becauses)
        for lp in block.loops:
            items = lp.source(env)
            if isinstance(items, Unknown):
                for rp in _all_rules(lp.block):
                    self.undetermine(rp.rule.rule_id, rp.location, items.paths, rp.codes)
                    self.assume(rp.rule.rule_id, rp.location, items.paths, rp.cites)
                continue
            base = lp.path(env)
            for i, item in enumerate(items):
                env.step()
                path = f"{base}[{i}]"
                child = env.child(lp.loop.var, item, path)
                self.block(lp.block, child, (*binding, because_line(lp.loop.var, path)),
                           "" if i == 0 and not suffix else f"{suffix}@{path}", i)

    def replay(self, events: list[Event]) -> tuple[Any, ...] | None:
        """The result of generated code's events (``outcomes``), as the closures' walk
        (``block``) builds it; returns the values of the invariants' `when`s."""
        plan = self.plan
        rules, cache = plan.rules, plan.bindings
        invariants = None
        for ev in events:
            tag = ev[0]
            if tag == FIRED:
                bind = ev[2]
                self.fired(rules[ev[1]], _binding(bind, cache) if bind else (), ev[3], ev[4],
                           ev[5])
            elif tag == UNDETERMINED:
                rp = rules[ev[1]]
                rule_id, facts = rp.rule.rule_id, ev[3]
                self.undetermine(rule_id, rp.location, facts, rp.codes)
                self.assume(rule_id, rp.location, facts, rp.cites)
            elif tag == ASSUMED:
                rp = rules[ev[1]]
                self.assume(rp.rule.rule_id, rp.location, ev[3], rp.cites)
            elif tag == SCORED:
                sp = plan.scores[ev[1]]
                bind = ev[2]
                self.scored(sp, sp.from_values(ev[4], ev[5]),
                            _binding(bind, cache) if bind else (), ev[3])
            elif tag == NO_LIST:
                for rp in _all_rules(plan.loops[ev[1]].block):
                    self.undetermine(rp.rule.rule_id, rp.location, ev[3], rp.codes)
                    self.assume(rp.rule.rule_id, rp.location, ev[3], rp.cites)
            else:
                invariants = ev[1]
        return invariants

    def fired(self, rp: RulePlan, binding: tuple[Because, ...], shown: tuple[Any, ...],
              assumed: frozenset[str] | None, requested: frozenset[str] | None) -> None:
        """A rule that fired (``replay``), with the values of its atoms (``shown``):
        ``rule`` with the trace off, for a true condition. ``assumed``: the facts it fired
        without, reading their absence as "no" (its strict reading is unknown on them);
        ``requested``: those its request asks for."""
        try:
            lines = rp.becauses[shown]
        except KeyError:
            if len(rp.becauses) >= _KEEP_BECAUSE:
                rp.becauses.clear()
            lines = rp.becauses[shown] = tuple(
                a.because(v) for a, v in zip(rp.atoms, shown, strict=True))
        except TypeError:  # (a value that cannot be a key)
            lines = tuple(a.because(v) for a, v in zip(rp.atoms, shown, strict=True))
        because = (*binding, *lines) if binding else lines
        rule = rp.rule
        for action in rule.actions:
            if action.kind == "request":
                self.requests.append((rp.order, MissingData(
                    code=action.code, text=action.text,
                    facts=tuple(sorted(requested)) if requested else (),
                    waiting=(), rule=rule.rule_id, location=rp.location,
                    citations=self.cites(action.cites))))
            else:
                if assumed:
                    self.assume(rule.rule_id, rp.location, assumed, rp.cites)
                self.emit(action, rule.rule_id, rp.location, because, rp.order, action.cites,
                          action.against, tuple(sorted(assumed)) if assumed else ())

    def trace_facts(self, paths: frozenset[str]) -> tuple[str, ...]:
        """The facts a trace shows for one outcome: all of them when few; else with the
        elements of each list summed up (`fractures[*].height_loss_pct`), so that a rule
        of a loop that depends on every element does not list every element's facts for
        each element (the trace would grow with the square of the list). Kept per set of
        facts: the elements of a loop mostly share theirs."""
        if len(paths) <= _TRACE_FACTS:
            return tuple(sorted(paths))
        shown = self.summaries.get(paths)
        if shown is None:
            patterns = self.patterns
            for p in paths.difference(patterns):
                patterns[p] = _ANY_INDEX.sub("[*]", p)
            shown = self.summaries[paths] = tuple(sorted(set(map(patterns.__getitem__,
                                                                 paths))))
        return shown

    def assume(self, rule: str, location: str, facts: frozenset[str],
               cites: tuple[n.Citation, ...]) -> None:
        """Note facts a rule needs that are not recorded: it is undetermined, or decided
        (fired or not) only by reading their absence as "no". The engine asks for those
        that no request of the guideline asks for (``finish``)."""
        key = (rule, location)
        entry = self.needed.get(key)
        if entry is None:
            self.needed[key] = (set(facts), cites)
        else:
            entry[0].update(facts)

    def undetermine(self, rule: str, location: str, facts: frozenset[str],
                    codes: tuple[str, ...]) -> None:
        """Note an undetermined rule (or score). A rule in a loop is undetermined for some
        elements: it gets one entry, with the facts of all of them, so that the result
        grows with the record, not with the elements times the facts they share."""
        key = (rule, location)
        entry = self.undecided.get(key)
        if entry is None:
            self.undecided[key] = (set(facts), codes)
        else:
            entry[0].update(facts)
            if codes != entry[1]:  # (a score's pending codes differ between elements)
                self.undecided[key] = (entry[0], tuple(dict.fromkeys((*entry[1], *codes))))

    def undetermined(self) -> tuple[Undetermined, ...]:
        return tuple(Undetermined(rule=rule, location=location, facts=tuple(sorted(facts)),
                                  codes=codes)
                     for (rule, location), (facts, codes) in self.undecided.items())

    def score(self, sp: ScorePlan, env: Env, binding: tuple[Because, ...], suffix: str) -> None:
        self.scored(sp, sp.thunk(env), binding, suffix)

    def scored(self, sp: ScorePlan, out: ScoreOutcome, binding: tuple[Because, ...],
               suffix: str) -> None:
        s = sp.score
        name = s.name + (suffix if suffix else "")
        self.scores[name] = ScoreResult(name=name, value=out.value, low=out.low, high=out.high,
                                        facts=tuple(sorted(out.facts)), note=out.note)
        because = (*binding, Because(expression=out.input_text, value=out.input_value))
        if out.value is not None:
            because = (*because, Because(expression=s.name, value=show_value(out.value)))
        if out.action is not None:
            self.emit(out.action, s.name, s.span.location(), because, sp.order, s.cites,
                      s.against)
        elif out.pending:
            self.undetermine(s.name, s.span.location(), out.facts,
                             tuple(dict.fromkeys(a.code for a in out.pending)))
            self.assume(s.name, s.span.location(), out.facts, s.cites)
        if self.tracing:
            status = "fire" if out.action else "unknown" if out.pending else "skip"
            self.outcomes.append(RuleOutcome(
                rule=s.name, location=s.span.location(), status=status,
                codes=tuple(a.code for a in (*(arm.action for arm in (*s.arms, *s.bands)
                                               if arm.action),)),
                facts=self.trace_facts(out.facts),
                atoms=tuple((b.expression, b.value, True) for b in because), binding=binding))

    def rule(self, rp: RulePlan, env: Env, binding: tuple[Because, ...],
             shown: list[tuple[str, Any, bool]], details: _Details | None,
             becauses: list[Because | None]) -> None:
        """Run one rule by the closures (``traced_rule`` when generated code decided it);
        when tracing, ``shown``, ``details`` and ``becauses`` are its block's atoms (the
        last filled in as rules fire)."""
        rule = rp.rule
        assumed: frozenset[str] = frozenset()  # facts the decision read as "no"
        value = rp.traced(env) if self.tracing and rp.traced is not None else rp.cond(env)
        if rp.strict is not None and not isinstance(value, Unknown) and (
                rp.checks is None or any(isinstance(c(env), Unknown) for c in rp.checks)):
            strict = rp.strict(env)
            if isinstance(strict, Unknown):
                assumed = strict.paths
                if value is not True:  # decided "no" only by reading absence as an answer
                    self.assume(rule.rule_id, rp.location, assumed, rp.cites)
        atoms: tuple[tuple[str, Any, bool], ...] = ()
        if self.tracing:
            atoms = rp.pick(shown)
        elif value is True:
            atoms = tuple((a.text, a.show(a.thunk(env)), a.polarity) for a in rp.atoms)
        if value is True:
            if self.tracing:
                for i in rp.slots:
                    if becauses[i] is None:
                        t, v, _ = shown[i]
                        becauses[i] = Because(expression=t, value=v)
                because = (*binding, *rp.pick(becauses))
            else:
                because = (*binding, *(Because(expression=t, value=v) for t, v, _ in atoms))
            self.act(rp, env, because, assumed)
        elif isinstance(value, Unknown):
            self.undetermine(rule.rule_id, rp.location, value.paths, rp.codes)
            self.assume(rule.rule_id, rp.location, value.paths, rp.cites)
        if self.tracing:
            status = "fire" if value is True else "unknown" if isinstance(value, Unknown) \
                else "skip"
            lines = _rule_lines(rp, details, env)
            self.outcomes.append(rule_outcome(
                rule.rule_id, rp.location, status, rp.codes,
                self.trace_facts(value.paths) if isinstance(value, Unknown) else (), atoms,
                binding, lines, lines))

    def act(self, rp: RulePlan, env: Env, because: tuple[Because, ...],
            assumed: frozenset[str]) -> None:
        """The actions of a rule that fired: its requests, and its codes emitted."""
        rule = rp.rule
        for action in rule.actions:
            if action.kind == "request":
                facts: set[str] = set()
                for probe in rp.probes:
                    pv = probe(env)
                    if isinstance(pv, Unknown):
                        facts |= pv.paths
                self.requests.append((rp.order, MissingData(
                    code=action.code, text=action.text, facts=tuple(sorted(facts)),
                    waiting=(), rule=rule.rule_id, location=rp.location,
                    citations=self.cites(action.cites))))
            else:
                if assumed:
                    self.assume(rule.rule_id, rp.location, assumed, rp.cites)
                self.emit(action, rule.rule_id, rp.location, because, rp.order,
                          action.cites, action.against, tuple(sorted(assumed)))

    def traced_rule(self, rp: RulePlan, env: Env, decided: dict[Any, Any],
                    binding: tuple[Because, ...], shown: list[tuple[str, Any, bool]],
                    details: _Details | None, becauses: list[Because | None]) -> None:
        """``rule`` for a trace, from generated code's snapshot of the block's rules
        (``TraceValues``): the rule's value, the facts behind it when unknown, the facts
        its decision assumed."""
        rule = rp.rule
        nid = rule.nid
        value = decided[nid]
        facts: tuple[str, ...] = ()
        if value is True:
            assumed = decided[nid, ASSUMED_FACTS] if rp.strict is not None else None
            for i in rp.slots:
                if becauses[i] is None:
                    t, v, _ = shown[i]
                    becauses[i] = because_line(t, v)
            self.act(rp, env, (*binding, *rp.pick(becauses)), assumed or frozenset())
            status = "fire"
        elif value is False:
            if rp.strict is not None:
                assumed = decided[nid, ASSUMED_FACTS]
                if assumed is not None:  # decided "no" only by reading absence as an answer
                    self.assume(rule.rule_id, rp.location, assumed, rp.cites)
            status = "skip"
        else:
            paths = decided[nid, FACTS]
            self.undetermine(rule.rule_id, rp.location, paths, rp.codes)
            self.assume(rule.rule_id, rp.location, paths, rp.cites)
            status, facts = "unknown", self.trace_facts(paths)
        lines = _rule_lines(rp, details, env)
        self.outcomes.append(rule_outcome(
            rule.rule_id, rp.location, status, rp.codes, facts, rp.pick(shown), binding,
            lines, lines))

    def finish(self, env: Env | None, when: tuple[Any, ...] | None = None
               ) -> tuple[tuple[Recommendation, ...], tuple[MissingData, ...]]:
        """Sort and merge; the invariants' `when`s are read from ``env`` by the closures,
        or are ``when`` (generated code's values, in the order of the invariants)."""
        recs = [r for _, _, r in sorted(
            self.recs, key=lambda x: (URGENCY_ORDER.get(x[2].urgency, 5), x[0], x[1]))]
        merged: dict[str, MissingData] = {}
        for _, m in sorted(self.requests, key=lambda x: x[0]):
            if m.code in merged:
                old = merged[m.code]
                merged[m.code] = attrs.evolve(old, facts=tuple(sorted({*old.facts, *m.facts})))
            else:
                merged[m.code] = m
        missing = []
        for m in merged.values():
            facts = set(m.facts)
            waiting = tuple(dict.fromkeys(
                rule for (rule, _), (facts_u, _) in self.undecided.items()
                if not facts.isdisjoint(facts_u)))
            missing.append(attrs.evolve(m, waiting=waiting))
        ask = self.ask(missing)
        fired = {r.code: r.rule for r in recs}
        fired.update({m.code: m.rule for m in missing})
        positive = {r.code: r.rule for r in recs if r.action in ("recommend", "consider")}
        for r in recs:
            if r.action == "advise_against" and r.code in positive:
                self.conflicts.append(Conflict(
                    kind="contradiction", code=r.code,
                    detail=f"`{r.code}` is both recommended and advised against",
                    rules=(positive[r.code], r.rule)))
        for k, ip in enumerate(self.plan.invariants):
            inv = ip.invariant
            if inv.mode == "always":
                # `always a or b when c`: a condition that holds for certain and none of the
                # codes recommended or requested breaks it; an undecided condition does not.
                if ip.when is not None and not any(c in fired for c in inv.codes) \
                        and _holds(ip, k, env, when):
                    self.conflicts.append(Conflict(
                        kind="invariant", code=inv.codes[0],
                        detail=f"invariant broken: {inv.name} (none of {', '.join(inv.codes)})"))
                continue
            if all(code in fired for code in inv.codes) and (
                    ip.when is None or _holds(ip, k, env, when)):
                self.conflicts.append(Conflict(
                    kind="invariant", code=inv.codes[0],
                    detail=f"invariant broken: {inv.name} ({' and '.join(inv.codes)})",
                    rules=tuple(fired[c] for c in inv.codes)))
        if ask is not None:
            missing.append(ask)
        return tuple(recs), tuple(missing)

    def ask(self, requested: list[MissingData]) -> MissingData | None:
        """The engine's own request: the facts some rule or score needs (``assume``) that
        no request of the guideline asks for, so that no decisive fact is left unasked."""
        asked = {f for m in requested for f in m.facts}
        facts: set[str] = set()
        waiting: list[str] = []
        cites: dict[str, Citation] = {}
        sources = self.plan.sources
        for (rule, _), (needs, cs) in self.needed.items():
            if needs <= asked:
                continue
            facts |= needs - asked
            waiting.append(rule)
            kept = sources.get(id(cs))
            if kept is None or kept[0] is not cs:  # (kept with the list: its id stays its)
                kept = sources[id(cs)] = (cs, {c.key: self.plan.citations[c.key] for c in cs})
            cites.update(kept[1])  # (a key seen before keeps its place: the same source)
        if not facts:
            return None
        return MissingData(
            code=ASK_CODE, text=ASK_TEXT, facts=tuple(sorted(facts)),
            waiting=tuple(dict.fromkeys(waiting)), rule="", location="",
            citations=tuple(cites.values()))


class _Details:
    """The details of a block's atoms ("x is 6 weeks; needs >= 12 weeks", or ""), made
    once, when the first of its rules' ``RuleOutcome.details`` is read."""

    __slots__ = ("env", "lines", "slots")

    def __init__(self, slots: tuple[Atom, ...], env: Env) -> None:
        self.slots = slots
        self.env = env
        self.lines: list[str] | None = None

    def get(self) -> list[str]:
        lines = self.lines
        if lines is None:
            env = self.env
            try:
                lines = [a.detail(env) if a.detail is not None else "" for a in self.slots]
            except (EvaluationError, BudgetExceededError, RecursionError):
                lines = [""] * len(self.slots)  # (the reasons say what went wrong)
            self.lines = lines
        return lines


class _RuleLines:
    """A traced rule's details and reasons (``trace.Later``), worked out when first read:
    both deferred fields of its ``RuleOutcome`` hold this one object (a trace makes one
    per rule and loop element)."""

    __slots__ = ("block", "env", "rp")
    rp: RulePlan
    block: _Details
    env: Env

    def details(self) -> tuple[str, ...]:
        return tuple(self.rp.pick(self.block.get()))

    def reasons(self) -> tuple[str, ...]:
        return tuple(_explain(self.rp.why, self.env))


_new = object.__new__
_SET_RP, _SET_BLOCK, _SET_ENV = (vars(_RuleLines)[f].__set__ for f in ("rp", "block", "env"))


def _rule_lines(rp: RulePlan, details: _Details | None, env: Env) -> _RuleLines:
    out = _new(_RuleLines)
    _SET_RP(out, rp)
    _SET_BLOCK(out, details)
    _SET_ENV(out, env)
    return out


def _explain(why: Callable[[Env], list[str]], env: Env) -> list[str]:
    """A rule's reasons (``RuleOutcome.reasons``), worked out when first read, after the
    evaluation: from the same values, with the step budget lifted (``run``). An error in a
    part that no condition needed to read becomes a line that says so."""
    try:
        return why(env)
    except (EvaluationError, BudgetExceededError, RecursionError) as exc:
        return [f"- (the explanation could not be worked out: {exc})"]


def _binding(bind: tuple[tuple[str, str], ...], cache: dict[tuple[str, str], Because]
             ) -> tuple[Because, ...]:
    """The ``because`` lines of a loop element's binding (``outcomes``' pairs), kept."""
    out = []
    for pair in bind:
        line = cache.get(pair)
        if line is None:
            if len(cache) >= _KEEP_BINDINGS:
                cache.clear()
            line = cache[pair] = Because(expression=pair[0], value=pair[1])
        out.append(line)
    return tuple(out)


def _holds(ip: InvariantPlan, k: int, env: Env | None, when: tuple[Any, ...] | None) -> bool:
    """Whether invariant ``ip`` (the ``k``-th) applies for certain."""
    if when is not None:
        return when[k] is True
    assert ip.when is not None and env is not None
    return ip.when(env) is True


#: ``_Run.rule``'s trace tables when there is no trace (never read)
_NONE: list[Any] = []


def _all_rules(block: BlockPlan) -> list[RulePlan]:
    out = list(block.rules)
    for lp in block.loops:
        out.extend(_all_rules(lp.block))
    return out


def run(plan: Plan, checked: Checked, record: Any, *, as_of: datetime.date,
        guideline_info: dict[str, Any] | Callable[[], dict[str, Any]],
        patient_id: str | None, trace: bool, budget: int,
        outcome: Outcome | None = None) -> Result:
    """Evaluate a plan against one record; with the trace off, from generated code's
    ``outcome`` (``Decisions``: given, or made here) when it could make it: the result's
    objects are then built when first read (``Result.later``). ``guideline_info``: the
    result's ``guideline``, or how to make it."""
    if outcome is None and not trace and plan.decisions is not None:
        outcome = plan.decisions(record, as_of, budget)
    if outcome is not None:
        return result_of(plan, checked, outcome, guideline_info, patient_id, as_of)
    state = _Run(plan, checked, trace)
    env = Env(record, as_of, budget)
    if trace and plan.values is not None:
        state.snapshots = plan.values(record, as_of, budget)
    state.block(plan.block, env, (), "")
    # (the invariants' `when`s from generated code only if it went all the way)
    recs, missing = state.finish(env, state.whens if state.snapshots is not None else None)
    if trace:  # the reasons are worked out when read (``_explain``): no budget left to hit
        env.root.budget = sys.maxsize
    return Result(
        guideline=guideline_info() if callable(guideline_info) else guideline_info,
        patient=patient_id, as_of=as_of.isoformat(),
        recommendations=recs, missing=missing, scores=dict(sorted(state.scores.items())),
        conflicts=tuple(state.conflicts), undetermined=state.undetermined(),
        trace=Trace(tuple(state.outcomes)) if trace else None,
    )


def result_of(plan: Plan, checked: Checked, outcome: Outcome,
              guideline_info: dict[str, Any] | Callable[[], dict[str, Any]],
              patient_id: str | None, as_of: datetime.date) -> Result:
    """The result of generated code's ``outcome``, its objects built when first read."""
    return Result.later(patient_id, _Pending(plan, checked, outcome, guideline_info, as_of))


class _Pending:
    """A result's evaluation (``Result.later``): generated code's events, made into the
    result's objects when first read."""

    __slots__ = ("as_of", "checked", "info", "outcome", "plan")

    def __init__(self, plan: Plan, checked: Checked, outcome: Outcome,
                 info: dict[str, Any] | Callable[[], dict[str, Any]],
                 as_of: datetime.date) -> None:
        self.plan, self.checked, self.outcome, self.info, self.as_of = \
            plan, checked, outcome, info, as_of

    def build(self) -> dict[str, Any]:
        state = _Run(self.plan, self.checked, False)
        recs, missing = state.finish(None, state.replay(self.outcome[0]))
        info = self.info
        return {"guideline": info() if callable(info) else info,
                "as_of": self.as_of.isoformat(), "recommendations": recs, "missing": missing,
                "scores": dict(sorted(state.scores.items())),
                "conflicts": tuple(state.conflicts), "undetermined": state.undetermined()}

    def codes(self) -> set[str]:
        return set(self.outcome[1])


def fast_codes(plan: Plan, record: Any, *, as_of: datetime.date, budget: int) -> frozenset[str]:
    """Only the codes emitted (recommend, consider, advise_against, warn, classify).

    The population-scale path: no result objects, no reasons, no citations.
    """
    env = Env(record, as_of, budget)
    out: set[str] = set()
    _fast_block(plan.block, env, out)
    return frozenset(out)


def _fast_block(block: BlockPlan, env: Env, out: set[str]) -> None:
    for sp in block.scores:
        outcome: ScoreOutcome = sp.thunk(env)
        if outcome.action is not None:
            out.add(outcome.action.code)
    for rp in block.rules:
        if rp.cond(env) is True:
            for action in rp.rule.actions:
                if action.kind != "request":
                    out.add(action.code)
    for lp in block.loops:
        items = lp.source(env)
        if isinstance(items, Unknown):
            continue
        base = lp.path(env)
        for i, item in enumerate(items):
            env.step()
            _fast_block(lp.block, env.child(lp.loop.var, item, f"{base}[{i}]"), out)
