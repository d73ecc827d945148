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
from typing import TYPE_CHECKING, Any, NoReturn

import click

from spinerules.api import EvaluationFailedError, Guideline, analyse, load
from spinerules.console import as_of_day
from spinerules.engine.result import Result
from spinerules.lang import diagnostics as dg
from spinerules.lang.source import is_folder, read_limited
from spinerules.records.loader import (
    DEFAULT_MAX_BYTES,
    RecordError,
    RecordProblem,
    load_record_json,
)

if TYPE_CHECKING:
    from spinerules.fhir.extract import Extraction

EXIT_OK, EXIT_GUIDELINE, EXIT_USAGE, EXIT_RECORD, EXIT_EVAL = 0, 1, 2, 3, 4
EXIT_INTERNAL = 5
FHIR_MAX_BYTES = 64 * 1024 * 1024
"""A FHIR Bundle's size limit (a patient's history is larger than a record); the same as
``spinerules.fhir.commands.MAX_BYTES``, which a test keeps equal."""

LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "fhir": ("spinerules.fhir.commands", "fhir_group"),
    "serve": ("spinerules.service.commands", "serve_cmd"),
    "verify": ("spinerules.verify.commands", "verify_cmd"),
    "diff": ("spinerules.verify.commands", "diff_cmd"),
    "sql": ("spinerules.population.commands", "sql_command"),
    "population": ("spinerules.population.commands", "population_command"),
}
"""Commands whose wing is imported only when the command runs (or ``--help`` lists it): a
one-shot ``spinerules check`` does not pay for the FHIR mapping, a web framework or a
solver. Name -> (module, attribute)."""


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


def _read_input(g: Guideline, patient: str, as_of: datetime.date | None,
                validate: bool = False) -> tuple[Any, Extraction | None]:
    """The record, and its provenance when PATIENT is a FHIR Bundle."""
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
                if len(data) > limit and b'"resourceType"' in data[:4096]:
                    limit = FHIR_MAX_BYTES  # a FHIR Bundle: a patient's history is larger
                    data += fh.read(limit + 1 - len(data))
        except OSError as exc:
            _fail(f"error[SR501]: cannot read the patient record `{patient}`: {exc}", EXIT_RECORD)
        name = patient
    try:
        if len(data) > limit:
            shown = f"{size} bytes" if size and size > limit else f"more than {limit} bytes"
            raise RecordError([RecordProblem(
                "$", f"the record is too large ({shown}; the limit is {limit})")], source=name)
        if b'"resourceType"' in data:  # a FHIR Bundle where a record is expected
            bundle = _fhir_bundle(data, name)
            if bundle is not None:
                return _extract(g, bundle, as_of, name, validate)
        return load_record_json(g.record_type, data, source=name,
                                max_bytes=DEFAULT_MAX_BYTES), None
    except RecordError as exc:
        lines = [f"error[SR501]: the patient record {name} is invalid"]
        lines += [f"  {p.path}: {p.message}" for p in exc.problems]
        _fail("\n".join(lines), EXIT_RECORD)


def _fhir_bundle(data: bytes, name: str) -> Any:
    from spinerules.fhir.errors import FhirError
    from spinerules.fhir.extract import parse_json

    try:
        parsed = parse_json(data, file=name)
    except FhirError:
        return None  # not JSON: the record loader says where
    if isinstance(parsed, dict) and "resourceType" in parsed:  # FHIR (a record never has it)
        return parsed
    return None


def _extract(g: Guideline, bundle: Any, as_of: datetime.date | None, name: str,
             validate: bool) -> tuple[Any, Extraction]:
    from spinerules.fhir.commands import problems_text, read_bundle
    from spinerules.fhir.errors import FhirError
    from spinerules.fhir.mapping import BUNDLED, bundled_mapping

    key = next((k for k in BUNDLED if bundled_mapping(k).record_class is g.record_type), None)
    if key is None:
        _fail(f"error[SR501]: no FHIR mapping for the record type of `{g.id}`", EXIT_RECORD)
    try:
        extraction = read_bundle(bundle, as_of=as_of or datetime.date.today(), name=name,
                                 mapping=bundled_mapping(key), validate=validate)
    except FhirError as exc:
        _fail(problems_text(f"error[SR501]: the FHIR Bundle {name} is invalid", exc.problems),
              EXIT_RECORD)
    except ImportError as exc:
        _fail(f"error: {exc}", EXIT_USAGE)
    return extraction.record, extraction


def _as_of(value: str | None) -> datetime.date:
    return as_of_day(value, EXIT_USAGE)  # only YYYY-MM-DD, as every command reads it


def _evaluate(g: Guideline, record: Any, as_of: datetime.date, trace: bool) -> Result:
    try:
        return g.evaluate(record, as_of=as_of, trace=trace)
    except EvaluationFailedError as exc:
        d = exc.diagnostic
        _fail(dg.render(d, g.program.texts.get(d.span.source)), EXIT_EVAL)


class _LazyGroup(click.Group):
    """A group that imports the commands of :data:`LAZY_COMMANDS` when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, attr = LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spinerules")
def main() -> None:
    """Clinical spine-care guidelines as executable, testable, traceable rules."""


@main.command("eval")
@click.argument("guideline")
@click.argument("patient")
@click.option("--as-of", "as_of", help="The evaluation date (YYYY-MM-DD); default today.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]),
              default="text", show_default=True,
              help="text: the plan, one short reason per recommendation; markdown: a "
              "document; html: a self-contained page to print; json: the result contract.")
@click.option("--trace", is_flag=True,
              help="Show each recommendation's whole chain of conditions, and (text) the "
              "rule-by-rule trace.")
@click.option("--validate", is_flag=True,
              help="A FHIR Bundle: validate every resource with fhir.resources first.")
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def eval_cmd(guideline: str, patient: str, as_of: str | None, fmt: str, trace: bool,
             validate: bool, root: str | None = None) -> None:
    """Evaluate GUIDELINE (a path, a project folder or a bundled name) for PATIENT (a JSON
    record or a FHIR Bundle, a file or -)."""
    from spinerules.engine import report

    g = _load(guideline, root)
    day = _as_of(as_of)
    record, extraction = _read_input(g, patient, day, validate)
    result = _evaluate(g, record, day, trace)
    if fmt == "json":
        if extraction is None:
            _echo_json(result.dumps())
        else:
            data = json.loads(result.dumps())  # canonical (finite numbers), then additive
            data["provenance"] = extraction.provenance_json()
            _echo_json(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    elif fmt == "markdown":
        _echo(report.render_markdown(result, g.glossary(), full=trace), nl=False)
        if extraction is not None:
            _echo(f"\n## From FHIR\n\n```text\n{extraction.render()}\n```")
    elif fmt == "html":
        _echo(report.render_html(result, g.glossary(), full=trace), nl=False)
    else:
        text = report.render_text(result, g.glossary(), full=trace)
        if extraction is not None:
            text = _sourced(text, extraction) + "\nFROM FHIR\n" + extraction.render() + "\n"
        if trace and result.trace is not None:
            shown = result.trace.render()
            text += "\nTRACE\n" + (shown if extraction is None
                                    else _sourced(shown, extraction)) + "\n"
        _print_text(text)


def _sourced(text: str, extraction: Extraction) -> str:
    """``patient.history.cancer = yes`` in reasons and traces, followed by its FHIR sources."""
    for path, provs in extraction.provenance.items():
        if "[" in path:
            continue  # facts of list items appear under loop variables, not by path
        where = ", ".join(map(str, provs)).replace("\\", "\\\\")
        text = re.sub(rf"(patient\.{re.escape(path)} = [^;\n]*?)(?=;|\n|$)",
                      rf"\1 ({where})", text)
    return text


def _print_text(text: str) -> None:
    """Plain text; on a terminal, the same text with colour (``rich``) when installed."""
    if not (sys.stdout.isatty() and os.environ.get("NO_COLOR") is None):
        _echo(text, nl=False)
        return
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:  # pragma: no cover - rich is a dependency
        _echo(text, nl=False)
        return
    console = Console(highlight=False, soft_wrap=True)
    for line in escape_controls(text).split("\n")[:-1]:
        console.print(_styled(line, Text))


_STYLES = {"+": "green", "~": "green", "x": "bold red", "!": "bold yellow", "?": "cyan",
           "=": "magenta"}


def _styled(line: str, text_type: Any) -> Any:
    """One line of the text report, coloured: headings bold, marks by kind."""
    out = text_type(line)
    stripped = line.lstrip()
    if line and not line.startswith(" ") and line.split(" (")[0].isupper():
        out.stylize("bold underline")
    elif line.startswith("  ") and len(stripped) > 1 and stripped[1] == " " \
            and stripped[0] in _STYLES and not line.startswith("   "):
        out.stylize(_STYLES[stripped[0]], 0, len(line) - len(stripped) + 1)
        if stripped[0] in "x!":
            out.stylize("bold", 0, len(line))
    elif stripped.startswith(("why:", "ask:", "cited for:")):
        out.stylize("dim", 0, len(line) - len(stripped) + stripped.index(":") + 1)
    return out


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
    day = _as_of(as_of)
    record = _read_input(g, patient, day)[0]  # a FHIR Bundle is read at the same date
    result = _evaluate(g, record, day, True)
    _echo(result.explain(code))


@main.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def list_cmd(fmt: str) -> None:
    """List the bundled guidelines: name, version, title (and status, record type)."""
    from spinerules.api import bundled_guidelines

    found = bundled_guidelines()
    if fmt == "json":
        _echo_json(json.dumps([{"name": b.name, "title": b.title, "version": b.version,
                                "status": b.status, "record": b.record} for b in found],
                              indent=2))
        return
    if not found:
        _echo("no bundled guidelines found")
        return
    wn = max(len(b.name) for b in found)
    wv = max(len(b.version or "-") for b in found)
    for b in found:
        status = f"  [{b.status}]" if b.status and b.status != "active" else ""
        _echo(f"{b.name:<{wn}}  {b.version or '-':<{wv}}  {b.title}{status}")
    _echo(f"\n{len(found)} bundled guideline(s); use a name wherever a guideline path is "
          "expected (`spinerules eval vcf patient.json`)")


@main.command("schema")
@click.argument("name")
def schema_cmd(name: str) -> None:
    """Print a JSON Schema: of a patient record (NAME: a record type such as `spine.Patient`,
    its namespace `spine`, or a guideline, whose record it is), of case files (`case`) or
    of results (`result`)."""
    from spinerules.api import default_records, record_type_named
    from spinerules.records.describe import json_schema

    if name == "case":
        from spinerules.testing.casefile import case_schema

        _echo_json(json.dumps(case_schema(), indent=2))
        return
    if name == "result":
        from spinerules.engine.result import result_schema

        _echo_json(json.dumps(result_schema(), indent=2))
        return
    record = record_type_named(name)
    title = name
    if record is None:
        try:
            g = load(name)
        except dg.GuidelineError as exc:
            names = [*default_records(), "case", "result"]
            hint = dg.did_you_mean(name, names)
            _fail(f"error: `{name}` is not a record type, a guideline, `case` or `result`"
                  f"{'; ' + hint[0] if hint else ''}\n  record types: {', '.join(names[:-2])}"
                  f"\n{exc}", EXIT_USAGE)
        record, title = g.record_type, g.header.record or "spine.Patient"
    else:
        title = next((k for k, v in default_records().items() if v is record), name)
    _echo_json(json.dumps(json_schema(record, name=title), indent=2))


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


def _is_case_path(p: str) -> bool:
    return Path(p).suffix in (".yaml", ".yml")


def _case_files_in(paths: tuple[str, ...]) -> list[str]:
    """Case files under folders: ``*.cases.yaml`` files and ``.yaml`` files in a folder
    named ``cases`` (as the pytest plugin collects them)."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if is_folder(path):
            out.extend(str(f) for f in sorted(path.rglob("*.y*ml"))
                       if f.suffix in (".yaml", ".yml") and f.is_file()
                       and (f.name.endswith((".cases.yaml", ".cases.yml"))
                            or f.parent.name == "cases"))
    return out


@main.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--cases", "with_cases", is_flag=True,
              help="Also check the case files in the folders given (*.cases.yaml, "
              "cases/*.yaml); `spinerules test` always checks them.")
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def check_cmd(paths: tuple[str, ...], fmt: str, with_cases: bool,
              root: str | None = None) -> None:
    """Check guidelines (files, folders or bundled names) and YAML case files (`.yaml`
    files given); exit 1 on errors."""

    all_diags: list[dg.Diagnostic] = []
    texts: dict[str, Any] = {}
    files = _rules_files(tuple(p for p in paths if not _is_case_path(p)))
    case_files = [p for p in paths if _is_case_path(p)] + (
        _case_files_in(paths) if with_cases else [])
    unreadable: list[str] = []
    for f in files:
        checked, diags = analyse(f, root=root)
        all_diags.extend(diags)
        if checked is not None:
            texts.update(checked.program.texts)
        else:
            from spinerules.api import _texts_of

            texts.update(_texts_of(f, diags))
    if case_files:  # (the YAML reader is imported only then: `check` starts fast)
        from spinerules.testing.runner import CheckedCache, check_case_file

        cache = CheckedCache()
    for f in case_files:
        diags, source, why = check_case_file(Path(f), cache)
        all_diags.extend(dg.sort_and_cap(diags))
        if source is not None:
            texts[source.name] = source
        if why is not None:
            unreadable.append(why)
    errors = [d for d in all_diags if d.is_error]
    if fmt == "json":
        _echo_json(json.dumps({"files": files + case_files,
                               "diagnostics": [d.to_json() for d in all_diags],
                               "errors": len(errors) + len(unreadable)}, indent=2))
    elif all_diags or unreadable:
        for why in unreadable:
            _echo(why + "\n")
        if all_diags:
            _echo(dg.render_all(all_diags, texts))
    else:
        what = [f"{len(files)} guideline(s)"] if files or not case_files else []
        what += [f"{len(case_files)} case file(s)"] if case_files else []
        _echo(f"ok: {', '.join(what)}, no problems")
    sys.exit(EXIT_GUIDELINE if errors or unreadable else EXIT_OK)


@main.command("test")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--properties", is_flag=True,
              help="Also check the consistency properties over generated patients.")
@click.option("--examples", default=2000, show_default=True,
              help="Generated patients per property (with --properties).")
@click.option("--aimed", is_flag=True,
              help="With --properties: start the search from patients the solver builds "
              "to fire each rule, each invariant's codes and each MC/DC pair "
              "(needs the verify extra).")
@click.option("--coverage", "coverage", is_flag=True,
              help="Report rule and condition (MC/DC) coverage of the tests.")
@click.option("--fail-under", type=float, default=None,
              help="With --coverage: exit 1 if rule or condition coverage is below this.")
@click.option("--root", default=None, type=click.Path(file_okay=False),
              help="The folder imports are confined to (default: the project's, marked by "
              "spinerules.toml, else the guideline's folder).")
def test_cmd(paths: tuple[str, ...], fmt: str, properties: bool, examples: int,
             coverage: bool, fail_under: float | None, root: str | None = None,
             aimed: bool = False) -> None:
    """Run `test` blocks and YAML case files; exit 1 if any fails."""
    from spinerules.testing.runner import GuidelineCache, collect, describe_failure, run_cases

    cache = GuidelineCache(root=root)  # each guideline loaded once for all its cases
    results = run_cases(collect(list(paths), cache), cache)
    failed = [r for r in results if not r.passed]
    reports = _coverage(results, cache) if coverage else []
    low = [r for r in reports if fail_under is not None
           and min(r.rule_percent, r.condition_percent) < fail_under]
    prop_report: list[dict[str, Any]] = []
    if properties:
        from spinerules.testing.properties import check_properties

        for f in _rules_files(paths):
            try:
                g = cache.load(f)
            except dg.GuidelineError:
                continue  # reported by the cases above
            seeds: list[Any] = []
            if aimed:
                from spinerules.testing.properties import AS_OF
                from spinerules.verify.seeds import aimed_seeds

                seeds = aimed_seeds(g, as_of=AS_OF)
            for failure in check_properties(g, examples=examples, seeds=seeds):
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


def _coverage(results: list[Any], cache: Any) -> list[Any]:
    """Coverage per guideline, over the cases that evaluated."""
    from spinerules.testing.coverage import measure

    by_guideline: dict[str, list[Any]] = {}
    names: dict[str, str] = {}
    for r in results:
        if r.result is not None:
            path = Path(r.case.guideline)
            key = str(path.resolve()) if path.exists() else r.case.guideline
            names.setdefault(key, r.case.guideline)
            by_guideline.setdefault(key, []).append(r.result)
    return [measure(cache.load(names[key]), rs) for key, rs in sorted(by_guideline.items())]


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


def _has_header(text: str) -> bool:
    return any(line.startswith("guideline ") for line in text.splitlines())


def _guideline_errors(f: str, source: Any,
                      analysed: dict[str, tuple[list[dg.Diagnostic], dict[str, Any]]],
                      ) -> tuple[list[dg.Diagnostic], dict[str, Any]]:
    """The errors ``spinerules check`` finds that concern the file ``f``, and the texts to
    show them: for a guideline's entry file, every error of the guideline (its imports'
    too); for a module, the errors located in it when a guideline entry file in the same
    folder imports it (a module alone cannot be checked: its names live elsewhere)."""
    from spinerules.api import _texts_of

    def of(entry: str, text: str | None = None) -> tuple[list[dg.Diagnostic], dict[str, Any]]:
        if entry not in analysed:
            if text is not None:  # standard input: imports resolve from here
                checked, diags = analyse("<stdin>.rules", text=text, root=Path.cwd())
            else:
                checked, diags = analyse(entry)
            errors = [d for d in diags if d.is_error]
            shown = checked.program.texts if checked is not None else _texts_of(entry, errors)
            analysed[entry] = (errors, dict(shown))
        return analysed[entry]

    if _has_header(source.text):
        return of(f, source.text if f == "-" else None)
    if f == "-":
        return [], {}
    try:
        here = Path(f).resolve()
        entries = [str(e) for e in sorted(here.parent.glob("*.rules"))
                   if e != here and e.is_file() and _has_header(e.read_text("utf-8", "replace"))]
    except OSError:
        return [], {}
    found: list[dg.Diagnostic] = []
    shown: dict[str, Any] = {}
    for entry in entries:
        errors, texts = of(entry)
        mine = [d for d in errors if _names_file(d.span.source, here)]
        found.extend(d for d in mine if d not in found)
        shown.update(texts)
    return found, shown


def _names_file(display: str, path: Path) -> bool:
    """Whether a diagnostic's file name (``vcf/red_flags.rules``) is ``path``."""
    parts = Path(display).parts
    return bool(parts) and path.parts[-len(parts):] == parts


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
    analysed: dict[str, tuple[list[dg.Diagnostic], dict[str, Any]]] = {}
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
        checked_errors, checked_texts = _guideline_errors(f, source, analysed)
        if checked_errors:  # it parses, but `check` finds errors: left untouched
            problems.extend(checked_errors)
            texts.update(checked_texts)
            texts.setdefault(source.name, source)
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
