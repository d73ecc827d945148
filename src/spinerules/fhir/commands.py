"""The ``spinerules fhir`` commands: ``extract`` (one Bundle), ``bulk`` (NDJSON), ``check``.

Kept in the fhir wing (click only, nothing above it); ``spinerules.cli`` adds the group.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import click

from spinerules.console import as_of_day, fail
from spinerules.fhir.bulk import BulkReport, read_bulk, tty_progress
from spinerules.fhir.errors import FhirError, FhirProblem, MappingError
from spinerules.fhir.extract import Extraction, extract_bundle, parse_json
from spinerules.fhir.mapping import Mapping_, bundled_mapping, check_codes, load_mapping

__all__ = ["fhir_group", "read_bundle"]

EXIT_OK, EXIT_MAPPING, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3
MAX_BYTES = 64 * 1024 * 1024


def _mapping(path: str | None) -> Mapping_:
    try:
        return load_mapping(path) if path else bundled_mapping()
    except MappingError as exc:
        fail("error: the FHIR mapping is invalid\n" + "\n".join(
            f"  {p}" for p in exc.problems), EXIT_MAPPING)


def problems_text(title: str, problems: tuple[FhirProblem, ...] | list[FhirProblem]) -> str:
    return "\n".join([title, *(f"  {p}" for p in problems)])


def read_bundle(data: Any, *, as_of: datetime.date, name: str, mapping: Mapping_ | None = None,
                validate: bool = False) -> Extraction:
    """Extract a parsed Bundle; raise :class:`FhirError` (located) for bad input."""
    if validate and isinstance(data, dict):
        from spinerules.fhir.validate import validate_resources

        raw = data.get("entry")
        entries: list[Any] = raw if isinstance(raw, list) else []
        found = validate_resources(
            [(f"entry[{i}].resource", e["resource"]) for i, e in enumerate(entries)
             if isinstance(e, dict) and isinstance(e.get("resource"), dict)], file=name)
        if found:
            raise FhirError(found)
    return extract_bundle(data, as_of=as_of, mapping=mapping, file=name)


@click.group("fhir")
def fhir_group() -> None:
    """FHIR R4 in: Bundles and bulk NDJSON mapped onto records, with provenance."""


@fhir_group.command("extract")
@click.argument("bundle")
@click.option("--as-of", "as_of", help="The evaluation date (YYYY-MM-DD); default today.")
@click.option("--mapping", "mapping_path", help="A mapping file (default: the bundled one).")
@click.option("--validate", is_flag=True, help="Validate every resource with fhir.resources.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json",
              show_default=True)
def extract_cmd(bundle: str, as_of: str | None, mapping_path: str | None, validate: bool,
                fmt: str) -> None:
    """Print the record extracted from BUNDLE (a file, or -) with its provenance."""
    m = _mapping(mapping_path)
    name = "<stdin>" if bundle == "-" else bundle
    try:
        if bundle == "-":
            raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(bundle, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        fail(f"error: cannot read `{bundle}`: {exc.strerror or exc}", EXIT_INPUT)
    try:
        if len(raw) > MAX_BYTES:
            raise FhirError([FhirProblem("$", f"the Bundle is larger than {MAX_BYTES} bytes",
                                         file=name)])
        data = parse_json(raw, file=name)
        extraction = read_bundle(data, as_of=as_of_day(as_of, EXIT_USAGE), name=name, mapping=m,
                                 validate=validate)
    except FhirError as exc:
        fail(problems_text(f"error: the FHIR input {name} is invalid", exc.problems),
              EXIT_INPUT)
    except ImportError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    if fmt == "json":
        click.echo(json.dumps(extraction.to_json(), indent=2))
    else:
        click.echo(extraction.render())


@fhir_group.command("bulk")
@click.argument("folder")
@click.option("--as-of", "as_of", help="The evaluation date (YYYY-MM-DD); default today.")
@click.option("--mapping", "mapping_path", help="A mapping file (default: the bundled one).")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True),
              help="Write the records here (NDJSON) instead of standard output.")
def bulk_cmd(folder: str, as_of: str | None, mapping_path: str | None, out: str | None) -> None:
    """Extract one record per patient from a folder of NDJSON files (Bulk Data $export).

    Writes one JSON line per patient ({"patient", "record", "provenance", ...} or
    {"patient", "skipped": [problems]}); the counts and every located problem go to stderr.
    """
    m = _mapping(mapping_path)
    if not Path(folder).exists():
        fail(f"error: no such folder or file `{folder}`", EXIT_USAGE)
    report = BulkReport()
    try:
        sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    except OSError as exc:
        fail(f"error: cannot write `{out}`: {exc.strerror or exc}", EXIT_USAGE)
    day = as_of_day(as_of, EXIT_USAGE)
    update, stop = tty_progress()
    try:
        for result in read_bulk(folder, as_of=day, mapping=m, report=report,
                                progress=update):
            if result.extraction is not None:
                line = {"patient": result.patient, **result.extraction.to_json()}
            else:
                line = {"patient": result.patient,
                        "skipped": [p.to_json() for p in result.problems]}
            sink.write(json.dumps(line) + "\n")
    except OSError as exc:
        stop()
        fail(f"error: cannot read `{folder}`: {exc.strerror or exc}", EXIT_INPUT)
    finally:
        stop()
        if out:
            sink.close()
    for p in report.problems:
        click.echo(f"problem: {p}", err=True)
    click.echo(report.summary(), err=True)


@fhir_group.command("check")
@click.argument("mapping_path", required=False)
def check_cmd(mapping_path: str | None) -> None:
    """Check a mapping file (default: the bundled one), ICD-10-CM codes included."""
    m = _mapping(mapping_path)
    try:
        problems = check_codes(m)
    except ImportError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    if problems:
        fail(problems_text(f"error: {m.file} has unknown codes", problems), EXIT_MAPPING)
    click.echo(f"{m.file}: {len(m.value_sets)} value sets, "
               f"{sum(len(v.codes) for v in m.value_sets.values())} codes, "
               f"{len(m.facts)} facts: ok")
