"""The parse tree: light nodes, built by our own LALR reduce callbacks with their positions.

lark's own tree building (``propagate_positions=True``) wraps every reduction in three
Python calls and copies six position attributes per node into a ``Meta`` object, even for
the ``?rule`` reductions that only pass a child through. On a large guideline that was
about 40% of the parse. Here one callback per grammar rule does lark's child filtering,
``?rule`` inlining and ``_rule`` expansion, and records a node's extent as two token
references instead of copying positions.

The positions follow lark's rule exactly: a node starts at the first token of its first
child's *container* and ends at the last token of its last child's container, where a
container is the text a node took up before it was inlined (``( a or b )`` is a node
``a or b`` in the container ``(`` ... ``)``). The golden and conformance tests pin the
resulting spans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lark import Lark, Token
from lark.grammar import Rule, Terminal


class PTree:
    """One parse-tree node: the grammar rule (or alias) that made it and its kept children.

    ``first``/``last`` are the tokens its text starts and ends with, and
    ``outer_first``/``outer_last`` those of its container; all four are None for a node
    that holds no text (a file with no items).
    """

    __slots__ = ("children", "data", "first", "last", "outer_first", "outer_last")

    def __init__(self, data: str, children: list[Any], first: Token | None = None,
                 last: Token | None = None) -> None:
        self.data = data
        self.children = children
        self.first = self.outer_first = first
        self.last = self.outer_last = last

    def __repr__(self) -> str:
        return f"PTree({self.data!r}, {self.children!r})"


def _first(children: list[Any]) -> Token | None:
    for c in children:
        if type(c) is PTree:
            if c.outer_first is not None:
                return c.outer_first
        else:
            return c  # type: ignore[no-any-return]
    return None


def _last(children: list[Any]) -> Token | None:
    for c in reversed(children):
        if type(c) is PTree:
            if c.outer_last is not None:
                return c.outer_last
        else:
            return c  # type: ignore[no-any-return]
    return None


def _callback(rule: Rule) -> Callable[[list[Any]], Any]:
    """The reduce callback of one rule: filter, inline or expand, and place the result."""
    name = rule.alias or rule.options.template_source or rule.origin.name
    keep_all = rule.options.keep_all_tokens
    inline = bool(rule.options.expand1) and not rule.alias
    include = [(i, not sym.is_term and sym.name.startswith("_"))
               for i, sym in enumerate(rule.expansion)
               if keep_all or not (isinstance(sym, Terminal) and sym.filter_out)]
    plain = len(include) == len(rule.expansion) and not any(x for _, x in include)
    single = include[0][0] if len(include) == 1 and not include[0][1] else -1

    def kept(children: list[Any]) -> list[Any]:
        if plain:
            return children  # lark hands each reduction a fresh list
        out: list[Any] = []
        for i, expand in include:
            if expand:
                if out:
                    out += children[i].children
                else:  # left recursion: take the list over, as lark does
                    out = children[i].children
            else:
                out.append(children[i])
        return out

    if inline:
        def inline_cb(children: list[Any]) -> Any:
            if single >= 0:
                res = children[single]
            else:
                ks = kept(children)
                if len(ks) != 1:
                    return PTree(name, ks, _first(children), _last(children))
                res = ks[0]
            if len(children) > 1 and type(res) is PTree:  # brackets around it
                res.outer_first = _first(children)
                res.outer_last = _last(children)
            return res
        return inline_cb

    def node_cb(children: list[Any]) -> PTree:
        return PTree(name, kept(children), _first(children), _last(children))
    return node_cb


def install(lark: Lark) -> None:
    """Replace a LALR ``Lark``'s tree building (built with ``propagate_positions=False``)
    by ``PTree`` callbacks, keyed by the parse table's own rule objects so that each
    reduction finds its callback by identity."""
    inner = lark.parser.parser.parser  # ParsingFrontend -> LALR_Parser -> _Parser
    rules: dict[Rule, Callable[[list[Any]], Any]] = {}
    for actions in inner.parse_table.states.values():
        for _action, arg in actions.values():
            if isinstance(arg, Rule) and arg not in rules:
                rules[arg] = _callback(arg)
    for rule in lark.rules:  # rules the table never reduces by (none today) stay mapped
        if rule not in rules:
            rules[rule] = _callback(rule)
    inner.callbacks = rules
