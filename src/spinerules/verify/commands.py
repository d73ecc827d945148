"""The ``spinerules verify`` and ``spinerules diff`` commands.

Importing this module imports neither z3 nor the encoding: ``spinerules.cli`` adds the
commands, and the solver loads only when one of them runs.

Exit status: 0 nothing found (``diff``: equivalent); 1 findings (``diff``: some outcome
changes), or the guideline has errors; 2 usage error; 5 internal error: a witness that the
evaluator does not confirm. A construct the encoding does not cover is a located error
(SR410), exit status 1: nothing is claimed about that guideline.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from spinerules.console import fail

if TYPE_CHECKING:
    from spinerules.api import Guideline
    from spinerules.verify.analyse import Finding, Report

EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 5
FAILING = ("error", "warning")


def _load(path: str) -> Guideline:
    from spinerules.api import load
    from spinerules.lang import diagnostics as dg

    try:
        return load(path)
    except dg.GuidelineError as exc:
        fail(str(exc), EXIT_FOUND)


def _witness_line(f: Finding) -> list[str]:
    if f.witness is None:
        return ["  proof: no record exists (lists up to --max-list elements)"] if f.proof else []
    state = "confirmed by the evaluator" if f.confirmed else \
        f"NOT CONFIRMED (internal error): {f.problem}"
    lines = [f"  witness (as_of {f.as_of}, {state}):",
             "    " + json.dumps(f.witness, sort_keys=True)]
    if f.other is not None:
        lines += ["  and changed to:", "    " + json.dumps(f.other, sort_keys=True)]
    if f.outcomes is not None:
        lines.append(f"  old: {f.outcomes['old']}; new: {f.outcomes['new']}")
    return lines


def render_text(report: Report, *, title: str) -> str:
    lines = [f"{title} {report.guideline}: lists of at most {report.max_list} elements "
             f"(--max-list {report.max_list}); {report.queries} solver questions in "
             f"{report.seconds:.1f} s"]
    from spinerules.lang import diagnostics as dg

    for d in report.diagnostics:
        lines.append(dg.render(d, report.texts.get(d.span.source)))
    if report.proved:
        lines.append(f"proved ({len(report.proved)}):")
        lines += [f"  ok  {p}" for p in report.proved]
    lines.append(f"findings: {len(report.findings)}"
                 + (f", {len(report.internal_errors)} internal errors"
                    if report.internal_errors else ""))
    for f in report.findings:
        where = f" {f.location}" if f.location else ""
        lines.append(f"{f.severity}[{f.kind}]{where}: {f.message}")
        lines += _witness_line(f)
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def render_markdown(report: Report, *, title: str) -> str:
    lines = [f"### `spinerules {title}` {report.guideline}", "",
             f"Lists of at most **{report.max_list}** elements (`--max-list "
             f"{report.max_list}`); {report.queries} solver questions in "
             f"{report.seconds:.1f} s.", ""]
    for d in report.diagnostics:
        lines.append(f"- **{d.code}** `{d.span.location()}`: {d.message}")
    if report.proved:
        lines.append(f"**Proved** ({len(report.proved)}): "
                     + ", ".join(f"`{p}`" for p in report.proved))
        lines.append("")
    if not report.findings:
        lines.append("**No findings.**")
    else:
        lines += ["| | kind | subject | where | finding | witness |", "|---|---|---|---|---|---|"]
        for f in report.findings:
            mark = "proof" if f.proof else ("confirmed" if f.confirmed else
                                            "**internal error**")
            msg = f.message.replace("|", "\\|")
            lines.append(f"| {f.severity} | {f.kind} | `{f.subject}` | {f.location} | {msg} "
                         f"| {mark} |")
        lines.append("")
        for i, f in enumerate(report.findings, 1):
            if f.witness is None:
                continue
            lines += [f"<details><summary>{i}. {f.kind} `{f.subject}`: witness (as_of "
                      f"{f.as_of})</summary>", "", "```json",
                      json.dumps(f.witness, indent=2, sort_keys=True), "```"]
            if f.outcomes is not None:
                lines.append(f"Old: {f.outcomes['old']}; new: {f.outcomes['new']}.")
            if f.other is not None:
                lines += ["Changed to:", "```json", json.dumps(f.other, indent=2,
                                                               sort_keys=True), "```"]
            lines += ["</details>", ""]
    lines += [f"_{n}_" for n in report.notes]
    return "\n".join(lines)


def _emit(report: Report, fmt: str, title: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(render_markdown(report, title=title))
    else:
        click.echo(render_text(report, title=title))


def _max_list(value: int) -> int:
    if not 0 <= value <= 8:
        fail(f"error: --max-list takes 0 to 8 (the size of every list the solver "
              f"considers), got {value}", EXIT_USAGE)
    return value


_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
                       default="text", show_default=True)
_MAX_LIST = click.option("--max-list", "max_list", type=int, default=3, show_default=True,
                         help="Longest list (fractures, ...) the solver considers; every "
                              "answer holds for lists up to this length.")


@click.command("verify")
@click.argument("path")
@_MAX_LIST
@_FORMAT
@click.option("--no-lints", is_flag=True, help="Invariants, conflicts and dead rules only.")
def verify_cmd(path: str, max_list: int, fmt: str, no_lints: bool) -> None:
    """Prove every invariant of a guideline for all records, or give a counterexample;
    report dead and never-decidable rules, conflicts and lints, each with a witness
    patient that the evaluator confirms."""
    max_list = _max_list(max_list)
    g = _load(path)
    from spinerules.verify.analyse import verify

    report = verify(g, max_list=max_list, lints=not no_lints)
    _emit(report, fmt, "verify")
    _exit(report)


@click.command("diff")
@click.argument("old")
@click.argument("new")
@_MAX_LIST
@_FORMAT
def diff_cmd(old: str, new: str, max_list: int, fmt: str) -> None:
    """For every code and request of two versions of a guideline: a patient whose outcome
    changes (both outcomes side by side), or a proof that none does."""
    max_list = _max_list(max_list)
    a, b = _load(old), _load(new)
    from spinerules.verify.analyse import diff

    try:
        report = diff(a, b, max_list=max_list)
    except ValueError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    _emit(report, fmt, "diff")
    if not report.findings and not report.diagnostics and fmt == "text":
        click.echo("equivalent: no record (lists up to --max-list) changes any outcome")
    _exit(report)


def _exit(report: Any) -> None:
    if report.internal_errors:
        sys.exit(EXIT_INTERNAL)
    if report.diagnostics or any(f.severity in FAILING or f.kind == "changed"
                                 for f in report.findings):
        sys.exit(EXIT_FOUND)
    sys.exit(EXIT_OK)
