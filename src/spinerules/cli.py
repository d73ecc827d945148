"""The ``spinerules`` command: ``eval``, ``check``, ``explain``, ``test``, ``fmt``.

Exit status: 0 success (a patient was evaluated, whatever it was recommended or asked
for; a check found no error); 1 the guideline has errors (or tests failed); 2 usage
error; 3 the patient record is invalid; 4 evaluation failed (budget or run-time fault).
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from . import diagnostics as dg
from .api import EvaluationFailedError, Guideline, analyse, load
from .records import RecordError, load_record_json
from .result import Result, render_text

EXIT_OK, EXIT_GUIDELINE, EXIT_USAGE, EXIT_RECORD, EXIT_EVAL = 0, 1, 2, 3, 4


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _load(guideline: str) -> Guideline:
    try:
        return load(guideline)
    except dg.GuidelineError as exc:
        _fail(str(exc), EXIT_GUIDELINE)


def _read_patient(g: Guideline, patient: str) -> Any:
    if patient == "-":
        text = sys.stdin.read()
        name = "<stdin>"
    else:
        try:
            text = Path(patient).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"error[SR501]: cannot read the patient record `{patient}`: {exc}", EXIT_RECORD)
        name = patient
    try:
        return load_record_json(g.record_type, text, source=name)
    except RecordError as exc:
        lines = [f"error[SR501]: the patient record {name} is invalid"]
        lines += [f"  {p.path}: {p.message}" for p in exc.problems]
        _fail("\n".join(lines), EXIT_RECORD)


def _as_of(value: str | None) -> datetime.date:
    if value is None:
        return datetime.date.today()
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        _fail(f"error: --as-of expects a date like 2026-02-18, got {value!r}", EXIT_USAGE)


def _evaluate(g: Guideline, record: Any, as_of: datetime.date, trace: bool) -> Result:
    try:
        return g.evaluate(record, as_of=as_of, trace=trace)
    except EvaluationFailedError as exc:
        d = exc.diagnostic
        _fail(dg.render(d, g.program.texts.get(d.span.source)), EXIT_EVAL)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spinerules")
def main() -> None:
    """Clinical spine-care guidelines as executable, testable, traceable rules."""


@main.command("eval")
@click.argument("guideline")
@click.argument("patient")
@click.option("--as-of", "as_of", help="The evaluation date (YYYY-MM-DD); default today.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True)
@click.option("--trace", is_flag=True, help="Append the rule-by-rule trace.")
def eval_cmd(guideline: str, patient: str, as_of: str | None, fmt: str, trace: bool) -> None:
    """Evaluate GUIDELINE (a path or a bundled name) for PATIENT (a JSON file, or -)."""
    g = _load(guideline)
    record = _read_patient(g, patient)
    result = _evaluate(g, record, _as_of(as_of), trace)
    if fmt == "json":
        click.echo(result.dumps())
    elif fmt == "markdown":
        click.echo(render_markdown(result))
    else:
        click.echo(render_text(result), nl=False)
        if trace and result.trace is not None:
            click.echo("\nTRACE\n" + result.trace.render())


def render_markdown(result: Result) -> str:
    """The text plan inside a Markdown document."""
    return f"# {result.guideline['title']}\n\n```text\n{render_text(result)}```\n"


@main.command("explain")
@click.argument("guideline")
@click.argument("patient")
@click.argument("code")
@click.option("--as-of", "as_of", help="The evaluation date (YYYY-MM-DD); default today.")
def explain_cmd(guideline: str, patient: str, code: str, as_of: str | None) -> None:
    """Why (or why not) GUIDELINE gives CODE for PATIENT."""
    g = _load(guideline)
    record = _read_patient(g, patient)
    result = _evaluate(g, record, _as_of(as_of), True)
    click.echo(result.explain(code))


def _rules_files(paths: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            # a folder: each sub-folder's entry file, or every .rules file that has a header
            for f in sorted(path.rglob("*.rules")):
                head = f.read_text(encoding="utf-8", errors="replace")[:4000]
                if "guideline " in head and any(
                        line.lstrip().startswith("guideline ") for line in head.splitlines()):
                    out.append(str(f))
        else:
            out.append(p)
    return out


@main.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def check_cmd(paths: tuple[str, ...], fmt: str) -> None:
    """Check guidelines (files, folders or bundled names); exit 1 on errors."""
    all_diags: list[dg.Diagnostic] = []
    texts: dict[str, Any] = {}
    files = _rules_files(paths)
    for f in files:
        checked, diags = analyse(f)
        all_diags.extend(diags)
        if checked is not None:
            texts.update(checked.program.texts)
        else:
            from .api import _texts_of

            texts.update(_texts_of(f, diags))
    errors = [d for d in all_diags if d.is_error]
    if fmt == "json":
        click.echo(json.dumps({"files": files, "diagnostics": [d.to_json() for d in all_diags],
                               "errors": len(errors)}, indent=2))
    elif all_diags:
        click.echo(dg.render_all(all_diags, texts))
    else:
        click.echo(f"ok: {len(files)} guideline(s), no problems")
    sys.exit(EXIT_GUIDELINE if errors else EXIT_OK)


@main.command("test")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--properties", is_flag=True,
              help="Also check the consistency properties over generated patients.")
@click.option("--examples", default=2000, show_default=True,
              help="Generated patients per property (with --properties).")
@click.option("--coverage", "coverage", is_flag=True,
              help="Report rule and condition (MC/DC) coverage of the tests.")
@click.option("--fail-under", type=float, default=None,
              help="With --coverage: exit 1 if rule or condition coverage is below this.")
def test_cmd(paths: tuple[str, ...], fmt: str, properties: bool, examples: int,
             coverage: bool, fail_under: float | None) -> None:
    """Run `test` blocks and YAML case files; exit 1 if any fails."""
    from .testing import collect, describe_failure, run_case

    collected = list(collect(list(paths)))
    results = [run_case(case, g) for case, g in collected]
    failed = [r for r in results if not r.passed]
    reports = _coverage(results) if coverage else []
    low = [r for r in reports if fail_under is not None
           and min(r.rule_percent, r.condition_percent) < fail_under]
    prop_report: list[dict[str, Any]] = []
    if properties:
        from .properties import check_properties

        for f in _rules_files(paths):
            try:
                g = load(f)
            except dg.GuidelineError:
                continue  # reported by the cases above
            for failure in check_properties(g, examples=examples):
                prop_report.append({"guideline": f, "property": failure.name,
                                    "message": failure.message, "patient": failure.patient,
                                    "text": failure.render()})
    if fmt == "json":
        click.echo(json.dumps({"passed": len(results) - len(failed), "failed": len(failed),
                               "cases": [r.to_json() for r in results],
                               "properties": prop_report,
                               "coverage": [r.to_json() for r in reports]}, indent=2))
    else:
        for r in failed:
            click.echo(describe_failure(r) + "\n")
        for p in prop_report:
            click.echo(f"{p['guideline']}: {p['text']}\n")
        for report in reports:
            click.echo(report.render() + "\n")
        tail = f", {len(prop_report)} property failure(s)" if properties else ""
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed{tail}")
    bad = failed or prop_report or low or not results
    sys.exit(EXIT_GUIDELINE if bad else EXIT_OK)


def _coverage(results: list[Any]) -> list[Any]:
    """Coverage per guideline, over the cases that evaluated."""
    from .api import load as load_guideline
    from .coverage import measure

    by_guideline: dict[str, list[Any]] = {}
    names: dict[str, str] = {}
    for r in results:
        if r.result is not None:
            path = Path(r.case.guideline)
            key = str(path.resolve()) if path.exists() else r.case.guideline
            names.setdefault(key, r.case.guideline)
            by_guideline.setdefault(key, []).append(r.result)
    return [measure(load_guideline(names[key]), rs) for key, rs in sorted(by_guideline.items())]


if __name__ == "__main__":  # pragma: no cover
    main()
