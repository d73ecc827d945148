"""Consistency properties of a guideline, checked over generated patients (Hypothesis).

Each property searches for a patient that breaks it and, if one exists, shrinks it to a
minimal one, reported as patient JSON with the trace of the rules involved:

- ``deterministic``: the same record and date give byte-identical results, and the fast
  path gives the same codes;
- ``cited``: every emitted recommendation and request cites a source with a DOI, PMID or URL;
- ``no_contradiction``: no code is both recommended and advised against;
- ``invariants``: every declared ``invariant`` holds;
- ``monotone``: filling in a missing fact never changes a rule that was already decided
  (rules that test ``known``/``unknown`` are about missing data and are left out);
- ``local``: changing a fact that a rule does not read never changes that rule.

Example:
    >>> import spinerules
    >>> failures = check_properties(spinerules.load("vcf"), examples=50)
    >>> [f.name for f in failures]
    []
"""

from __future__ import annotations

import datetime
import json
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from spinerules.checker.check import DefineRef, FieldRef, ScoreRef
from spinerules.engine.result import ASK_CODE
from spinerules.lang import nodes as n
from spinerules.records.loader import dump_record
from spinerules.testing.strategies import _inner, _leaf, patients_for, records, thresholds_of

if TYPE_CHECKING:
    from spinerules.api import Guideline
    from spinerules.engine.result import Result

AS_OF = datetime.date(2026, 2, 18)
PROPERTIES = ("deterministic", "cited", "no_contradiction", "invariants", "monotone", "local")


@attrs.frozen(kw_only=True)
class PropertyFailure:
    """A property that does not hold, with the minimal patient that shows it."""

    name: str
    message: str
    patient: dict[str, Any]
    other: dict[str, Any] | None = None  # the changed patient, for monotone / local
    trace: str = ""

    def render(self) -> str:
        lines = [f"property `{self.name}` fails: {self.message}",
                 "minimal patient:", json.dumps(self.patient, indent=2, sort_keys=True)]
        if self.other is not None:
            lines += ["changed to:", json.dumps(self.other, indent=2, sort_keys=True)]
        if self.trace:
            lines += ["trace:", self.trace]
        return "\n".join(lines)


# ---------------------------------------------------------------------- record surgery

Path = tuple[Any, ...]  # attribute names and list indexes


def leaves(obj: Any, path: Path = ()) -> Iterator[tuple[Path, type, str, Any]]:
    """Every field of a record tree: (path, owner class, field name, value)."""
    for f in attrs.fields(type(obj)):
        value = getattr(obj, f.name)
        here = (*path, f.name)
        yield here, type(obj), f.name, value
        if isinstance(value, tuple):
            for i, item in enumerate(value):
                if attrs.has(type(item)):
                    yield from leaves(item, (*here, i))
        elif value is not None and attrs.has(type(value)):
            yield from leaves(value, here)


def replace(obj: Any, path: Path, value: Any) -> Any:
    """A copy of a record tree with the value at ``path`` replaced."""
    head, rest = path[0], path[1:]
    if isinstance(obj, tuple):
        items = list(obj)
        items[head] = replace(items[head], rest, value) if rest else value
        return tuple(items)
    if not rest:
        return attrs.evolve(obj, **{head: value})
    return attrs.evolve(obj, **{head: replace(getattr(obj, head), rest, value)})


def _value_strategy(owner: type, name: str, thresholds: Any) -> st.SearchStrategy[Any]:
    field = attrs.fields_dict(owner)[name]
    annotation = _inner(typing.get_type_hints(owner)[name])
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        elem = typing.get_args(annotation)[0]
        inner = records(elem, thresholds=thresholds) if attrs.has(elem) \
            else _leaf(elem, {}, frozenset())  # a list of enumeration members or values
        return st.lists(inner, max_size=2).map(tuple)
    if isinstance(annotation, type) and attrs.has(annotation):
        return records(annotation, thresholds=thresholds)
    return _leaf(annotation, field.metadata, thresholds.get((owner, name), frozenset()))


def _changed(base: st.SearchStrategy[Any], thresholds: Any,
             only_unknown: bool) -> st.SearchStrategy[tuple[Any, Any, tuple[type, str]]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[Any, Any, tuple[type, str]]:
        p = draw(base)
        spots = [(path, owner, name, v) for path, owner, name, v in leaves(p)
                 if (v is None) == only_unknown or (not only_unknown and v is None)]
        if not only_unknown:
            spots = [s for s in spots if not isinstance(s[3], tuple)
                     and not attrs.has(type(s[3]))]
        if not spots:
            return p, p, (object, "")
        path, owner, name, old = draw(st.sampled_from(spots))
        new = draw(_value_strategy(owner, name, thresholds))
        if not only_unknown and new == old:
            new = None if old is not None else new
        return p, replace(p, path, new), (owner, name)
    return build()


# ---------------------------------------------------------------------- static reads


def _reads(guideline: Guideline) -> tuple[dict[str, set[tuple[type, str]]], set[str]]:
    """Per rule id: the (record class, field) pairs it may read; and rules using `known`."""
    checked = guideline.checked
    from spinerules.checker import typesys as ts

    reads: dict[str, set[tuple[type, str]]] = {}
    meta: set[str] = set()
    loop_types: dict[str, ts.Type] = {}

    def collect(x: Any, out: set[tuple[type, str]], flags: list[bool], seen: set[int]) -> None:
        if isinstance(x, n.IsKnown):
            flags[0] = True
        if isinstance(x, n.For | n.Quantifier):
            t = checked.types.get(x.source.nid)
            if isinstance(t, ts.ListT):
                loop_types[x.var] = t.elem
        if isinstance(x, n.Path):
            rt: ts.Type | None
            ref = checked.refs.get(x.nid)
            if isinstance(ref, FieldRef):
                rt = ts.RecordT(checked.record) if ref.root == "patient" \
                    else loop_types.get(ref.root)
                for name in ref.fields:
                    if not isinstance(rt, ts.RecordT):
                        break
                    out.add((rt.cls, name))
                    rt = ts.record_fields(rt.cls)[name].type
                    if isinstance(rt, ts.ListT):
                        rt = rt.elem
            elif isinstance(ref, DefineRef) and ref.nid not in seen:
                seen.add(ref.nid)
                collect(checked.defines[ref.nid].expr, out, flags, seen)
            elif isinstance(ref, ScoreRef) and ref.nid not in seen:
                seen.add(ref.nid)
                collect(checked.scores[ref.nid], out, flags, seen)
        if isinstance(x, n.Node):
            for f in attrs.fields(type(x)):
                if f.name not in ("nid", "span"):
                    collect(getattr(x, f.name), out, flags, seen)
        elif isinstance(x, tuple):
            for y in x:
                collect(y, out, flags, seen)

    def walk(items: Any, context: set[tuple[type, str]], ctx_flag: bool) -> None:
        for item in items:
            if isinstance(item, n.For):
                inner: set[tuple[type, str]] = set(context)
                flags = [ctx_flag]
                collect(item.source, inner, flags, set())
                t = checked.types.get(item.source.nid)
                if isinstance(t, ts.ListT):
                    loop_types[item.var] = t.elem
                walk(item.items, inner, flags[0])
            elif isinstance(item, n.Rule | n.Score):
                out = set(context)
                flags = [ctx_flag]
                collect(item if isinstance(item, n.Score) else (item.when, item.unless),
                        out, flags, set())
                key = item.rule_id if isinstance(item, n.Rule) else item.name
                reads.setdefault(key, set()).update(out)
                if flags[0]:
                    meta.add(key)

    walk(list(checked.program.items()), set(), False)
    return reads, meta


# ---------------------------------------------------------------------- the properties


def _render(result: Result) -> str:
    return result.trace.render() if result.trace is not None else ""


def _outcomes(result: Result) -> dict[tuple[str, tuple[str, ...]], str]:
    assert result.trace is not None
    return {(o.rule, tuple(str(b.value) for b in o.binding)): o.status
            for o in result.trace.outcomes}


def around(seeds: Sequence[Any], thresholds: Any, changes: int = 3
           ) -> st.SearchStrategy[Any]:
    """Records near the ``seeds``: one of them with up to ``changes`` facts redrawn (or made
    unknown). Seeds built to satisfy a rule, an invariant's codes or an MC/DC pair (``spinerules
    test --properties --aimed`` asks the solver for them) put the search where a deep
    conjunction holds, which uniform drawing almost never reaches; the changes explore the
    narrow bands around it."""
    @st.composite
    def build(draw: st.DrawFn) -> Any:
        p = draw(st.sampled_from(list(seeds)))
        for _ in range(draw(st.integers(0, changes))):
            spots = [(path, owner, name) for path, owner, name, v in leaves(p)
                     if not isinstance(v, tuple) and not attrs.has(type(v))]
            if not spots:
                break
            path, owner, name = draw(st.sampled_from(spots))
            p = replace(p, path, draw(st.none() | _value_strategy(owner, name, thresholds)))
        return p
    return build()


def check_properties(guideline: Guideline, *, examples: int = 2000,
                     as_of: datetime.date = AS_OF, names: tuple[str, ...] = PROPERTIES,
                     derandomize: bool = True, seeds: Sequence[Any] = ()
                     ) -> list[PropertyFailure]:
    """Search for patients that break each property; returns the failures (empty: all hold).

    ``seeds``: records (instances or JSON) built for ``as_of``: each single-record property
    tries them first, one by one, as explicit examples (they count against ``examples``),
    then draws the rest of its examples half uniformly, half near a seed (:func:`around`)."""
    g = guideline
    thresholds = thresholds_of(g)
    base = patients_for(g)
    loaded: list[Any] = []
    if seeds:
        from spinerules.records.loader import load_record

        loaded = [s if isinstance(s, g.record_type) else load_record(g.record_type, s)
                  for s in seeds]
        base = st.one_of(base, around(loaded, thresholds))
    config = settings(max_examples=examples, database=None, derandomize=derandomize,
                      deadline=None, suppress_health_check=list(HealthCheck))
    # what is left of the budget once the seeds have been tried one by one
    rest = settings(config, max_examples=max(1, examples - len(loaded)))
    failures: list[PropertyFailure] = []

    def evaluate(p: Any) -> Result:
        return g.evaluate(p, as_of=as_of, trace=True)

    def single(name: str, broken: Callable[[Any], str | None]) -> None:
        # the seeds first, as explicit examples (they count against ``examples``)
        p = next((s for s in loaded[:examples] if broken(s) is not None), None)
        if p is None:
            try:
                p = find(base, lambda p: broken(p) is not None, settings=rest)
            except NoSuchExample:
                return
        message = broken(p) or ""
        failures.append(PropertyFailure(name=name, message=message, patient=dump_record(p),
                                        trace=_render(evaluate(p))))

    def deterministic(p: Any) -> str | None:
        a, b = g.evaluate(p, as_of=as_of).dumps(), g.evaluate(p, as_of=as_of).dumps()
        if a != b:
            return "two evaluations of the same record differ"
        fast, full = g.codes(p, as_of=as_of), g.evaluate(p, as_of=as_of).codes()
        if fast != full:
            return f"fast path {sorted(fast ^ full)} differs from the full evaluation"
        return None

    def cited(p: Any) -> str | None:
        r = g.evaluate(p, as_of=as_of)
        emitted = [(x.code, x.rule, x.citations) for x in r.recommendations]
        # (the engine's own request cites the sources of the rules waiting on it)
        emitted += [(m.code, m.rule, m.citations) for m in r.missing if m.code != ASK_CODE]
        for code, rule, citations in emitted:
            if not any(c.doi or c.pmid or c.url for c in citations):
                return f"`{code}` (rule {rule}) has no citation with a DOI, PMID or URL"
        return None

    def conflict(kind: str) -> Callable[[Any], str | None]:
        def broken(p: Any) -> str | None:
            for c in g.evaluate(p, as_of=as_of).conflicts:
                if c.kind == kind:
                    return f"{c.detail} (rules {', '.join(c.rules)})"
            return None
        return broken

    if "deterministic" in names:
        single("deterministic", deterministic)
    if "cited" in names:
        single("cited", cited)
    if "no_contradiction" in names:
        single("no_contradiction", conflict("contradiction"))
    if "invariants" in names:
        single("invariants", conflict("invariant"))

    reads, meta = _reads(g)

    def pair(name: str, strategy: st.SearchStrategy[Any],
             compare: Callable[[Any], str | None]) -> None:
        try:
            found = find(strategy, lambda t: compare(t) is not None, settings=config)
        except NoSuchExample:
            return
        p, q, _ = found
        failures.append(PropertyFailure(
            name=name, message=compare(found) or "", patient=dump_record(p),
            other=dump_record(q), trace=_render(evaluate(q))))

    def monotone(t: tuple[Any, Any, tuple[type, str]]) -> str | None:
        p, q, _ = t
        before, after = _outcomes(evaluate(p)), _outcomes(evaluate(q))
        for key, status in before.items():
            if key[0] in meta or status == "unknown":
                continue
            if key in after and after[key] != status:
                return (f"rule {key[0]} was `{status}` and became `{after[key]}` when a "
                        "missing fact was filled in")
        return None

    def local(t: tuple[Any, Any, tuple[type, str]]) -> str | None:
        p, q, field = t
        before, after = _outcomes(evaluate(p)), _outcomes(evaluate(q))
        for key, status in before.items():
            if field in reads.get(key[0], set()) or key not in after:
                continue
            if after[key] != status:
                return (f"rule {key[0]} changed from `{status}` to `{after[key]}` when "
                        f"`{field[0].__name__}.{field[1]}`, which it does not read, changed")
        return None

    if "monotone" in names:
        pair("monotone", _changed(base, thresholds, only_unknown=True), monotone)
    if "local" in names:
        pair("local", _changed(base, thresholds, only_unknown=False), local)
    return failures
