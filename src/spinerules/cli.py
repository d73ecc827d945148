"""The ``spinerules`` command: ``eval``, ``check``, ``explain``, ``test``, ``fmt``, ``new``.

Exit status: 0 success (a patient was evaluated, whatever it was recommended or asked
for; a check found no error); 1 the guideline has errors (or tests failed); 2 usage
error; 3 the patient record is invalid; 4 evaluation failed (budget or run-time fault);
5 internal error (``fmt`` refused to write a file it could not format safely).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from spinerules.api import EvaluationFailedError, Guideline, analyse, load, parse_iso_date
from spinerules.engine.result import Result, render_text
from spinerules.lang import diagnostics as dg
from spinerules.lang.source import is_folder, read_limited
from spinerules.records.loader import (
    DEFAULT_MAX_BYTES,
    RecordError,
    RecordProblem,
    load_record_json,
)

EXIT_OK, EXIT_GUIDELINE, EXIT_USAGE, EXIT_RECORD, EXIT_EVAL = 0, 1, 2, 3, 4
EXIT_INTERNAL = 5


_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")
"""What is never printed as it is: control characters (C0 but tab and newline, DEL, C1:
ANSI and OSC escape sequences start with them), bidirectional overrides and marks, which
can make a line read differently from what it holds, and unpaired surrogates."""


def escape_controls(text: str) -> str:
    """``text`` with each character of :data:`_UNSAFE` written as an escape (``\\x1b``,
    ``\\u202e``), so that a patient id or guideline text cannot drive the terminal."""
    def one(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    return _UNSAFE.sub(one, text)


def _echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print text output, its control characters escaped."""
    click.echo(escape_controls(text), err=err, nl=nl)


def _echo_json(text: str) -> None:
    """Print JSON with the characters of :data:`_UNSAFE` as ``\\uXXXX`` escapes (the same
    JSON: they can only occur inside strings)."""
    click.echo(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _fail(message: str, code: int) -> NoReturn:
    _echo(message, err=True)
    sys.exit(code)


def _load(guideline: str, root: str | None = None) -> Guideline:
    try:
        return load(guideline, root=root)
    except dg.GuidelineError as exc:
        _fail(str(exc), EXIT_GUIDELINE)


def _read_patient(g: Guideline, patient: str) -> Any:
    limit = DEFAULT_MAX_BYTES
    size: int | None = None
    if patient == "-":
        stream = getattr(sys.stdin, "buffer", None)  # never more than the limit in memory
        data = stream.read(limit + 1) if stream is not None \
            else sys.stdin.read(limit + 1).encode("utf-8", "surrogatepass")
        name = "<stdin>"
    else:
        try:
            with open(patient, "rb") as fh:
                data = fh.read(limit + 1)
                size = os.fstat(fh.fileno()).st_size
        except OSError as exc:
            _fail(f"error[SR501]: cannot read the patient record `{patient}`: {exc}", EXIT_RECORD)
        name = patient
    try:
        if len(data) > limit:
            shown = f"{size} bytes" if size and size > limit else f"more than {limit} bytes"
            raise RecordError([RecordProblem(
                "$", f"the record is too large ({shown}; the limit is {limit})")], source=name)
        return load_record_json(g.record_type, data, source=name, max_bytes=limit)
    except RecordError as exc:
        lines = [f"error[SR501]: the patient record {name} is invalid"]
        lines += [f"  {p.path}: {p.message}" for p in exc.problems]
        _fail("\n".join(lines), EXIT_RECORD)


def _as_of(value: str | None) -> datetime.date:
    if value is None:
        return datetime.date.today()
    day = parse_iso_date(value)
    if day is None:  # only YYYY-MM-DD: not 2026-W07-3, 20260218 or 2026-02-18T00:00
        _fail(f"error: --as-of expects a date like 2026-02-18, got {value!r}", EXIT_USAGE)
    return day


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
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def eval_cmd(guideline: str, patient: str, as_of: str | None, fmt: str, trace: bool,
             root: str | None = None) -> None:
    """Evaluate GUIDELINE (a path, a project folder or a bundled name) for PATIENT (a JSON
    file, or -)."""
    g = _load(guideline, root)
    record = _read_patient(g, patient)
    result = _evaluate(g, record, _as_of(as_of), trace)
    if fmt == "json":
        _echo_json(result.dumps())
    elif fmt == "markdown":
        _echo(render_markdown(result))
    else:
        _echo(render_text(result), nl=False)
        if trace and result.trace is not None:
            _echo("\nTRACE\n" + result.trace.render())


def render_markdown(result: Result) -> str:
    """The text plan inside a Markdown document."""
    return f"# {result.guideline['title']}\n\n```text\n{render_text(result)}```\n"


@main.command("explain")
@click.argument("guideline")
@click.argument("patient")
@click.argument("code")
@click.option("--as-of", "as_of", help="The evaluation date (YYYY-MM-DD); default today.")
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def explain_cmd(guideline: str, patient: str, code: str, as_of: str | None,
                root: str | None = None) -> None:
    """Why (or why not) GUIDELINE gives CODE for PATIENT."""
    g = _load(guideline, root)
    record = _read_patient(g, patient)
    result = _evaluate(g, record, _as_of(as_of), True)
    _echo(result.explain(code))


def _rules_files(paths: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if is_folder(path):
            # a folder: each sub-folder's entry file, or every .rules file that has a header
            for f in sorted(path.rglob("*.rules")):
                if is_folder(f):
                    continue
                try:  # a named pipe or /dev/zero is reported by the check, never read
                    head = read_limited(f, 4000)[0].decode("utf-8", errors="replace")
                except OSError:
                    out.append(str(f))
                    continue
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
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def check_cmd(paths: tuple[str, ...], fmt: str, root: str | None = None) -> None:
    """Check guidelines (files, folders or bundled names); exit 1 on errors."""
    all_diags: list[dg.Diagnostic] = []
    texts: dict[str, Any] = {}
    files = _rules_files(paths)
    for f in files:
        checked, diags = analyse(f, root=root)
        all_diags.extend(diags)
        if checked is not None:
            texts.update(checked.program.texts)
        else:
            from spinerules.api import _texts_of

            texts.update(_texts_of(f, diags))
    errors = [d for d in all_diags if d.is_error]
    if fmt == "json":
        _echo_json(json.dumps({"files": files, "diagnostics": [d.to_json() for d in all_diags],
                               "errors": len(errors)}, indent=2))
    elif all_diags:
        _echo(dg.render_all(all_diags, texts))
    else:
        _echo(f"ok: {len(files)} guideline(s), no problems")
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
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def test_cmd(paths: tuple[str, ...], fmt: str, properties: bool, examples: int,
             coverage: bool, fail_under: float | None, root: str | None = None) -> None:
    """Run `test` blocks and YAML case files; exit 1 if any fails."""
    from spinerules.testing.runner import collect, describe_failure, run_case

    collected = list(collect(list(paths), root=root))
    results = [run_case(case, g, root=root) for case, g in collected]
    failed = [r for r in results if not r.passed]
    reports = _coverage(results, root) if coverage else []
    low = [r for r in reports if fail_under is not None
           and min(r.rule_percent, r.condition_percent) < fail_under]
    prop_report: list[dict[str, Any]] = []
    if properties:
        from spinerules.testing.properties import check_properties

        for f in _rules_files(paths):
            try:
                g = load(f, root=root)
            except dg.GuidelineError:
                continue  # reported by the cases above
            for failure in check_properties(g, examples=examples):
                prop_report.append({"guideline": f, "property": failure.name,
                                    "message": failure.message, "patient": failure.patient,
                                    "text": failure.render()})
    if fmt == "json":
        _echo_json(json.dumps({"passed": len(results) - len(failed), "failed": len(failed),
                               "cases": [r.to_json() for r in results],
                               "properties": prop_report,
                               "coverage": [r.to_json() for r in reports]}, indent=2))
    else:
        for r in failed:
            _echo(describe_failure(r) + "\n")
        for p in prop_report:
            _echo(f"{p['guideline']}: {p['text']}\n")
        for report in reports:
            _echo(report.render() + "\n")
        tail = f", {len(prop_report)} property failure(s)" if properties else ""
        _echo(f"{len(results) - len(failed)} passed, {len(failed)} failed{tail}")
    bad = failed or prop_report or low or not results
    sys.exit(EXIT_GUIDELINE if bad else EXIT_OK)


def _coverage(results: list[Any], root: str | None = None) -> list[Any]:
    """Coverage per guideline, over the cases that evaluated."""
    from spinerules.api import load as load_guideline
    from spinerules.testing.coverage import measure

    by_guideline: dict[str, list[Any]] = {}
    names: dict[str, str] = {}
    for r in results:
        if r.result is not None:
            path = Path(r.case.guideline)
            key = str(path.resolve()) if path.exists() else r.case.guideline
            names.setdefault(key, r.case.guideline)
            by_guideline.setdefault(key, []).append(r.result)
    return [measure(load_guideline(names[key], root=root), rs)
            for key, rs in sorted(by_guideline.items())]


def _fmt_files(paths: tuple[str, ...]) -> list[str]:
    """Files as given; folders give every ``.rules`` file under them, sorted."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if is_folder(path):
            out.extend(str(f) for f in sorted(path.rglob("*.rules")) if f.is_file())
        else:
            out.append(p)
    return out


def _unified_diff(name: str, old: str, new: str) -> str:
    """A unified diff in git's form (``a/<name>``, ``b/<name>``)."""
    import difflib

    def lines(text: str) -> list[str]:
        parts = text.split("\n")
        out = [line + "\n" for line in parts[:-1]]
        return [*out, parts[-1]] if parts[-1] else out

    shown = name.lstrip("/")
    diff = difflib.unified_diff(lines(old), lines(new), f"a/{shown}", f"b/{shown}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in diff)


def _write_atomic(path: str, text: str) -> None:
    """Replace a file's contents in one step: a crash leaves the old file or the new one."""
    import os
    import shutil
    import tempfile

    target = Path(path).resolve()  # through a symlink, to the file it names
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@main.command("fmt")
@click.argument("paths", nargs=-1, required=True)
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; list the files that would change and exit 1 if any would.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; print a unified diff of the changes.")
def fmt_cmd(paths: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Rewrite .rules files (or every .rules file in folders) in the canonical layout.

    Comments are kept. `-` formats standard input to standard output. A file with errors
    is reported as `spinerules check` reports it and left untouched; so is a file whose
    formatted text would not parse back to the same guideline (an internal error, exit 5).
    """
    from spinerules.lang.parser import decode_source, read_source
    from spinerules.lang.printer import UnsafeFormatError, format_source
    from spinerules.lang.source import Source

    problems: list[dg.Diagnostic] = []
    texts: dict[str, Source] = {}
    changed: list[str] = []
    failed: list[str] = []
    internal = False
    files = _fmt_files(paths)
    for f in files:
        if f == "-":
            source, read_problems = decode_source(sys.stdin.buffer.read(), "<stdin>")
        else:
            source, read_problems = read_source(f)
        if source is None:
            problems.extend(read_problems)
            failed.append(f)
            continue
        try:
            text, found = format_source(source)
        except UnsafeFormatError as exc:
            _echo(f"error: internal error: {exc}; please report it", err=True)
            internal = True
            failed.append(f)
            continue
        if text is None:
            problems.extend(d for d in found if d.is_error)
            texts[source.name] = source
            failed.append(f)
            continue
        if f == "-" and not (check_only or show_diff):
            click.echo(text, nl=False)
            continue
        if text == source.text:
            continue
        if show_diff:
            _echo(_unified_diff(source.name, source.text, text), nl=False)
        elif check_only:
            _echo(f"would reformat {f}")
        else:
            try:
                _write_atomic(f, text)
            except OSError as exc:
                _echo(f"error: cannot write `{f}`: {exc.strerror or exc}", err=True)
                failed.append(f)
                continue
            _echo(f"reformatted {f}", err=True)
        changed.append(f)
    if problems:
        _echo(dg.render_all(dg.sort_and_cap(problems), texts), err=True)
    if paths != ("-",):
        done = "would be reformatted" if check_only or show_diff else "reformatted"
        summary = f"{len(changed)} file(s) {done}, {len(files) - len(changed) - len(failed)} " \
            "unchanged"
        _echo(summary + (f", {len(failed)} not formatted" if failed else ""), err=True)
    if internal:
        sys.exit(EXIT_INTERNAL)
    if failed or (check_only and changed):
        sys.exit(EXIT_GUIDELINE)
    sys.exit(EXIT_OK)


@main.command("new")
@click.argument("name")
@click.option("--dir", "folder", default=None, type=click.Path(file_okay=False),
              help="Where to write the project (default: ./NAME).")
def new_cmd(name: str, folder: str | None) -> None:
    """Start a guideline project NAME: spinerules.toml, a record declaration, a guideline
    with a source, a rule and a test, a test patient and a case file, which check and test
    clean."""
    from spinerules.lang.project import new_project

    target = Path(folder) if folder is not None else Path(name)
    try:
        written = new_project(target, name)
    except ValueError as exc:
        _fail(f"error: {exc}", EXIT_USAGE)
    except OSError as exc:
        _fail(f"error: cannot write the project: {exc.strerror or exc}", EXIT_USAGE)
    for path in written:
        _echo(f"created {path}")
    _echo(f"next: spinerules check {target} && spinerules test {target}")


if __name__ == "__main__":  # pragma: no cover
    main()
