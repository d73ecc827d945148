"""A result as CDS Hooks 2.0 cards (the card mapping of docs/integrators/cds-hooks.md).

- one card per recommendation, warning and advice against; one info card for the findings
  (classifications); one card per missing fact that would change the decision
- ``indicator``: ``critical`` for urgency critical; ``warning`` for urgency urgent and for
  every warning or advice against; ``info`` otherwise
- ``summary``: the recommendation's text cut at a sentence or word, at most 140 characters
- ``detail``: Markdown: the whole text, the short reason ("why"), facts taken as no while not
  recorded, and every citation as a link
- ``source``: the first citation (label and link); ``links``: every citation
- ``suggestions``: a FHIR ``ServiceRequest`` or ``MedicationRequest`` for orderable codes
  (``orders.py``)
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Iterable
from typing import Any

import attrs

from spinerules import api
from spinerules.engine.report import (
    Glossary,
    condition_words,
    md,
    question,
    short_facts,
)
from spinerules.engine.result import ASK_CODE, Citation, Recommendation, Result
from spinerules.lang import nodes as n
from spinerules.service.orders import BY_CODE, ORDER_SYSTEM, Order

SUMMARY_MAX = 140
#: a missing-fact card cites the sources of the first rules waiting on it, at most this many
MISSING_SOURCES = 3
_NS = uuid.UUID("6f1c1f2e-2b8e-4d59-9a53-5b1c2f0e7a11")
_NS_BYTES = _NS.bytes
_LABELS = {"advise_against": "Avoid: ", "warn": "Caution: ", "consider": "Consider: "}


def indicator(action: str, urgency: str | None) -> str:
    if urgency == "critical":
        return "critical"
    if urgency == "urgent" or action in ("warn", "advise_against"):
        return "warning"
    return "info"


def summary(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` within ``limit`` characters: its first sentence if that fits, else cut at a
    word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    for stop in (". ", "; ", ": "):
        cut = text.find(stop, 30)
        if 0 < cut < limit:
            return text[:cut + (1 if stop == ". " else 0)]
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def link(c: Citation) -> str | None:
    if c.doi:
        return f"https://doi.org/{c.doi}"
    if c.pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/"
    return c.url


def label(c: Citation) -> str:
    title = c.title or c.key
    return f"{title} ({c.year})" if c.year else title


@dataclasses.dataclass(frozen=True)
class Words:
    """What cards need from a guideline, made once at start: its glossary, the text and
    citations of every action by code, and the source label of the guideline itself."""

    guideline: api.Guideline
    glossary: Glossary
    actions: dict[str, tuple[str, str | None, tuple[Citation, ...]]]  # code -> kind, text, cites
    rule_cites: dict[str, tuple[Citation, ...]]  # rule id -> the citations of its actions
    #: the parts of cards that do not depend on the patient, by rule and code (or fact)
    cache: dict[Any, Any] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, g: api.Guideline) -> Words:
        actions: dict[str, tuple[str, str | None, tuple[Citation, ...]]] = {}
        rule_cites: dict[str, tuple[Citation, ...]] = {}
        stack: list[Any] = list(g.checked.program.items())
        citations = g.plan.citations
        while stack:
            item = stack.pop()
            if isinstance(item, n.For):
                stack.extend(item.items)
            elif isinstance(item, n.Rule):
                for a in item.actions:
                    cites = tuple(_with_locator(citations[c.key], c.locator)
                                  for c in a.cites if c.key in citations)
                    rule_cites[item.rule_id] = rule_cites.get(item.rule_id, ()) + cites
                    old = actions.get(a.code)
                    actions[a.code] = (a.kind, a.text or (old[1] if old else None),
                                       (old[2] if old else ()) + cites)
        return cls(guideline=g, glossary=g.glossary(), actions=actions, rule_cites=rule_cites)


def _with_locator(c: Citation, locator: str | None) -> Citation:
    return attrs.evolve(c, locator=locator) if locator else c


def card_id(hook_instance: str, kind: str, key: str) -> str:
    """A stable card id: the same hook call gives the same ids (feedback names them). The
    name-based UUID of RFC 4122 (version 5, SHA-1), formatted without ``uuid.UUID``'s
    overhead (``tests/service`` checks it against ``uuid.uuid5``)."""
    h = bytearray(hashlib.sha1(_NS_BYTES + f"{hook_instance}\0{kind}\0{key}".encode(),
                               usedforsecurity=False).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_CACHE_MAX = 20_000
_SOURCES: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any] | None, str]] = {}


def _cited(c: Citation) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """A citation's card ``source``, its ``links`` entry (None without a URL) and its
    Markdown line, made once per citation (its key, locator and identifiers: two
    guidelines may use one key for different works)."""
    key = (c.key, c.locator, c.title, c.year, c.doi, c.pmid, c.url, c.unverified)
    found = _SOURCES.get(key)
    if found is None:
        url = link(c)
        name = label(c)[:200]
        source: dict[str, Any] = {"label": name, **({"url": url} if url else {})}
        entry = f"- [{md(label(c))}]({url})" if url else f"- {md(label(c))}"
        if c.locator:
            entry += f": {md(c.locator)}"
        if c.unverified:
            entry += " (identifier unverified)"
        found = (source, {"label": name, "url": url, "type": "absolute"} if url else None,
                 entry)
        if len(_SOURCES) < _CACHE_MAX:
            _SOURCES[key] = found
    return found


def source_of(cites: Iterable[Citation], words: Words) -> dict[str, Any]:
    """The card's ``source``: the first citation (copied: the cached one is shared)."""
    for c in cites:
        return dict(_cited(c)[0])
    g = words.guideline
    return {"label": f"spinerules guideline {g.id} {g.version or ''}".strip()}


def links_of(cites: Iterable[Citation]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for c in cites:
        found = _cited(c)[1]
        if found is not None and found["url"] not in seen:
            seen[found["url"]] = dict(found)
    return list(seen.values())


def sources_md(cites: Iterable[Citation]) -> str:
    lines: dict[str, str] = {}
    for c in cites:
        if c.key not in lines:
            lines[c.key] = _cited(c)[2]
    return "**Sources**\n\n" + "\n".join(lines.values()) if lines else ""


_IDENT = re.compile(r"[a-z_][a-z0-9_]*\Z")
_BOUND = re.compile(r"[a-z_]+\[\d+\]\Z")


def own_conditions(r: Recommendation) -> tuple[list[tuple[str, Any]], str | None]:
    """A recommendation's own conditions and the list item it is for: the first two parts
    of ``report.split_because``, without collecting the defines' conditions (most of a
    ``because`` list, and not shown on a card)."""
    own: list[tuple[str, Any]] = []
    bound = None
    for b in r.because:
        e = b.expression
        if e.startswith("via "):
            continue
        v = b.value
        if isinstance(v, str) and _BOUND.match(v) and _IDENT.match(e):
            bound = v
        else:
            own.append((e, v))
    return own, bound


def _words(e: str, v: Any, glossary: Glossary, cache: dict[Any, Any] | None) -> str | None:
    """``condition_words``, remembered in ``cache`` (a guideline's) per condition and
    (hashable) value."""
    if cache is None:
        return condition_words(e, v, glossary)
    key = ("words", e, v.__class__, v)
    try:
        if key in cache:
            found: str | None = cache[key]
            return found
    except TypeError:  # a list value
        return condition_words(e, v, glossary)
    found = condition_words(e, v, glossary)
    if len(cache) < _CACHE_MAX:
        cache[key] = found
    return found


def reason(r: Recommendation, glossary: Glossary, cache: dict[Any, Any] | None = None) -> str:
    """The short reason of a recommendation (as the text report's "why"); ``cache``: a
    guideline's ``Words.cache``, where the reason of each rule and ``because`` list, and
    the words of each condition and value, are kept."""
    if cache is None:
        return _reason(r, glossary, None)
    # by the identity of the ``because`` list: the engine keeps one per rule and values
    # shown (``RulePlan.becauses``), and hashing it would read every entry; the entry
    # holds the list itself, so that its id stays its own while kept
    key = ("reason", id(r.because))
    found = cache.get(key)
    if found is not None and found[0] is r.because and found[1] == r.rule:
        text: str = found[2]
        return text
    text = _reason(r, glossary, cache)
    if len(cache) < _CACHE_MAX:
        cache[key] = (r.because, r.rule, text)
    return text


def _reason(r: Recommendation, glossary: Glossary, cache: dict[Any, Any] | None) -> str:
    own, bound = own_conditions(r)
    why = "; ".join(dict.fromkeys(w for e, v in own
                                  if (w := _words(e, v, glossary, cache)) is not None))
    if bound:
        name, _, index = bound.partition("[")
        owner = name[:-1] if name.endswith("s") else name
        number = int(index.rstrip("]")) + 1 if index.rstrip("]").isdigit() else index
        why = f"for {owner.replace('_', ' ')} {number}: {why}" if why else \
            f"for {owner.replace('_', ' ')} {number}"
    return why


def _static_parts(r: Recommendation, words: Words) -> dict[str, Any]:
    """What a recommendation's card holds whatever the patient (its text, sources, links,
    summary, indicator): made once per rule and code, then shared (never mutated)."""
    key = (r.rule, r.code, r.location, r.action)
    found: dict[str, Any] | None = words.cache.get(key)
    if found is not None:
        return found
    text = r.text or r.code.replace("_", " ")
    tail = []
    if r.strength:
        tail.append(f"Strength: {r.strength}" + (f"; urgency: {r.urgency}" if r.urgency
                                                 else ""))
    sources = sources_md(r.citations)
    if sources:
        tail.append(sources)
    if r.against:
        tail.append(sources_md(r.against).replace("**Sources**", "**Sources against**"))
    tail.append(f"`{r.code}` from rule `{r.rule}` of {words.guideline.id} "
                f"{words.guideline.version or ''}".rstrip())
    found = {"text": md(text), "tail": "\n\n".join(tail),
             "summary": summary(_LABELS.get(r.action, "") + text),
             "indicator": indicator(r.action, r.urgency),
             "source": source_of(r.citations, words),
             "links": links_of(r.citations + r.against),
             "order": BY_CODE.get(r.code) if r.action in ("recommend", "consider") else None}
    if len(words.cache) < _CACHE_MAX:
        words.cache[key] = found
    return found


def recommendation_card(r: Recommendation, words: Words, hook_instance: str,
                        patient_ref: str | None) -> dict[str, Any]:
    static = _static_parts(r, words)
    parts = [static["text"]]
    why = reason(r, words.glossary, words.cache)
    if why:
        parts.append(f"**Why:** {md(why)}")
    if r.pending:
        key = ("pending", r.pending)
        pending = words.cache.get(key)
        if pending is None:
            pending = f"**Taken as no while not recorded:** {md(short_facts(r.pending))}"
            if len(words.cache) < _CACHE_MAX:
                words.cache[key] = pending
        parts.append(pending)
    parts.append(static["tail"])
    card: dict[str, Any] = {
        "uuid": card_id(hook_instance, "code", f"{r.code}\0{r.rule}\0{r.location}"),
        "summary": static["summary"],
        "indicator": static["indicator"],
        "detail": "\n\n".join(parts),
        "source": static["source"],
    }
    if static["links"]:
        card["links"] = static["links"]
    order = static["order"]
    if order is not None:
        card["suggestions"] = [suggestion(order, r, hook_instance, patient_ref)]
        card["selectionBehavior"] = "at-most-one"
    return card


def order_resource(order: Order, r: Recommendation | None,
                   patient_ref: str | None) -> dict[str, Any]:
    codings = [{"system": ORDER_SYSTEM, "code": order.code, "display": order.display}]
    codings += [{"system": s.system, "code": s.code, "display": s.display}
                for s in order.standard if s.verified][:1]
    concept = {"coding": codings, "text": order.display}
    resource: dict[str, Any] = {"resourceType": order.resource, "status": "draft",
                                "intent": "proposal"}
    if order.resource == "MedicationRequest":
        resource["medicationCodeableConcept"] = concept
    else:
        resource["code"] = concept
        resource["category"] = [{"text": order.category}]
    if patient_ref:
        resource["subject"] = {"reference": patient_ref}
    if r is not None and r.text:
        resource["note"] = [{"text": r.text}]
    return resource


def suggestion(order: Order, r: Recommendation, hook_instance: str,
               patient_ref: str | None) -> dict[str, Any]:
    return {
        "label": f"Order: {order.display}"[:200],
        "uuid": card_id(hook_instance, "suggestion", r.code),
        "isRecommended": r.action == "recommend",
        "actions": [{"type": "create", "description": f"Create a draft {order.resource} "
                     f"for {order.display.lower()}",
                     "resource": order_resource(order, r, patient_ref)}],
    }


def findings_card(found: list[Recommendation], words: Words,
                  hook_instance: str) -> dict[str, Any]:
    lines = []
    cites: list[Citation] = []
    for r in found:
        why = reason(r, words.glossary, words.cache)
        lines.append(f"- {md(r.text or r.code)}" + (f" (*{md(why)}*)" if why else ""))
        cites.extend(r.citations)
    texts = "; ".join(summary(r.text or r.code, 60) for r in found)
    detail = "\n".join(lines)
    sources = sources_md(cites)
    if sources:
        detail += "\n\n" + sources
    card: dict[str, Any] = {
        "uuid": card_id(hook_instance, "findings", ",".join(r.code for r in found)),
        "summary": summary(f"Findings: {texts}"), "indicator": "info",
        "detail": detail, "source": source_of(cites, words)}
    links = links_of(cites)
    if links:
        card["links"] = links
    return card


def missing_cards(result: Result, words: Words, hook_instance: str) -> list[dict[str, Any]]:
    """One card per missing fact that would change the decision: the facts of every
    request (the guideline's own and the engine's ``record_missing_facts``). A card names
    the rules that wait on its fact (from ``undetermined`` and the recommendations' pending
    facts, else the request's) and cites their sources."""
    waiting_on: dict[str, list[str]] = {}
    for u in result.undetermined:
        for f in u.facts:
            waiting_on.setdefault(f, []).append(u.rule)
    for r in result.recommendations:
        for f in r.pending:
            waiting_on.setdefault(f, []).append(r.rule)
    cards: list[dict[str, Any]] = []
    seen: set[str] = set()
    # the sources of one request and list of waiting rules, made once per call: most
    # facts of a request share the request's list of rules
    sourced: dict[tuple[int, tuple[str, ...]], tuple[tuple[Citation, ...], Any]] = {}
    for m in result.missing:
        for fact in m.facts:
            if fact in seen:
                continue
            seen.add(fact)
            rules = tuple(dict.fromkeys(waiting_on.get(fact) or m.waiting))
            found = sourced.get((id(m), rules))
            if found is None:
                cites: tuple[Citation, ...] = ()
                if m.code != ASK_CODE:
                    cites = m.citations
                for rule in rules:
                    cites += words.rule_cites.get(rule, ())
                if not cites:
                    cites = m.citations
                cites = _first_distinct(cites, MISSING_SOURCES)
                found = sourced[id(m), rules] = (
                    cites, tuple((c.key, c.locator) for c in cites))
            cites, cited = found
            key = ("missing", fact, m.code, rules, cited)
            card = words.cache.get(key)
            if card is None:
                card = _missing_card(fact, m, list(rules), cites, words)
                if len(words.cache) < _CACHE_MAX:
                    words.cache[key] = card
            card = {"uuid": card_id(hook_instance, "missing", fact), **card}
            cards.append(card)
    return cards


def _missing_card(fact: str, m: Any, rules: list[str], cites: tuple[Citation, ...],
                  words: Words) -> dict[str, Any]:
    ask = question(fact, words.glossary)
    decides = "; ".join(dict.fromkeys(words.glossary.rule(w) for w in rules[:8]))
    if len(rules) > 8:
        decides += f"; and {len(rules) - 8} more"
    parts = [f"**Record:** {md(ask)}"]
    if m.text and m.code != ASK_CODE:
        parts.append(md(m.text))
    if decides:
        parts.append(f"**The answer would decide:** {md(decides)}")
    parts.append(f"Fact `{fact}`, asked by `{m.code}`; the sources of the rules waiting on "
                 "it are linked below.")
    card: dict[str, Any] = {"summary": summary(f"Missing: {ask}"), "indicator": "info",
                            "detail": "\n\n".join(parts), "source": source_of(cites, words)}
    links = links_of(cites)
    if links:
        card["links"] = links
    return card


def _first_distinct(cites: tuple[Citation, ...], n: int) -> tuple[Citation, ...]:
    out: dict[str, Citation] = {}
    for c in cites:
        if c.key not in out:
            out[c.key] = c
            if len(out) == n:
                break
    return tuple(out.values())


def result_cards(result: Result, words: Words, hook_instance: str,
                 patient_ref: str | None) -> list[dict[str, Any]]:
    """Every card of one result: the most urgent first, then findings, then missing facts."""
    order = {"critical": 0, "warning": 1, "info": 2}
    found = [r for r in result.recommendations if r.action == "classify"]
    cards = [recommendation_card(r, words, hook_instance, patient_ref)
             for r in result.recommendations if r.action != "classify"]
    cards.sort(key=lambda c: order[c["indicator"]])
    if found:
        cards.append(findings_card(found, words, hook_instance))
    cards.extend(missing_cards(result, words, hook_instance))
    return cards
