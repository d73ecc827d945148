"""``spinerules sql`` (the query of a guideline, for review) and ``spinerules population``
(a guideline over a table of patients, with a care-gap report).

Only click is imported here; sqlglot, DuckDB, pyarrow and pyspark are imported when a
command runs, so that ``import spinerules.cli`` stays light.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from spinerules.console import as_of_day, fail

__all__ = ["population_command", "sql_command"]

EXIT_OK, EXIT_GUIDELINE, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3


def _guideline(name: str) -> Any:
    from spinerules.api import load
    from spinerules.lang import diagnostics as dg

    try:
        return load(name)
    except dg.GuidelineError as exc:
        fail(str(exc), EXIT_GUIDELINE)


def _needs(extra: str) -> NoReturn:
    fail(f"error: this needs the `{extra}` extra: pip install 'spinerules[{extra}]'",
          EXIT_USAGE)


@click.command("sql")
@click.argument("guideline")
@click.option("--dialect", type=click.Choice(["duckdb", "spark"]), default="duckdb",
              show_default=True)
@click.option("--as-of", "as_of", help="The date `today` means (YYYY-MM-DD).")
@click.option("--relation", default="patients", show_default=True,
              help="The table or view of patients the query reads.")
@click.option("--outputs", default="codes,missing,fired,undetermined,scores",
              show_default=True, help="The result columns wanted, comma-separated (`codes` "
              "alone: what `Guideline.codes` gives; the query computes nothing else).")
def sql_command(guideline: str, dialect: str, as_of: str | None, relation: str,
                outputs: str) -> None:
    """Print the SQL query that evaluates GUIDELINE over a table of patients."""
    g = _guideline(guideline)
    try:
        from spinerules.population.sql import TranslationError, compile_guideline
    except ImportError:
        _needs("population")
    wanted = tuple(o.strip() for o in outputs.split(",") if o.strip())
    day = as_of_day(as_of, EXIT_USAGE)
    try:
        q = compile_guideline(g, dialect=dialect, as_of=day, relation=relation, outputs=wanted)
    except TranslationError as exc:
        fail(str(exc), EXIT_GUIDELINE)
    except ValueError as exc:
        fail(f"error: --outputs: {exc}", EXIT_USAGE)
    click.echo(q.sql(pretty=True) + ";")


@click.command("population")
@click.argument("guideline")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--engine", type=click.Choice(["duckdb", "spark", "python"]), default="duckdb",
              show_default=True)
@click.option("--as-of", "as_of", help="The date `today` means (YYYY-MM-DD; default today).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Write the per-patient results here (Parquet).")
@click.option("--report", "report_path", type=click.Path(path_type=Path),
              help="Write the care-gap report here (.html, .json or .txt by the suffix).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True, help="The report printed on standard output.")
@click.option("--master", default="local[2]", show_default=True,
              help="Spark master URL (--engine spark).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when standard error is a terminal).")
def population_command(guideline: str, data: Path, engine: str, as_of: str | None,
                       out: Path | None, report_path: Path | None, fmt: str, master: str,
                       progress: bool | None) -> None:
    """Run GUIDELINE over the patients in DATA and report the care gaps.

    DATA: Parquet or NDJSON records in the nested layout, a folder of flat CSV tables
    (patients.csv, fractures.csv...), or a FHIR Bulk Data export folder.
    """
    g = _guideline(guideline)
    when = as_of_day(as_of, EXIT_USAGE)
    try:
        from spinerules.population import report as rp
        from spinerules.population.load import LoadError
        from spinerules.population.run import run
        from spinerules.population.sql import TranslationError, compile_guideline
    except ImportError:
        _needs("population")
    if engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            _needs("spark")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), disable=not show,
                   console=None, transient=False)
    try:
        query = compile_guideline(g, dialect="duckdb", as_of=when)
    except TranslationError as exc:
        fail(str(exc), EXIT_GUIDELINE)
    start = time.perf_counter()
    with bar:
        task = bar.add_task(f"{g.id} on {engine}", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
        try:
            results, load_report = run(g, data, engine=engine, as_of=when, master=master,
                                       progress=tick)
        except LoadError as exc:
            fail(f"error: {exc}", EXIT_INPUT)
    seconds = time.perf_counter() - start
    if out is not None:
        import pyarrow.parquet as pq

        pq.write_table(results, str(out))
    report = rp.build(results, query, load_report, engine=engine, guideline=g.id,
                      as_of=when.isoformat(), seconds=seconds)
    render = {"text": rp.text, "json": rp.to_json, "html": rp.to_html}
    if report_path is not None:
        kind = {".html": "html", ".htm": "html", ".json": "json"}.get(
            report_path.suffix.lower(), "text")
        report_path.write_text(render[kind](report), encoding="utf-8")
    click.echo(render[fmt](report))
