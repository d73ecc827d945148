"""The peer engines: render ``ruleset.RULES`` into each one's language, and run it.

Every peer gets one expression per rule, compiled once, and is run the way its documentation
suggests: rule-engine ``Rule.matches``, CEL (celpy) ``Environment.program(...).evaluate``,
ZEN compiled expressions (``zen.compile_expression``) or one decision graph with an
expression node (``ZenEngine.create_decision``), JSON-logic ``jsonLogic(rule, data)``.

Null semantics differ between engines (rule-engine and ZEN raise on ``null > 3``, celpy
raises on an absent key and on ``1 != null``, JSON-logic reads ``null`` as ``0`` so
``null < 7`` is true), so every leaf carries the guard a careful user writes by hand; see
``ruleset.py`` for how a condition C is rendered as "C is definitely true".

A missing engine is skipped (``Peer.problem`` says why), so the benchmark still runs
without the optional packages (``pip install -r benchmarks/requirements.txt``).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruleset import RULES, And, Any_, Cmp, Fact, In, Known, Not, Or, PeerRule

NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


class Renderer:
    """Renders T(C) ("C is definitely true") and F(C) ("definitely false") for one engine.

    ``scope`` is None at patient level, or the element variable inside a quantifier.
    """

    def t(self, node: Any, scope: str | None = None) -> Any:
        if isinstance(node, Fact):
            return self.is_bool(node.path, scope, True)
        if isinstance(node, Cmp):
            if isinstance(node.value, bool):
                truth = node.value if node.op == "==" else not node.value
                return self.is_bool(node.path, scope, truth)
            return self.cmp(node.path, scope, node.op, node.value)
        if isinstance(node, In):
            return self.member(node.path, scope, node.values, True)
        if isinstance(node, Known):
            return self.known(node.path, scope, True)
        if isinstance(node, And):
            return self.conj([self.t(p, scope) for p in node.parts])
        if isinstance(node, Or):
            return self.disj([self.t(p, scope) for p in node.parts])
        if isinstance(node, Not):
            return self.f(node.part, scope)
        if isinstance(node, Any_):
            return self.some(node.path, scope, self.t(node.cond, self.element))
        raise TypeError(node)

    def f(self, node: Any, scope: str | None = None) -> Any:
        if isinstance(node, Fact):
            return self.is_bool(node.path, scope, False)
        if isinstance(node, Cmp):
            if isinstance(node.value, bool):
                truth = node.value if node.op == "==" else not node.value
                return self.is_bool(node.path, scope, not truth)
            return self.cmp(node.path, scope, NEGATE[node.op], node.value)
        if isinstance(node, In):
            return self.member(node.path, scope, node.values, False)
        if isinstance(node, Known):
            return self.known(node.path, scope, False)
        if isinstance(node, And):
            return self.disj([self.f(p, scope) for p in node.parts])
        if isinstance(node, Or):
            return self.conj([self.f(p, scope) for p in node.parts])
        if isinstance(node, Not):
            return self.t(node.part, scope)
        if isinstance(node, Any_):
            return self.every(node.path, scope, self.f(node.cond, self.element))
        raise TypeError(node)

    element = "f"

    # the primitives each engine defines
    def known(self, path: tuple[str, ...], scope: str | None, present: bool) -> Any: ...
    def is_bool(self, path: tuple[str, ...], scope: str | None, value: bool) -> Any: ...
    def cmp(self, path: tuple[str, ...], scope: str | None, op: str, value: Any) -> Any: ...
    def member(self, path: tuple[str, ...], scope: str | None, values: tuple[str, ...],
               positive: bool) -> Any: ...
    def conj(self, parts: list[Any]) -> Any: ...
    def disj(self, parts: list[Any]) -> Any: ...
    def some(self, path: tuple[str, ...], scope: str | None, inner: Any) -> Any: ...
    def every(self, path: tuple[str, ...], scope: str | None, inner: Any) -> Any: ...


class TextRenderer(Renderer):
    """Infix languages: rule-engine, CEL and ZEN differ only in a few spellings."""

    AND, OR, NOT, TRUE, FALSE, NULL = " and ", " or ", "not ", "true", "false", "null"

    def ref(self, path: tuple[str, ...], scope: str | None) -> str:
        return ".".join(path) if scope is None else f"{scope}.{'.'.join(path)}"

    def lit(self, value: Any) -> str:
        return f"'{value}'" if isinstance(value, str) else repr(value)

    def known(self, path: tuple[str, ...], scope: str | None, present: bool) -> str:
        return f"{self.ref(path, scope)} {'!=' if present else '=='} {self.NULL}"

    def is_bool(self, path: tuple[str, ...], scope: str | None, value: bool) -> str:
        return f"{self.ref(path, scope)} == {self.TRUE if value else self.FALSE}"

    def cmp(self, path: tuple[str, ...], scope: str | None, op: str, value: Any) -> str:
        r = self.ref(path, scope)
        return f"({self.known(path, scope, True)}{self.AND}{r} {op} {self.lit(value)})"

    def member(self, path: tuple[str, ...], scope: str | None, values: tuple[str, ...],
               positive: bool) -> str:
        r = self.ref(path, scope)
        inside = f"{r} in [{', '.join(self.lit(v) for v in values)}]"
        if positive:  # `null in [...]` is false in every engine that allows it
            return inside
        return f"({self.known(path, scope, True)}{self.AND}{self.NOT}({inside}))"

    def conj(self, parts: list[str]) -> str:
        return "(" + self.AND.join(parts) + ")"

    def disj(self, parts: list[str]) -> str:
        return "(" + self.OR.join(parts) + ")"


class RuleEngineRenderer(TextRenderer):
    def some(self, path: tuple[str, ...], scope: str | None, inner: str) -> str:
        r = self.ref(path, scope)
        return f"({r} != null and $any([{inner} for f in {r}]))"

    def every(self, path: tuple[str, ...], scope: str | None, inner: str) -> str:
        r = self.ref(path, scope)
        return f"({r} != null and $all([{inner} for f in {r}]))"


class CelRenderer(TextRenderer):
    """CEL: absent keys are tested with ``has()``; the record is bound to ``p``; numbers are
    doubles (celpy has no int/double comparison)."""

    AND, OR, NOT = " && ", " || ", "!"

    def has(self, r: str) -> str:
        return f"has({r})"

    def ref(self, path: tuple[str, ...], scope: str | None) -> str:
        return f"{scope or 'p'}.{'.'.join(path)}"

    def lit(self, value: Any) -> str:
        return f'"{value}"' if isinstance(value, str) else repr(float(value))

    def known(self, path: tuple[str, ...], scope: str | None, present: bool) -> str:
        test = self.has(self.ref(path, scope))
        return test if present else f"!{test}"

    def is_bool(self, path: tuple[str, ...], scope: str | None, value: bool) -> str:
        r = self.ref(path, scope)
        return f"({self.has(r)} && {'' if value else '!'}{r})"

    def member(self, path: tuple[str, ...], scope: str | None, values: tuple[str, ...],
               positive: bool) -> str:
        r = self.ref(path, scope)
        inside = f"{r} in [{', '.join(self.lit(v) for v in values)}]"
        return f"({self.has(r)} && {inside if positive else f'!({inside})'})"

    def some(self, path: tuple[str, ...], scope: str | None, inner: str) -> str:
        r = self.ref(path, scope)
        return f"({self.has(r)} && {r}.exists(f, {inner}))"

    def every(self, path: tuple[str, ...], scope: str | None, inner: str) -> str:
        r = self.ref(path, scope)
        return f"({self.has(r)} && {r}.all(f, {inner}))"


class CelCompiledRenderer(CelRenderer):
    """The same rules for celpy's CompiledRunner, whose ``has()`` returns a Python ``bool``
    that its ``&&``, ``!`` and ``?:`` reject (celpy 0.5.0); ``has(x) == true`` is a CEL bool."""

    def has(self, r: str) -> str:
        return f"(has({r}) == true)"


class ZenRenderer(TextRenderer):
    """ZEN: ``#`` is the element inside ``some``/``all``; member access is null-safe."""

    element = "#"

    def ref(self, path: tuple[str, ...], scope: str | None) -> str:
        return ".".join(path) if scope is None else f"#.{'.'.join(path)}"

    def some(self, path: tuple[str, ...], scope: str | None, inner: str) -> str:
        r = self.ref(path, scope)
        return f"({r} != null and some({r}, {inner}))"

    def every(self, path: tuple[str, ...], scope: str | None, inner: str) -> str:
        r = self.ref(path, scope)
        return f"({r} != null and all({r}, {inner}))"


class JsonLogicRenderer(Renderer):
    """JSON-logic: inside ``some``/``none`` the data is the element. Guards use ``!==``
    (loose ``!=`` treats null as 0 in panzi-json-logic)."""

    def ref(self, path: tuple[str, ...], scope: str | None) -> dict[str, Any]:
        return {"var": ".".join(path)}

    def known(self, path: tuple[str, ...], scope: str | None, present: bool) -> Any:
        return {"!==" if present else "===": [self.ref(path, scope), None]}

    def is_bool(self, path: tuple[str, ...], scope: str | None, value: bool) -> Any:
        return {"===": [self.ref(path, scope), value]}

    def cmp(self, path: tuple[str, ...], scope: str | None, op: str, value: Any) -> Any:
        op = {"==": "===", "!=": "!=="}.get(op, op)
        return {"and": [self.known(path, scope, True), {op: [self.ref(path, scope), value]}]}

    def member(self, path: tuple[str, ...], scope: str | None, values: tuple[str, ...],
               positive: bool) -> Any:
        inside = {"in": [self.ref(path, scope), list(values)]}
        if positive:
            return inside
        return {"and": [self.known(path, scope, True), {"!": inside}]}

    def conj(self, parts: list[Any]) -> Any:
        return {"and": parts}

    def disj(self, parts: list[Any]) -> Any:
        return {"or": parts}

    def some(self, path: tuple[str, ...], scope: str | None, inner: Any) -> Any:
        return {"some": [self.ref(path, scope), inner]}  # `some` of null is false

    def every(self, path: tuple[str, ...], scope: str | None, inner: Any) -> Any:
        # JSON-logic's `all` of an empty list is false, so "every element" is "none fails"
        return {"and": [self.known(path, scope, True),
                        {"none": [self.ref(path, scope), {"!": inner}]}]}


# ---------------------------------------------------------------------------------------


@dataclass
class Peer:
    """One engine, ready to run: ``convert`` (untimed) then ``run`` (timed) per record."""

    name: str
    package: str
    version: str | None = None
    convert: Callable[[dict[str, Any]], Any] | None = None
    run: Callable[[Any], set[str]] | None = None
    rules: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)
    problem: str | None = None
    note: str = ""

    def source_size(self) -> int:
        """Characters of rule text the user writes (JSON for JSON-logic)."""
        return sum(len(r if isinstance(r, str) else json.dumps(r)) for _, r in self.rules)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _render(renderer: Renderer, rules: tuple[PeerRule, ...] = RULES
            ) -> list[tuple[tuple[str, ...], Any]]:
    return [(r.codes, renderer.t(r.cond)) for r in rules]


def rule_engine_peer() -> Peer:
    peer = Peer("rule-engine", "rule-engine", _version("rule-engine"))
    try:
        import rule_engine
    except ImportError as exc:
        peer.problem = f"not installed ({exc})"
        return peer
    peer.rules = _render(RuleEngineRenderer())
    context = rule_engine.Context(default_value=None)  # absent keys read as null
    compiled = [(codes, rule_engine.Rule(text, context=context)) for codes, text in peer.rules]

    def run(data: Any) -> set[str]:
        out: set[str] = set()
        for codes, rule in compiled:
            if rule.matches(data):
                out.update(codes)
        return out

    peer.convert, peer.run = (lambda p: p), run
    return peer


def _floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def cel_peer(compiled_runner: bool = False) -> Peer:
    name = "cel-python (CompiledRunner)" if compiled_runner else "cel-python"
    peer = Peer(name, "cel-python", _version("cel-python"))
    try:
        import celpy
    except ImportError as exc:
        peer.problem = f"not installed ({exc})"
        return peer
    peer.rules = _render(CelCompiledRenderer() if compiled_runner else CelRenderer())
    # celpy keeps one lark parser per process, built with the tree class of the first
    # Environment; a CompiledRunner needs its own (TranspilerTree), so start afresh
    celpy.celparser.CELParser.CEL_PARSER = None
    env = celpy.Environment(runner_class=celpy.CompiledRunner if compiled_runner else None)
    try:
        programs = [(codes, env.program(env.compile(text))) for codes, text in peer.rules]
    except Exception as exc:  # any failure here is reported, not fatal
        peer.problem = f"cannot compile the rules: {type(exc).__name__}: {exc}"
        return peer
    true = celpy.celtypes.BoolType(True)

    def convert(p: dict[str, Any]) -> Any:
        return {"p": celpy.json_to_cel(_floats(p))}

    def run(activation: Any) -> set[str]:
        out: set[str] = set()
        for codes, program in programs:
            value = program.evaluate(activation)
            if isinstance(value, Exception):
                raise value
            if value == true:
                out.update(codes)
        return out

    peer.convert, peer.run = convert, run
    peer.note = "record bound to `p`; numbers converted to doubles"
    return peer


def zen_expression_peer() -> Peer:
    peer = Peer("zen-engine (expressions)", "zen-engine", _version("zen-engine"))
    try:
        import zen
    except ImportError as exc:
        peer.problem = f"not installed ({exc})"
        return peer
    peer.rules = _render(ZenRenderer())
    compiled = [(codes, zen.compile_expression(text)) for codes, text in peer.rules]

    def run(data: Any) -> set[str]:
        out: set[str] = set()
        for codes, expression in compiled:
            if expression.evaluate(data) is True:
                out.update(codes)
        return out

    peer.convert, peer.run = (lambda p: p), run
    peer.note = "one compiled expression per rule (`zen.compile_expression`)"
    return peer


def zen_one_expression_peer() -> Peer:
    """ZEN at its best: every rule in one compiled expression (an array of booleans, one
    per rule), evaluated once per record."""
    peer = Peer("zen-engine (one expression)", "zen-engine", _version("zen-engine"))
    try:
        import zen
    except ImportError as exc:
        peer.problem = f"not installed ({exc})"
        return peer
    peer.rules = _render(ZenRenderer())
    expression = zen.compile_expression("[" + ", ".join(t for _, t in peer.rules) + "]")
    codes_of = [codes for codes, _ in peer.rules]

    def run(data: Any) -> set[str]:
        out: set[str] = set()
        for codes, fired in zip(codes_of, expression.evaluate(data), strict=True):
            if fired is True:
                out.update(codes)
        return out

    peer.convert, peer.run = (lambda p: p), run
    peer.note = ("every rule in one compiled expression, an array with one boolean per rule "
                 "(`zen.compile_expression`), evaluated once per record")
    return peer


def zen_decision_peer() -> Peer:
    peer = Peer("zen-engine (decision)", "zen-engine", _version("zen-engine"))
    try:
        import zen
    except ImportError as exc:
        peer.problem = f"not installed ({exc})"
        return peer
    peer.rules = _render(ZenRenderer())
    expressions = [{"id": f"x{i}", "key": f"r{i}", "value": text}
                   for i, (_, text) in enumerate(peer.rules)]
    graph = {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "patient", "position": {"x": 0, "y": 0}},
            {"id": "rules", "type": "expressionNode", "name": "rules",
             "position": {"x": 200, "y": 0}, "content": {"expressions": expressions}},
            {"id": "out", "type": "outputNode", "name": "codes", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "rules", "type": "edge"},
            {"id": "e2", "sourceId": "rules", "targetId": "out", "type": "edge"},
        ],
    }
    decision = zen.ZenEngine().create_decision(json.dumps(graph))
    keyed = [(f"r{i}", codes) for i, (codes, _) in enumerate(peer.rules)]

    def run(data: Any) -> set[str]:
        result = decision.evaluate(data)["result"]
        out: set[str] = set()
        for key, codes in keyed:
            if result[key] is True:
                out.update(codes)
        return out

    peer.convert, peer.run = (lambda p: p), run
    peer.note = "one JDM decision: input node -> expression node (one key per rule) -> output"
    return peer


def json_logic_peer() -> Peer:
    peer = Peer("panzi-json-logic", "panzi-json-logic", _version("panzi-json-logic"))
    try:
        from json_logic import jsonLogic
    except ImportError as exc:
        peer.problem = f"not installed ({exc})"
        return peer
    if peer.version is None:
        peer.problem = "`json_logic` is importable but is not panzi-json-logic"
        return peer
    peer.rules = _render(JsonLogicRenderer())
    compiled = peer.rules

    def run(data: Any) -> set[str]:
        out: set[str] = set()
        for codes, logic in compiled:
            if jsonLogic(logic, data) is True:
                out.update(codes)
        return out

    peer.convert, peer.run = (lambda p: p), run
    return peer


def all_peers() -> list[Peer]:
    return [rule_engine_peer(), cel_peer(), cel_peer(compiled_runner=True),
            zen_expression_peer(), zen_one_expression_peer(), zen_decision_peer(),
            json_logic_peer()]


def dump() -> str:
    """Every peer's rendered rules, for reading (``evaluate.py --dump``)."""
    out = []
    for name, renderer in (("rule-engine", RuleEngineRenderer()), ("CEL", CelRenderer()),
                           ("ZEN", ZenRenderer()), ("JSON-logic", JsonLogicRenderer())):
        out.append(f"## {name}\n")
        for rule, (codes, text) in zip(RULES, _render(renderer), strict=True):
            shown = text if isinstance(text, str) else json.dumps(text)
            out.append(f"{rule.rule_id} -> {', '.join(codes)}:\n    {shown}\n")
    return "\n".join(out)
