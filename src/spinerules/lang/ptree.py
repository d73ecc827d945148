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
from lark.parsers.lalr_analysis import Shift


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


def _token_maker() -> Callable[..., Token]:
    """``Token(type, value, start_pos, line, column, end_line, end_column, end_pos)``,
    without the keyword-argument check of ``Token.__new__`` when lark has its helper."""
    made: Callable[..., Token] = getattr(Token, "_future_new", Token)
    return made


class _StateLexer:
    """What the contextual lexer does in one parser state, as plain data."""

    __slots__ = ("ignore", "keywords", "match", "newlines")

    def __init__(self, match: Callable[[str, int], Any], keywords: dict[str, dict[str, str]],
                 ignore: frozenset[str], newlines: frozenset[str]) -> None:
        self.match = match
        self.keywords = keywords  # terminal -> {text: keyword terminal} (lark's "unless")
        self.ignore = ignore
        self.newlines = newlines


class Driver:
    """lark's contextual lexer and LALR parser, fused into one loop over lark's own tables.

    lark's loop costs a generator step, a method call and a parser-state lookup per token,
    and a regular-expression match per name to tell keywords apart. This loop does the
    same work with the same tables (each state's lexer patterns, its keyword table, the
    parse table, our ``PTree`` callbacks), in one function. It only parses: on any
    problem (an unexpected character or token) it returns None, and the caller asks lark
    itself, whose exceptions say what was expected. ``tests/unit/test_ptree.py`` compares
    its trees with lark's own.
    """

    def __init__(self, lark: Lark, start: str) -> None:
        frontend = lark.parser
        inner = frontend.parser.parser
        table = inner.parse_table
        # lark's names may be Token objects, whose `==` is Python code: every lookup would
        # call it; plain strings here. A reduction is (callback, size, rule name).
        reductions: dict[Rule, tuple[Callable[[list[Any]], Any], int, str]] = {}
        self.states: dict[Any, dict[str, tuple[bool, Any]]] = {}
        for state, actions in table.states.items():
            row: dict[str, tuple[bool, Any]] = {}
            for name, (action, arg) in actions.items():
                if action is Shift:
                    row[str(name)] = (True, arg)
                else:
                    if arg not in reductions:
                        reductions[arg] = (inner.callbacks[arg], len(arg.expansion),
                                           str(arg.origin.name))
                    row[str(name)] = (False, reductions[arg])
            self.states[state] = row
        self.start_state = table.start_states[start]
        self.end_state = table.end_states[start]
        shared: dict[int, _StateLexer] = {}
        self.lexers: dict[Any, _StateLexer] = {}
        for state, basic in frontend.lexer.lexers.items():
            key = id(basic)
            if key not in shared:
                shared[key] = self._state_lexer(basic)
            self.lexers[state] = shared[key]

    @staticmethod
    def _state_lexer(basic: Any) -> _StateLexer:
        mres = basic.scanner._mres
        if len(mres) != 1:
            raise NotImplementedError("a lexer of several patterns")
        keywords: dict[str, dict[str, str]] = {}
        for name, callback in basic.callback.items():
            terminals = getattr(getattr(callback, "scanner", None), "terminals", None)
            if type(callback).__name__ != "UnlessCallback" or terminals is None or any(
                    type(t.pattern).__name__ != "PatternStr" or t.pattern.flags
                    for t in terminals):
                raise NotImplementedError(f"a lexer callback for {name}")
            keywords[str(name)] = {str(t.pattern.value): str(t.name) for t in terminals}
        return _StateLexer(mres[0].match, keywords,
                           frozenset(str(t) for t in basic.ignore_types),
                           frozenset(str(t) for t in basic.newline_types))

    def parse(self, text: str) -> Any:
        """The tree of ``text``, or None if it does not parse (ask lark why)."""
        states, lexers, end_state = self.states, self.lexers, self.end_state
        new_token = _token_maker()
        state_stack: list[Any] = [self.start_state]
        value_stack: list[Any] = []
        pos, line, line_start, n = 0, 1, 0, len(text)
        last: Token | None = None
        while True:
            # ---- the next token, lexed as the parser's state allows
            while True:
                if pos >= n:
                    token = Token.new_borrow_pos("$END", "", last) if last is not None \
                        else Token("$END", "", 0, 1, 1)
                    break
                lexer = lexers[state_stack[-1]]
                m = lexer.match(text, pos)
                if m is None:
                    return None
                kind, value, end = m.lastgroup, m.group(0), m.end()
                start_line, column = line, pos - line_start + 1
                if kind in lexer.newlines:
                    count = value.count("\n")
                    if count:
                        line += count
                        line_start = pos + value.rindex("\n") + 1
                if kind in lexer.ignore:
                    pos = end
                    continue
                if kind in lexer.keywords:
                    kind = lexer.keywords[kind].get(value, kind)
                token = new_token(kind, value, pos, start_line, column, line,
                                  end - line_start + 1, end)
                pos = end
                last = token
                break
            # ---- reduce as the table says, then shift it (or stop at the end)
            kind = token.type
            while True:
                step = states[state_stack[-1]].get(kind)
                if step is None:
                    return None
                shift, arg = step
                if shift:
                    if kind == "$END":
                        return None
                    state_stack.append(arg)
                    value_stack.append(token)
                    break
                callback, size, name = arg
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value_stack.append(callback(children))
                state_stack.append(states[state_stack[-1]][name][1])
                if kind == "$END" and state_stack[-1] == end_state:
                    return value_stack[-1]
