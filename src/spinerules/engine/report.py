"""Reports for people: a result as plain text, Markdown or a self-contained HTML page.

All three are made from one :class:`Report` (sections of items with numbered sources), so
they say the same thing. What makes them readable:

- each recommendation gets one short reason, the conditions of its rule in words; a
  define (``bone_plan_indicated``) is spelt out once, under "Terms used above", however
  many recommendations rest on it; the whole chain is for ``--trace`` and ``explain``;
- missing facts are questions to ask, worded from the record's field docs
  (:class:`Glossary`), with the rules that wait on them named by what they would advise;
- long lines are wrapped (text), and everything from a guideline or a record is escaped
  (Markdown, HTML).

``Result.to_json()`` is untouched: reports are views, never a contract.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from spinerules.engine.result import (
    ASK_CODE,
    URGENCY_ORDER,
    URGENCY_TITLE,
    Citation,
    Recommendation,
    Result,
)

WIDTH = 100
"""Text reports wrap at this width (a URL or a long word may run past it)."""


# --- what facts and rules are, in words ------------------------------------------------------


@attrs.frozen(kw_only=True)
class FactWords:
    """A record field, as a report asks for it."""

    doc: str = ""
    kind: str = ""  #: boolean, number, integer, choice, text, date
    unit: str | None = None
    choices: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Glossary:
    """Words for a guideline's facts (by path, list indices as ``[]``) and rules (by id)."""

    facts: dict[str, FactWords] = attrs.field(factory=dict)
    rules: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, record_type: type | None, items: Iterable[Any] = ()) -> Glossary:
        """From a record class (its fields' docs) and a program's items (rule texts)."""
        facts: dict[str, FactWords] = {}
        if record_type is not None:
            from spinerules.records.describe import fields_of

            for f in fields_of(record_type):
                facts[f.path] = FactWords(doc=f.doc, kind=f.kind, unit=f.unit,
                                          choices=f.choices)
        rules: dict[str, str] = {}
        from spinerules.lang import nodes as n

        stack = list(items)
        while stack:
            item = stack.pop()
            if isinstance(item, n.For):
                stack.extend(item.items)
            elif isinstance(item, n.Rule):
                texts = [a.text for a in item.actions if a.text]
                rules[item.rule_id] = _first_clause(texts[0]) if texts else \
                    _humane(item.rule_id.rsplit(".", 1)[-1])
        return cls(facts=facts, rules=rules)

    def fact(self, path: str) -> FactWords | None:
        return self.facts.get(re.sub(r"\[\d+\]", "[]", path))

    def rule(self, rule_id: str) -> str:
        return self.rules.get(rule_id) or _humane(rule_id.rsplit(".", 1)[-1])


def _first_clause(text: str, limit: int = 64) -> str:
    """The first clause of an action's text: up to its first ``:``, ``;`` or full stop."""
    cut = re.split(r"(?<=[a-z0-9)\]])(?:\.\s|:\s|;\s)", text.strip(), maxsplit=1)[0]
    cut = cut.rstrip(".")
    if len(cut) > limit:
        cut = cut[:limit].rsplit(" ", 1)[0] + "..."
    return cut


def _humane(name: str) -> str:
    return name.replace("_", " ").strip()


_INDEX = re.compile(r"^([a-z_]+)\[(\d+)\]\.?")


def _where(path: str) -> tuple[str, str]:
    """``fractures[0].morphology`` -> (``fracture 1``, ``morphology``)."""
    m = _INDEX.match(path)
    if not m:
        return "", path
    owner = _humane(m.group(1))
    owner = owner[:-1] if owner.endswith("s") else owner
    return f"{owner} {int(m.group(2)) + 1}", path[m.end():]


def question(path: str, glossary: Glossary) -> str:
    """A missing fact as the question to ask: ``Fracture 1: fracture morphology (TLICS):
    which of compression, burst, ...?``"""
    owner, rest = _where(path)
    words = glossary.fact(path)
    subject = words.doc if words and words.doc else _humane(rest.replace(".", " "))
    if words is not None and words.choices and ": " in subject:
        subject = subject.split(": ")[0]  # the doc's own list of values: shown below
    if words is None:
        ask = f"{subject}?"
    elif words.kind == "boolean":
        ask = f"{subject}: yes or no?"
    elif words.kind == "choice":
        shown = ", ".join(words.choices) if len(words.choices) <= 8 else \
            f"{words.choices[0]} .. {words.choices[-1]}"
        ask = f"{subject}: which of {shown}?"
    elif words.kind in ("number", "integer"):
        ask = f"{subject}: what value{' (' + words.unit + ')' if words.unit else ''}?"
    else:
        ask = f"{subject}?"
    ask = ask[:1].upper() + ask[1:]
    return f"{owner[:1].upper()}{owner[1:]}: {ask}" if owner else ask


def fact_words(path: str, glossary: Glossary) -> str:
    """A fact's name in words (its doc when the record gives one, without a closing
    parenthesis: ``bone marrow edema on MRI``, not ``... (unknown when no MRI was done)``)."""
    owner, rest = _where(path)
    words = glossary.fact(path)
    name = re.sub(r"\s*\([^()]*\)\Z", "", words.doc) if words and words.doc else \
        _humane(rest.replace(".", " "))
    return f"{name} ({owner})" if owner else name


def short_facts(paths: Iterable[str]) -> str:
    """Facts by their short names, grouped by list item: ``morphology, posterior ligament
    (fracture 1); ankylosing disorder``."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        owner, rest = _where(p)
        groups.setdefault(owner, []).append(_humane(rest.split(".")[-1]))
    return "; ".join(", ".join(names) + (f" ({owner})" if owner else "")
                     for owner, names in groups.items())


# --- the short reason ------------------------------------------------------------------------

_IDENT = re.compile(r"[a-z_][a-z0-9_]*\Z")
_BOUND = re.compile(r"[a-z_]+\[\d+\]\Z")
_CMP = re.compile(r"(?P<left>[a-z_][\w.\[\]]*) (?P<op>==|!=|<=|>=|<|>) (?P<right>.+)\Z")
_NEG = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}


def condition_words(expression: str, value: Any, glossary: Glossary) -> str | None:
    """One condition with its value, in words; None for a value that decided nothing
    (unknown, or a loop binding)."""
    if value == "unknown" or value is None:
        return None
    text = expression
    negate = value is False
    if text.startswith("unless "):
        text = text[len("unless "):]
    if text.startswith("known "):
        inner = text[len("known "):].removeprefix("patient.")
        name = fact_words(inner, glossary) if _IDENT.match(inner.split(".")[-1]) else inner
        return f"{name}: recorded" if not negate else f"{name}: not recorded"
    if _IDENT.match(text):  # a define or a score
        return f"not {_humane(text)}" if negate else _humane(text)
    plain = text.replace("patient.", "")
    m = _CMP.match(plain)
    if m and m.group("left") and re.fullmatch(r"[\w.\[\]]+", m.group("left")):
        left, op, right = m.group("left"), m.group("op"), m.group("right")
        if negate:
            op = _NEG[op]
        leaf = left.split(".")[-1]
        if right in ("true", "false") and op in ("==", "!="):
            yes = (right == "true") == (op == "==")
            return f"{fact_words(_strip_var(left, glossary), glossary)}: {'yes' if yes else 'no'}"
        if op == "==":
            return f"{_humane(leaf)}: {right}"
        return f"{_humane(leaf)} {op} {right}"
    if re.fullmatch(r"[\w.\[\]]+", plain):  # a yes/no fact
        return f"{fact_words(_strip_var(plain, glossary), glossary)}: {'no' if negate else 'yes'}"
    return f"not ({plain})" if negate else plain


def _strip_var(path: str, glossary: Glossary) -> str:
    """A loop variable's field (``fracture.marrow_edema``) as the list's field path the
    glossary knows (``fractures[].marrow_edema``), when there is one."""
    head, _, rest = path.partition(".")
    if rest and glossary.fact(path) is None:
        for plural in (f"{head}s", f"{head}es"):
            if glossary.fact(f"{plural}[].{rest}") is not None:
                return f"{plural}[].{rest}"
    return path


def split_because(r: Recommendation) -> tuple[list[tuple[str, Any]], str | None,
                                              dict[str, list[tuple[str, Any]]]]:
    """A recommendation's own conditions, the list item it is for (``fractures[0]``), and
    each define's conditions (from the ``via <define>:`` entries)."""
    own: list[tuple[str, Any]] = []
    defines: dict[str, list[tuple[str, Any]]] = {}
    bound = None
    for b in r.because:
        if b.expression.startswith("via "):
            name, _, inner = b.expression[4:].partition(": ")
            defines.setdefault(name, []).append((inner, b.value))
        elif isinstance(b.value, str) and _BOUND.match(b.value) and _IDENT.match(b.expression):
            bound = b.value
        else:
            own.append((b.expression, b.value))
    return own, bound, defines


def _unique(items: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


# --- the report ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Item:
    """One line of a section, with labelled details under it."""

    mark: str
    text: str
    code: str | None = None
    strength: str | None = None
    refs: tuple[int, ...] = ()
    details: tuple[tuple[str, str], ...] = ()
    kind: str = ""  #: recommend, consider, advise_against, warn, classify, ask, ...


@attrs.frozen(kw_only=True)
class Section:
    title: str
    items: tuple[Item, ...]
    note: str = ""


@attrs.frozen(kw_only=True)
class SourceEntry:
    number: int
    key: str
    citation: Citation
    cited_for: tuple[str, ...]


@attrs.frozen(kw_only=True)
class Report:
    title: str
    patient: str
    as_of: str
    sections: tuple[Section, ...]
    sources: tuple[SourceEntry, ...]


def build(result: Result, glossary: Glossary | None = None, *, full: bool = False) -> Report:
    """The report of one result. ``full`` adds each recommendation's whole chain of
    conditions (the ``because`` list) under it, as ``--trace`` shows it."""
    words = glossary or Glossary()
    refs: dict[str, int] = {}
    first: dict[str, Citation] = {}
    locators: dict[str, list[str]] = {}

    def number(cites: Iterable[Citation]) -> tuple[int, ...]:
        out = []
        for c in cites:
            if c.key not in refs:
                refs[c.key] = len(refs) + 1
                first[c.key] = attrs.evolve(c, locator=None)
                locators[c.key] = []
            if c.locator and c.locator not in locators[c.key]:
                locators[c.key].append(c.locator)
            out.append(refs[c.key])
        return tuple(out)

    sections: list[Section] = []
    if result.missing:
        items = []
        for m in result.missing:
            details = [("ask", question(f, words)) for f in m.facts]
            if m.waiting:
                named = _unique(words.rule(r) for r in m.waiting)
                shown = "; ".join(named[:6])
                if len(named) > 6:
                    shown += f"; and {len(named) - 6} more (`explain` or `--format json` " \
                        "lists them)"
                details.append(("the answers would decide", shown))
            text = m.text or m.code
            if m.code == ASK_CODE:
                text = "Record these facts: rules below cannot decide without them, or " \
                    "decided only by taking an unrecorded fact as no."
            items.append(Item(mark="?", text=text, code=m.code, refs=number(m.citations),
                              details=tuple(details), kind="ask"))
        sections.append(Section(title="Questions to ask", items=tuple(items),
                                note="missing information: asked for, never assumed"))
    defines_seen: dict[str, list[str]] = {}

    def reasons(r: Recommendation) -> list[tuple[str, str]]:
        own, bound, defines = split_because(r)
        for name, conds in defines.items():
            text = "; ".join(_unique(condition_words(e, v, words) for e, v in conds))
            if text and text not in defines_seen.setdefault(name, []):
                defines_seen[name].append(text)
        why = "; ".join(_unique(condition_words(e, v, words) for e, v in own))
        out = []
        if bound:
            owner, _ = _where(bound + ".")
            why = f"for {owner}: {why}" if why else f"for {owner}"
        if why:
            out.append(("why", why))
        if r.pending:
            out.append(("taken as no while not recorded", short_facts(r.pending)))
        if full:
            chain = [f"{b.expression} = {_yes(b.value)}" for b in r.because]
            out.append(("full chain", "; ".join(chain)))
        return out

    classified = [r for r in result.recommendations if r.action == "classify"]
    plan = [r for r in result.recommendations if r.action != "classify"]
    if classified:
        sections.append(Section(title="Findings", items=tuple(
            Item(mark="=", text=r.text or r.code, code=r.code, refs=number(r.citations),
                 details=tuple(reasons(r)), kind="classify") for r in classified)))
    marks = {"recommend": "+", "consider": "~", "advise_against": "x", "warn": "!"}
    labels = {"advise_against": "AVOID: ", "warn": "CAUTION: ", "consider": "Consider: "}
    for urgency in sorted({r.urgency for r in plan}, key=lambda u: URGENCY_ORDER.get(u, 5)):
        items = []
        for r in (r for r in plan if r.urgency == urgency):
            items.append(Item(mark=marks.get(r.action, "-"),
                              text=labels.get(r.action, "") + (r.text or r.code), code=r.code,
                              strength=r.strength, refs=number(r.citations),
                              details=tuple(reasons(r)), kind=r.action))
        sections.append(Section(title=URGENCY_TITLE.get(urgency, str(urgency)),
                                items=tuple(items)))
    if result.scores:
        items = []
        for name, sc in result.scores.items():
            if sc.value is not None:
                items.append(Item(mark="#", text=f"{name}: {_num(sc.value)}", kind="score"))
            else:
                asks = tuple(("ask", question(f, words)) for f in sc.facts)
                items.append(Item(mark="#", text=f"{name}: not yet decided, {_num(sc.low)} to "
                                  f"{_num(sc.high)}", details=asks, kind="score"))
        sections.append(Section(title="Scores", items=tuple(items)))
    if result.conflicts:
        items = []
        for c in result.conflicts:
            details = [("for", f"[{n}] {c_.key}") for c_, n in
                       zip(c.supporting, number(c.supporting), strict=True)]
            details += [("against", f"[{n}] {c_.key}") for c_, n in
                        zip(c.opposing, number(c.opposing), strict=True)]
            items.append(Item(mark="!", text=c.detail.replace("`", ""), details=tuple(details),
                              kind="conflict"))
        sections.append(Section(title="Where sources or rules disagree", items=tuple(items)))
    if result.undetermined:
        items = []
        for u in result.undetermined:
            asks = tuple(("ask", question(f, words)) for f in u.facts) or \
                (("ask", "unknown"),)
            items.append(Item(mark="?", text=words.rule(u.rule), details=asks,
                              kind="undetermined"))
        sections.append(Section(title="Not yet decided", items=tuple(items),
                                note="the answers that would decide them"))
    if defines_seen:
        items = []
        for name in sorted(defines_seen):
            for text in defines_seen[name]:
                items.append(Item(mark="-", text=f"{_humane(name)}: {text}", kind="term"))
        sections.append(Section(title="Terms used above", items=tuple(items),
                                note="each spelt out once"))
    g = result.guideline
    title = f"{g['title']} ({g['id']} {g.get('version') or ''})".rstrip(" ") \
        .replace(" )", ")")
    sources = tuple(SourceEntry(number=i, key=k, citation=first[k],
                                cited_for=tuple(locators[k])) for k, i in refs.items())
    return Report(title=title, patient=result.patient or "(no id)", as_of=result.as_of,
                  sections=tuple(sections), sources=sources)


def _yes(v: Any) -> str:
    return "yes" if v is True else "no" if v is False else str(v)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --- text ------------------------------------------------------------------------------------


def _wrap(text: str, first: str, rest: str, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def _refs(refs: tuple[int, ...]) -> str:
    """``[1][2]``; a long list spaced (``[1] [2] ...``), so that it wraps."""
    return ("" if len(refs) <= 6 else " ").join(f"[{i}]" for i in refs)


def render_text(result: Result, glossary: Glossary | None = None, *,
                full: bool = False) -> str:
    """The plan for a clinician, in plain text wrapped at :data:`WIDTH` columns."""
    return "\n".join(text_lines(build(result, glossary, full=full))).rstrip() + "\n"


def text_lines(report: Report) -> Iterator[str]:
    yield report.title
    yield f"Patient: {report.patient}    as of {report.as_of}"
    yield ""
    for s in report.sections:
        yield s.title.upper() + (f" ({s.note})" if s.note else "")
        for item in s.items:
            tail = " ".join(p for p in (f"[{item.strength}]" if item.strength else "",
                                        f"({item.code})" if item.code else "",
                                        _refs(item.refs)) if p)
            yield from _wrap(f"{item.text} {tail}".rstrip(), f"  {item.mark} ", "    ")
            for label, text in item.details:
                yield from _wrap(text, f"      {label}: ", "        ")
        yield ""
    if report.sources:
        yield "SOURCES"
        for e in report.sources:
            yield from _wrap(f"{e.key}: {e.citation.reference()}", f"  [{e.number}] ", "      ")
            if e.cited_for:
                yield from _wrap("; ".join(e.cited_for), "      cited for: ", "        ")


# --- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(text: str) -> str:
    """Text with Markdown's special characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _link(c: Citation) -> str | None:
    if c.doi:
        return f"https://doi.org/{c.doi}"
    if c.pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/"
    return c.url


def render_markdown(result: Result, glossary: Glossary | None = None, *,
                    full: bool = False) -> str:
    """The report as a Markdown document (headings, lists, linked sources)."""
    r = build(result, glossary, full=full)
    out = [f"# {md(r.title)}", "", f"**Patient:** {md(r.patient)} · **as of** {md(r.as_of)}",
           ""]
    for s in r.sections:
        out.append(f"## {md(s.title)}")
        out.append("")
        if s.note:
            out += [f"*{md(s.note)}*", ""]
        for item in s.items:
            bits = [md(item.text) if item.kind in ("term", "score") else f"**{md(item.text)}**"]
            if item.strength:
                bits.append(f"*{md(item.strength)}*")
            if item.code:
                bits.append(f"(`{item.code.replace('`', '')}`)")
            if item.refs:
                bits.append(" ".join(f"[\\[{i}\\]](#source-{i})" for i in item.refs))
            out.append(f"- {' '.join(bits)}")
            for label, text in item.details:
                out.append(f"  - {md(label)}: {md(text)}")
        out.append("")
    if r.sources:
        out += ["## Sources", ""]
        for e in r.sources:
            link = _link(e.citation)
            ref = md(e.citation.reference())
            line = f"{e.number}. <a id=\"source-{e.number}\"></a>**{md(e.key)}**: {ref}"
            if link:
                line += f" [link]({link.replace(')', '%29').replace(' ', '%20')})"
            out.append(line)
            if e.cited_for:
                out.append(f"   - cited for: {md('; '.join(e.cited_for))}")
        out.append("")
    return "\n".join(out)


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.meta { color: #555; margin: 0 0 1rem; }
h2 { font-size: 1.1rem; border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 1.4rem; }
h2 .note { font-weight: normal; color: #666; font-size: .9rem; }
ul.items { list-style: none; padding-left: 0; }
li.item { margin: .5rem 0; padding: .35rem .6rem; border-left: 4px solid #bbb;
          break-inside: avoid; }
li.recommend { border-color: #2e7d32; } li.consider { border-color: #8bc34a; }
li.advise_against { border-color: #c62828; } li.warn { border-color: #ef6c00; }
li.ask, li.undetermined { border-color: #1565c0; } li.classify { border-color: #6a1b9a; }
.mark { font-weight: bold; margin-right: .3rem; }
.code { font-family: ui-monospace, monospace; font-size: .85em; color: #555; }
.strength { font-style: italic; color: #444; }
dl.details { margin: .2rem 0 0 1.2rem; font-size: .92em; }
dl.details dt { display: inline; font-weight: 600; color: #444; }
dl.details dd { display: inline; margin: 0; } dl.details dd::after { content: ""; display: block; }
ol.sources li { margin: .3rem 0; } .cited { color: #555; font-size: .9em; }
a.ref { text-decoration: none; }
@media print { body { margin: 0; max-width: none; font-size: 11pt; }
  a { color: inherit; text-decoration: none; } li.item { border-left-width: 3px; } }
"""


def render_html(result: Result, glossary: Glossary | None = None, *,
                full: bool = False) -> str:
    """The report as one HTML page: inline CSS, no scripts, no external resources; every
    text escaped. Prints on paper as it shows on screen."""
    e = html.escape
    r = build(result, glossary, full=full)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'\">",
           f"<title>{e(r.title)}: {e(r.patient)}</title>", f"<style>{_CSS}</style>", "</head>",
           "<body>", f"<h1>{e(r.title)}</h1>",
           f'<p class="meta">Patient: <strong id="patient">{e(r.patient)}</strong> &middot; '
           f"as of {e(r.as_of)}</p>"]
    for s in r.sections:
        note = f' <span class="note">({e(s.note)})</span>' if s.note else ""
        out.append(f'<section><h2>{e(s.title)}{note}</h2><ul class="items">')
        for item in s.items:
            head = f'<span class="mark">{e(item.mark)}</span><span class="text">{e(item.text)}' \
                "</span>"
            if item.strength:
                head += f' <span class="strength">[{e(item.strength)}]</span>'
            if item.code:
                head += f' <span class="code">({e(item.code)})</span>'
            head += "".join(f' <a class="ref" href="#source-{i}">[{i}]</a>' for i in item.refs)
            details = "".join(f"<dt>{e(label)}:</dt> <dd>{e(text)}</dd>"
                              for label, text in item.details)
            data = f' data-code="{e(item.code)}"' if item.code else ""
            out.append(f'<li class="item {e(item.kind)}"{data}>{head}'
                       + (f'<dl class="details">{details}</dl>' if details else "") + "</li>")
        out.append("</ul></section>")
    if r.sources:
        out.append('<section><h2>Sources</h2><ol class="sources">')
        for entry in r.sources:
            link = _link(entry.citation)
            ref = e(entry.citation.reference())
            if link and link.startswith(("https://", "http://")):
                ref += f' <a href="{e(link)}">link</a>'
            cited = f'<div class="cited">cited for: {e("; ".join(entry.cited_for))}</div>' \
                if entry.cited_for else ""
            out.append(f'<li id="source-{entry.number}" value="{entry.number}">'
                       f"<strong>{e(entry.key)}</strong>: {ref}{cited}</li>")
        out.append("</ol></section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
