"""Parsing: the Lark LALR parser (built once per process) and parse errors as diagnostics.

When a file does not parse, it is cut into items at the lines that start with an item
keyword and each piece is parsed on its own, so one run reports every broken item,
each with what was expected and which item was open.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any, cast

import attrs
from lark import Lark, Token
from lark import __version__ as lark_version
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)

from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang import ptree
from spinerules.lang.builder import build, clause_spans
from spinerules.lang.resources import grammar_path
from spinerules.lang.source import Source, Span, read_limited, why_unreadable


@attrs.frozen(kw_only=True)
class Limits:
    """Resource limits for loading and evaluating guidelines (all configurable).

    Example:
        >>> Limits(max_bytes=1024).max_bytes
        1024
    """

    max_bytes: int = 4 * 1024 * 1024  #: size of one `.rules` file
    max_depth: int = 64  #: nesting of parentheses and brackets in one expression
    max_rules: int = 20_000  #: rules, defines and scores in one guideline
    max_files: int = 200  #: files one guideline may import, transitively
    max_list_length: int = 1_000  #: items of any list in a patient record
    max_steps: int = 1_000_000  #: evaluation budget: units of work per evaluation
    max_block_depth: int = 8  #: nesting of `for` blocks
    max_nesting: int = 300  #: expression levels, counting the defines and scores it opens


DEFAULT_LIMITS = Limits()

ITEM_KEYWORDS = ("guideline", "module", "import", "source", "define", "rule", "for", "score",
                 "invariant", "test", "type", "enum")
_ITEM_START = re.compile(r"^[ \t]*(" + "|".join(ITEM_KEYWORDS) + r")\b", re.MULTILINE)
_STRIP = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')
_BRACKETS = re.compile(r"[()\[\]]")
_COMMENT_LINES = re.compile(r"^[ \t]*#[^\n]*", re.MULTILINE)
_NON_SPACE = re.compile(r"\S")
MAX_ERRORS_PER_FILE = 100
"""Parse errors reported for one file; then one ``SR120`` says how many items were left."""

_DESCRIBE = {
    "NAME": "a name",
    "STRING": 'a string ("...")',
    "NUMBER": "a number",
    "SIGNED_NUMBER": "a number",
    "INT": "a whole number",
    "DATE": "a date (YYYY-MM-DD)",
    "CMP_OP": "a comparison (`<`, `<=`, `==`, `!=`, `>=`, `>`)",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*` or `/`",
    "QUANT": "`any`, `all` or `count`",
    "PERCENT": "`%`",
    "$END": "the end of the file",
}

_CHAR_HINTS = {
    "=": "to compare, write `==`",
    "'": 'strings use double quotes: "..."',
    "&": "write `and`",
    "|": "write `or`",
    "!": "write `not`, or `!=` to compare",
    "{": "lists use square brackets: `[a, b]`",
}


def _table_cache() -> str | bool:
    """Where lark keeps the grammar's analysed tables between processes (a cold ``check``
    otherwise spends about a quarter of its time rebuilding them): a folder of this user's
    only (``$XDG_CACHE_HOME/spinerules`` or ``~/.cache/spinerules``, mode 0700), never the
    shared temporary folder, because lark's cache is a pickle. ``SPINERULES_NO_CACHE=1`` or
    a folder that cannot be made private: no cache (False)."""
    if os.environ.get("SPINERULES_NO_CACHE"):
        return False
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "spinerules")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.stat(folder)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o077):
            return False  # someone else's, or open to others: a pickle there is not trusted
    except OSError:
        return False
    # lark checks the grammar's and options' hash stored in the file; the name adds lark's
    # version and Python's, whose pickles differ
    return os.path.join(folder, f"grammar-lark{lark_version}-py{sys.version_info[0]}"
                                f"{sys.version_info[1]}.pickle")


@functools.cache
def _lark() -> Lark:
    lark = Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        start=["start", "item"],
        propagate_positions=False,  # ptree's callbacks place the nodes, at a third the cost
        maybe_placeholders=False,
        cache=_table_cache(),
    )
    ptree.install(lark)
    return lark


@functools.cache
def _driver() -> ptree.Driver | None:
    """The fused lexer and parser over lark's tables (None if lark's set-up is not one it
    knows: then lark parses alone)."""
    try:
        return ptree.Driver(_lark(), "start")
    except (NotImplementedError, AttributeError, KeyError):  # pragma: no cover - lark changed
        return None


@functools.cache
def _terminal_text() -> dict[str, str]:
    """Terminal name -> how to show it (`"when"` for keywords, words for the rest)."""
    out: dict[str, str] = {}
    for term in _lark().terminals:
        if term.name in _DESCRIBE:
            out[term.name] = _DESCRIBE[term.name]
        elif term.pattern.type == "str":
            out[term.name] = f"`{term.pattern.value}`"
        else:
            out[term.name] = term.name.lower()
    out.update({k: v for k, v in _DESCRIBE.items() if k not in out})
    return out


def describe_expected(expected: set[str] | frozenset[str]) -> str:
    """Render lark's expected terminal names as ``\"a\", \"b\" or \"c\"``."""
    table = _terminal_text()
    words = sorted({table.get(name, name.lower()) for name in expected})
    if len(words) > 8:
        words = [*words[:8], "..."]
    if not words:
        return "the end of the item"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _open_item(text: str) -> str:
    """A short name for the item a chunk holds: ``rule `S7.nsaid` ``."""
    m = re.match(r"\s*(\w+)\s*([\w.]+|\"[^\"\n]*\")?", text)
    if not m:
        return "an item"
    word, name = m.group(1), m.group(2)
    if word not in ITEM_KEYWORDS:
        return "an item"
    return f"`{word} {name}`" if name else f"`{word}`"


def check_depth(source: Source, limits: Limits) -> list[dg.Diagnostic]:
    """Reject nesting deeper than ``limits.max_depth`` before the parser sees it."""
    stripped = _STRIP.sub(lambda m: " " * len(m.group(0)), source.text)
    depth = 0
    for m in _BRACKETS.finditer(stripped):
        if m.group(0) in "([":
            depth += 1
            if depth > limits.max_depth:
                return [dg.make("SR106", source.span(m.start(), m.start() + 1),
                                limit=limits.max_depth,
                                hints=("split the expression into named `define`s",))]
        else:
            depth = max(0, depth - 1)
    return []


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    starts = [m.start() for m in _ITEM_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(text))
    for a, b in itertools.pairwise(starts):
        if _COMMENT_LINES.sub("", text[a:b]).strip():  # not blank, nor only comments
            yield a, text[a:b]


def _error_to_diagnostic(err: UnexpectedInput, source: Source, base: int, chunk: str,
                         start_rule: str) -> dg.Diagnostic:
    offset = base + (err.pos_in_stream or 0)
    what = _open_item(chunk)
    item_line = source.position(base + len(chunk) - len(chunk.lstrip()))[0]
    if isinstance(err, UnexpectedCharacters):
        char = source.text[offset] if offset < len(source.text) else "?"
        hints = (_CHAR_HINTS[char],) if char in _CHAR_HINTS else ()
        return dg.make("SR101", source.span(offset, offset + 1), char=char, hints=hints,
                       notes=(f"while reading {what} (line {item_line})",))
    assert isinstance(err, UnexpectedToken)
    token = err.token
    accepted: set[str] | frozenset[str] = err.expected
    if err.interactive_parser is not None:
        with contextlib.suppress(LarkError):  # exact, unlike the merged LALR state's set
            accepted = err.interactive_parser.accepts() or accepted  # type: ignore[no-untyped-call]
    expected = describe_expected(accepted)
    if token.type == "$END":
        end = len(source.text.rstrip()) if start_rule == "start" else base + len(chunk.rstrip())
        span = source.span(max(0, end - 1), end)
        nxt_text = _NON_SPACE.search(source.text, base + len(chunk)) \
            if start_rule == "item" else None
        if nxt_text is not None:  # cut short by the next item, not by the end of the file
            nxt = nxt_text.start()
            cut = f"the next item starts at line {source.position(nxt)[0]}"
        else:
            cut = "the file ends here"
        return dg.make("SR103", span, what=f"{what} (line {item_line})",
                       hints=(f"expected {expected}",), notes=(cut,))
    start = base + (token.start_pos or 0)
    span = source.span(start, start + max(1, len(str(token))))
    found = f"`{token}`" if token.type not in ("STRING",) else "string"
    tips: list[str] = []
    if token.type == "CMP_OP" and str(token) == "=":
        tips.append("to compare, write `==`")
    if "COLON" in accepted and len(accepted) <= 3:
        tips.append("an item's name is followed by `:`")
    if token.type == "NAME" and str(token) in ("and", "or"):
        tips.append("a condition cannot start with `and`/`or`")
    indexed = re.search(r"([A-Za-z_][\w.]*)\Z", source.text[max(0, start - 200):start]) \
        if str(token) == "[" else None
    if indexed is not None:  # `patient.fractures[0]`: a list has no index in the language
        xs = indexed.group(1)
        tips.append(f"a list is not indexed: say which items with `any(f in {xs}: ...)`, "
                    f"`all(...)` or `count(...)`, or go through them with `for f in {xs}:`")
    return dg.make("SR102", span, found=found, expected=expected, hints=tips,
                   notes=(f"while reading {what} (line {item_line})",))


def parse_tree(source: Source, limits: Limits = DEFAULT_LIMITS
               ) -> tuple[ptree.PTree | None, list[dg.Diagnostic]]:
    """Parse one source to a parse tree, or collect every parse error."""
    if len(source.text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        size = len(source.text.encode("utf-8", "surrogatepass"))
        return None, [dg.make("SR107", source.span(0, 0), size=size, limit=limits.max_bytes,
                              hints=("split the guideline into modules with `import`",))]
    if not _STRIP.sub("", source.text).strip():
        return None, [dg.make("SR104", source.span(0, 0))]
    depth = check_depth(source, limits)
    if depth:
        return None, depth
    driver = _driver()
    if driver is not None:
        tree: ptree.PTree | None = driver.parse(source.text)
        if tree is not None:
            return tree, []
    parser = _lark()  # lark itself: it parses, or raises and says what was expected
    try:
        tree = cast(ptree.PTree, parser.parse(source.text, start="start"))
        return tree, []
    except UnexpectedInput:
        pass
    except LarkError as exc:  # pragma: no cover - lark raises UnexpectedInput subclasses
        return None, [dg.make("SR102", source.span(0, 1), found="input", expected=str(exc))]
    problems: list[dg.Diagnostic] = []
    chunks = _chunks(source.text)
    for base, chunk in chunks:
        try:
            parser.parse(chunk, start="item")
        except UnexpectedInput as err:
            problems.append(_error_to_diagnostic(err, source, base, chunk, "item"))
            if len(problems) >= MAX_ERRORS_PER_FILE:  # in bounded time: say how many more
                more = sum(1 for _ in _ITEM_START.finditer(source.text, base + len(chunk)))
                at = base + len(chunk)
                problems.append(dg.make(
                    "SR120", source.span(at, at),
                    detail=f"stopped after {MAX_ERRORS_PER_FILE} errors in this file; "
                    f"{more:,} more items were not checked",
                    hints=("fix the first errors and check again",)))
                break
    if not problems:  # every item parses alone but not together: report at the end
        try:
            parser.parse(source.text, start="start")
        except UnexpectedInput as err:
            problems.append(_error_to_diagnostic(err, source, 0, source.text, "start"))
    return None, problems


#: parse errors after which the items that do parse are still worth checking
RECOVERABLE = frozenset({"SR101", "SR102", "SR103"})


def _recovered_tree(source: Source) -> ptree.PTree | None:
    """The parse tree of a file's items that parse alone, the others blanked out (spaces,
    newlines kept, so every position stays where it was); None if that does not parse."""
    parser = _lark()
    text = list(source.text)
    blanked = False
    for base, chunk in _chunks(source.text):
        try:
            parser.parse(chunk, start="item")
        except UnexpectedInput:
            blanked = True
            for i in range(base, base + len(chunk)):
                if text[i] != "\n":
                    text[i] = " "
        except LarkError:  # pragma: no cover - lark raises UnexpectedInput subclasses
            return None
    if not blanked:
        return None
    try:
        return cast(ptree.PTree, parser.parse("".join(text), start="start"))
    except LarkError:
        return None


def parse(source: Source, limits: Limits = DEFAULT_LIMITS,
          ids: Iterator[int] | None = None, *, layout: bool = False, recover: bool = False
          ) -> tuple[n.File | None, list[dg.Diagnostic]]:
    """Parse and build one file. Returns the AST (None on parse errors) and diagnostics.

    The file keeps its comments; with ``layout`` (the printer's need) it also keeps where
    its non-node clauses start (``File.clauses``). With ``recover``, a file with syntax
    errors (``RECOVERABLE``) gives the AST of the items that parse, beside those errors,
    so that the later stages can report their own diagnostics too (``api.analyse``).

    Example:
        >>> tree, problems = parse(Source("x.rules", 'define a: 1 + 2'))
        >>> problems, type(tree.items[0]).__name__
        ([], 'Define')
    """
    with gc_paused():
        tree, problems = parse_tree(source, limits)
        if tree is None and recover and problems and all(
                d.code in RECOVERABLE for d in problems):
            tree = _recovered_tree(source)
        if tree is None:
            return None, problems
        try:
            file, built = build(tree, source.name, ids)
        except RecursionError:
            return None, [dg.make("SR106", _deepest(tree, source), limit=limits.max_depth,
                                  hints=("split the expression into named `define`s",))]
        # where the non-node clauses start: only the printer needs it (costly)
        clauses = clause_spans(tree, source.name) if layout else ()
        # Free the parse tree (hundreds of thousands of objects) while the collector is
        # still paused: alive when it resumes, all of it would be traversed once more.
        del tree
    comments = collect_comments(source)  # kept out of `==`, for the printer
    if layout:
        file = attrs.evolve(file, comments=comments, clauses=clauses)
    elif comments:
        file = attrs.evolve(file, comments=comments)
    return file, [*problems, *built]


def _deepest(tree: Any, source: Source) -> Span:
    """Where the parse tree is deepest (its deepest node's first token), found without
    recursion: what a builder too deep to recurse reports."""
    best, where = -1, None
    stack: list[tuple[Any, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Token):
            continue
        if depth > best and getattr(node, "first", None) is not None:
            best, where = depth, node.first
        stack.extend((c, depth + 1) for c in node.children)
    if where is None or where.start_pos is None:
        return source.span(0, 1)
    return source.span(where.start_pos, where.end_pos or where.start_pos + 1)


def collect_comments(source: Source) -> tuple[n.Comment, ...]:
    """The ``#`` comments of a source that parses, in order (the grammar skips them).

    A left-to-right scan that steps over string literals sees exactly the comments the
    lexer skips, since outside strings and comments no token holds `"` or `#`.

    Example:
        >>> [c.text for c in collect_comments(Source("x", 'define a: "#1"  # two\\n# three'))]
        ['# two', '# three']
    """
    text = source.text
    if "#" not in text:
        return ()
    out: list[n.Comment] = []
    for m in _STRIP.finditer(text):
        body = m.group(0)
        if body[0] != "#":
            continue
        body = body.rstrip()
        start = m.start()
        line_start = text.rfind("\n", 0, start) + 1
        out.append(n.Comment(text=body, trailing=bool(text[line_start:start].strip()),
                             span=source.span(start, start + len(body))))
    return tuple(out)


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is parsed and built.

    Parsing allocates hundreds of thousands of small, acyclic, long-lived objects (tokens,
    tree nodes, AST nodes); with the collector on, half the parse time of a large guideline
    went to collections that free nothing (docs/performance.md). Reference counting still
    frees everything as usual. Nested and concurrent pauses are counted, and the collector
    is switched back on only if it was on when the first pause began.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def read_source(path: str, display: str | None = None,
                max_bytes: int = DEFAULT_LIMITS.max_bytes,
                ) -> tuple[Source | None, list[dg.Diagnostic]]:
    """Read a regular file of at most ``max_bytes`` as UTF-8 text; unreadable, oversized or
    binary files become diagnostics."""
    name = display or path
    here = Span(source=name, start=0, end=0, line=1, column=1, end_line=1, end_column=1)
    try:
        data, size = read_limited(path, max_bytes)
    except OSError as exc:
        return None, [dg.make("SR110", here, path=path, detail=why_unreadable(exc))]
    if len(data) > max_bytes:
        return None, [dg.make("SR107", here, size=size, limit=max_bytes)]
    return decode_source(data, name)


def decode_source(data: bytes, name: str) -> tuple[Source | None, list[dg.Diagnostic]]:
    """Decode bytes into a Source; NUL bytes and invalid UTF-8 become SR105."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        src = Source(name, data[: exc.start].decode("utf-8", "replace"))
        at = len(src.text)
        detail = f"invalid byte at offset {exc.start}"
        return None, [dg.make("SR105", src.span(at, at), detail=detail,
                              hints=("save the file as UTF-8",))]
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul != -1:
        src = Source(name, text)
        return None, [dg.make("SR105", src.span(nul, nul + 1), detail="NUL byte (binary data?)",
                              hints=("a `.rules` file is plain text",))]
    return Source(name, text), []
