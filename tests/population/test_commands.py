"""``spinerules sql`` and ``spinerules population`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")

from spinerules.cli import main

DATA = Path(__file__).parents[1] / "bad_inputs" / "population"


def test_importing_the_cli_does_not_import_the_heavy_engines() -> None:
    code = ("import sys, spinerules.cli; print(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'duckdb', 'sqlglot', 'pyarrow', 'pyspark'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_sql_prints_the_query_in_each_dialect() -> None:
    runner = CliRunner()
    duck = runner.invoke(main, ["sql", "trauma", "--dialect", "duckdb", "--as-of", "2026-02-18"])
    assert duck.exit_code == 0, duck.output
    assert "LIST_WHERE(" in duck.output and duck.output.rstrip().endswith(";")
    spark = runner.invoke(main, ["sql", "trauma", "--dialect", "spark", "--as-of", "2026-02-18"])
    assert spark.exit_code == 0 and "POSEXPLODE" in spark.output


def test_sql_prints_the_query_of_some_outputs_and_refuses_unknown_ones() -> None:
    runner = CliRunner()
    codes = runner.invoke(main, ["sql", "trauma", "--outputs", "codes", "--as-of", "2026-02-18"])
    assert codes.exit_code == 0, codes.output
    assert 'AS "codes"' in codes.output and 'AS "missing"' not in codes.output
    bad = runner.invoke(main, ["sql", "trauma", "--outputs", "codes,explanations",
                               "--as-of", "2026-02-18"])
    assert bad.exit_code == 2 and "--outputs" in bad.output and "explanations" in bad.output
    assert "Traceback" not in bad.output


def test_population_writes_results_and_a_report(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out, html = tmp_path / "r.parquet", tmp_path / "r.html"
    result = CliRunner().invoke(main, [
        "population", "vcf", str(DATA / "records.ndjson"), "--as-of", "2026-02-18",
        "--out", str(out), "--report", str(html), "--format", "json", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["patients"] == 3 and report["load"]["rows_invalid"] == 4
    table = pq.read_table(out)
    assert table.num_rows == 3 and "codes" in table.column_names
    codes = [c for cs in table.column("codes").to_pylist() for c in cs]
    assert codes and {r["name"]: r["patients"] for r in report["recommendations"]} == {
        c: codes.count(c) for c in codes}
    page = html.read_text()
    assert page.count("<svg") >= 4 and "<script" not in page and "http" not in \
        page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_population_on_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["population", "vcf", str(tmp_path / "none.parquet"),
                                       "--no-progress"])
    assert result.exit_code == 3 and "no such file" in result.output
