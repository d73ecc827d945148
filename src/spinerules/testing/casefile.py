"""YAML case files as a checked format: keys, value shapes, and the codes they name.

The format is published as a JSON Schema (``case.schema.json`` beside this module, and
``docs/reference/case-file.schema.json``); :func:`check_case_file` checks a file against the
same rules and, beyond what a schema can say, checks every code, rule id and score name
against the guideline the case names. Each problem is a located diagnostic (file, line,
column, caret, and a "did you mean" when a close spelling exists):

- ``SR601`` an unknown key (``want_cods``);
- ``SR602`` a code, rule id, score or error code the guideline cannot give;
- ``SR603`` a value of the wrong shape (``want_codes: dexa_scan``, a string, where a list
  is needed, or an ``as_of`` that is not a date);
- ``SR604`` text that is not YAML, or a file that is not a case file at all.

Example:
    >>> from spinerules.lang.source import Source
    >>> src = Source("x.cases.yaml", "guideline: vcf\\nwant_cods: [dexa_scan]\\n")
    >>> [(d.code, d.span.line, d.hints[0]) for d in check_case_text(src)]
    [('SR601', 2, 'did you mean `want_codes`?')]
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from importlib.resources import files
from typing import Any

import attrs
import yaml

from spinerules.lang import diagnostics as dg
from spinerules.lang.source import Source

#: the keys of one case, and what each holds (the JSON Schema says the same)
CASE_KEYS: dict[str, str] = {
    "name": "text",
    "note": "text",
    "description": "text",
    "guideline": "text",
    "as_of": "date",
    "patient": "mapping",
    "patient_file": "text",
    "want_codes": "codes",
    "want_recommendations": "codes",
    "want_not": "codes",
    "want_not_codes": "codes",
    "want_missing": "codes",
    "want_not_missing": "codes",
    "want_rules": "rules",
    "want_not_rules": "rules",
    "want_scores": "scores",
    "want_error": "error",
}

#: keys only the top of a file may hold; every case key may be there too (a default for
#: each case of the file)
FILE_KEYS: dict[str, str] = {"cases": "cases"}

CODE_KEYS = tuple(k for k, v in CASE_KEYS.items() if v == "codes")
RULE_KEYS = tuple(k for k, v in CASE_KEYS.items() if v == "rules")


@attrs.frozen(kw_only=True)
class Vocabulary:
    """What a guideline can give: the names a case may expect."""

    codes: frozenset[str]
    rules: frozenset[str]
    scores: frozenset[str]


def case_schema() -> dict[str, Any]:
    """The JSON Schema of a case file (shipped as ``case.schema.json``)."""
    text = files("spinerules.testing").joinpath("case.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when available)."""


@attrs.frozen(kw_only=True)
class ParsedCaseFile:
    """A case file read once: its data, its node tree (for positions) and any problem."""

    source: Source
    data: Any
    node: yaml.Node | None
    problems: tuple[dg.Diagnostic, ...]


def parse_case_text(source: Source) -> ParsedCaseFile:
    """The data and node tree of a case file's text; a YAML error is an ``SR604``."""
    loader = _Loader(source.text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        start = min(mark.index, len(source.text)) if mark is not None else 0
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        notes = [f"{context} that starts at line {opened.line + 1}, column "
                 f"{opened.column + 1}"] if context and opened is not None and mark else []
        return ParsedCaseFile(source=source, data=None, node=None, problems=(dg.make(
            "SR604", source.span(start, start + 1), detail=f"not valid YAML: {what}"[:300],
            notes=notes),))
    finally:
        loader.dispose()
    return ParsedCaseFile(source=source, data=data, node=node, problems=())


def check_case_text(source: Source,
                    vocabulary: Callable[[str], Vocabulary | None] | None = None,
                    ) -> list[dg.Diagnostic]:
    """Every problem of one case file's text. ``vocabulary(guideline)`` gives the names a
    guideline can emit (None when it does not load: its cases report that when run)."""
    parsed = parse_case_text(source)
    if parsed.problems:
        return list(parsed.problems)
    return check_parsed(parsed, vocabulary)


def check_parsed(parsed: ParsedCaseFile,
                 vocabulary: Callable[[str], Vocabulary | None] | None = None,
                 ) -> list[dg.Diagnostic]:
    """The problems of a parsed case file (see :func:`check_case_text`)."""
    return [d for _i, d in located_problems(parsed, vocabulary)]


def located_problems(parsed: ParsedCaseFile,
                     vocabulary: Callable[[str], Vocabulary | None] | None = None,
                     ) -> list[tuple[int | None, dg.Diagnostic]]:
    """Each problem with the index of the case it belongs to (None: the whole file)."""
    source, node = parsed.source, parsed.node
    out: list[tuple[int | None, dg.Diagnostic]] = [(None, d) for d in parsed.problems]
    if node is None:
        if not parsed.problems:
            out.append((None, dg.make("SR604", source.span(0, 0),
                                      detail="the file is empty: a case file is a mapping "
                                      "with `guideline:` and `cases:`")))
        return out
    if not isinstance(node, yaml.MappingNode):
        out.append((None, _problem("SR604", source, node, detail="a case file is a mapping "
                                   "(`guideline:`, `as_of:`, `cases:` ...), found "
                                   f"{_kind(node)}")))
        return out
    top = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    allowed_top = {**CASE_KEYS, **FILE_KEYS}
    for key_node, value_node in node.value:
        out.extend((None, d) for d in _key_and_value(source, key_node, value_node, allowed_top,
                                                    "the top of a case file"))
    defaults = {k: v for k, (_kn, v) in top.items() if k in CASE_KEYS}
    if "cases" not in top:
        entries: list[yaml.Node] = [node]
        defaults = {}
    else:
        cases_node = top["cases"][1]
        entries = list(cases_node.value) if isinstance(cases_node, yaml.SequenceNode) else []
    for i, entry in enumerate(entries):
        if not isinstance(entry, yaml.MappingNode):
            out.append((i, _problem("SR603", source, entry, key=f"case {i + 1}",
                                    expected="a mapping (name:, patient:, want_codes: ...)",
                                    found=_kind(entry))))
            continue
        own = {k.value: v for k, v in entry.value if isinstance(k, yaml.ScalarNode)}
        if entry is not node:
            for key_node, value_node in entry.value:
                out.extend((i, d) for d in _key_and_value(source, key_node, value_node,
                                                          CASE_KEYS, "a case"))
        merged = {**defaults, **own}
        out.extend((i, d) for d in _names(source, merged, vocabulary))
    return out


def _key_and_value(source: Source, key_node: yaml.Node, value_node: yaml.Node,
                   allowed: dict[str, str], where: str) -> Iterator[dg.Diagnostic]:
    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
    if key not in allowed:
        shown = key if isinstance(key, str) else _kind(key_node)
        hints = list(dg.did_you_mean(shown, allowed))
        if not hints and where == "a case" and shown in FILE_KEYS:
            hints.append(f"`{shown}` belongs at the top of the file")
        hints.append("case-file keys: " + ", ".join(sorted(allowed)))
        yield _problem("SR601", source, key_node, key=shown, where=where, hints=hints)
        return
    expected = _shape_problem(allowed[key], value_node)
    if expected is not None:
        yield _problem("SR603", source, value_node, key=key, expected=expected,
                       found=_kind(value_node))


def _shape_problem(kind: str, node: yaml.Node) -> str | None:
    """What ``node`` should have been, or None when it is of the right shape."""
    scalar = isinstance(node, yaml.ScalarNode)
    tag = node.tag.rsplit(":", 1)[-1] if scalar else ""
    if kind == "text":
        return None if scalar and tag == "str" else "text"
    if kind == "error":
        if scalar and tag == "str" and node.value in dg.CODES:
            return None
        return "a diagnostic code such as SR501"
    if kind == "date":
        if scalar and tag == "timestamp" and len(node.value) == 10:
            return None
        if scalar and tag == "str":
            try:
                datetime.date.fromisoformat(node.value)
                return None if len(node.value) == 10 else "a date like 2026-02-18"
            except ValueError:
                pass
        return "a date like 2026-02-18"
    if kind == "mapping":
        return None if isinstance(node, yaml.MappingNode) else "a mapping (the patient record)"
    if kind in ("codes", "rules"):
        what = "codes" if kind == "codes" else "rule ids"
        if isinstance(node, yaml.SequenceNode) and all(
                isinstance(v, yaml.ScalarNode) and v.tag.endswith(":str") for v in node.value):
            return None
        if scalar and tag == "null":
            return None
        return f"a list of {what}, like [{'dexa_scan' if kind == 'codes' else 'S15.dexa'}]"
    if kind == "scores":
        if not isinstance(node, yaml.MappingNode):
            return "a mapping of score names to a value or [min, max]"
        for _k, v in node.value:
            if not (_is_number(v) or (isinstance(v, yaml.SequenceNode) and len(v.value) == 2
                                      and all(_is_number(x) for x in v.value))):
                return "a mapping of score names to a number or [min, max]"
        return None
    if kind == "cases":
        return None if isinstance(node, yaml.SequenceNode) else "a list of cases"
    return None  # pragma: no cover


def _is_number(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.rsplit(":", 1)[-1] in ("int", "float")


def _names(source: Source, case: dict[str, yaml.Node],
           vocabulary: Callable[[str], Vocabulary | None] | None) -> Iterator[dg.Diagnostic]:
    """Codes, rule ids and score names the case's guideline cannot give."""
    g_node = case.get("guideline")
    if not isinstance(g_node, yaml.ScalarNode) or not g_node.value or vocabulary is None:
        return
    guideline = str(g_node.value)
    known = vocabulary(guideline)
    if known is None:
        return
    checks = [(k, known.codes, "code") for k in CODE_KEYS]
    checks += [(k, known.rules, "rule") for k in RULE_KEYS]
    for key, names, what in checks:
        node = case.get(key)
        if not isinstance(node, yaml.SequenceNode):
            continue
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and item.value not in names:
                yield _problem("SR602", source, item, key=key, what=what, name=item.value,
                               guideline=guideline,
                               hints=dg.did_you_mean(str(item.value), sorted(names)))
    scores = case.get("want_scores")
    if isinstance(scores, yaml.MappingNode):
        for k, _v in scores.value:
            name = str(k.value).split("@", 1)[0]  # `tlics@fractures[1]`: one iteration's
            if isinstance(k, yaml.ScalarNode) and name not in known.scores:
                yield _problem("SR602", source, k, key="want_scores", what="score",
                               name=k.value, guideline=guideline,
                               hints=dg.did_you_mean(str(k.value), sorted(known.scores)))


def _problem(code: str, source: Source, node: yaml.Node, *,
             hints: Any = (), **fields: Any) -> dg.Diagnostic:
    start = min(node.start_mark.index, len(source.text))
    end = max(start + 1, min(node.end_mark.index, len(source.text)))
    span = source.span(start, end)
    if span.end_line != span.line:  # a block value: underline its first line
        line_end = source.text.find("\n", start)
        span = source.span(start, line_end if line_end > start else start + 1)
    return dg.make(code, span, hints=hints, **fields)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    return {"str": f"the text {str(node.value)[:40]!r}", "int": f"the number {node.value}",
            "float": f"the number {node.value}", "bool": f"`{node.value}`", "null": "nothing",
            "timestamp": f"the date-time {node.value}"}.get(tag, f"`{node.value}`")


__all__ = ["CASE_KEYS", "FILE_KEYS", "ParsedCaseFile", "Vocabulary", "case_schema",
           "check_case_text", "check_parsed", "located_problems", "parse_case_text"]
