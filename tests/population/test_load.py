"""Loading patients: every layout gives the same records; bad data is counted by table,
column and problem, and the valid rows still run."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")

import pyarrow.parquet as pq  # noqa: E402

from spinerules.api import load as load_guideline  # noqa: E402
from spinerules.population.load import LoadError, load  # noqa: E402
from spinerules.population.run import connect, run_duckdb  # noqa: E402

AS_OF = datetime.date(2026, 2, 18)
DATA = Path(__file__).parents[1] / "bad_inputs" / "population"


@pytest.fixture(scope="module")
def vcf():  # type: ignore[no-untyped-def]
    return load_guideline("vcf")


def problems(report) -> set[tuple[str, str, str, int]]:  # type: ignore[no-untyped-def]
    return {(p.table, p.column, p.problem, p.rows) for p in report.problems}


def test_ndjson_bad_values_are_counted_and_valid_rows_run(vcf) -> None:  # type: ignore[no-untyped-def]
    con = connect()
    report = load(con, DATA / "records.ndjson", vcf.record_type)
    assert (report.rows_read, report.rows_valid, report.rows_invalid) == (7, 3, 4)
    assert problems(report) >= {
        ("patients", "age", "not a whole number", 1),
        ("patients", "age", "below the minimum 0", 1),
        ("patients", "sex", "not one of female, male", 1),
        ("patients", "neuro.deficit", "not a boolean", 1),
        ("patients", "fractures[].height_loss_pct", "not a number", 1),
    }
    assert any(p[1] == "fractures[].level" and p[2].startswith("not one of C1") and p[3] == 1
               for p in problems(report))
    results = run_duckdb(con, vcf, AS_OF)
    assert sorted(results.column("patient").to_pylist()) == ["ok1", "ok2", "ok3"]


def test_flat_csv_is_nested_and_agrees_with_the_ndjson_records(vcf) -> None:  # type: ignore[no-untyped-def]
    con = connect()
    report = load(con, DATA / "flat", vcf.record_type)
    assert (report.rows_read, report.rows_valid) == (6, 3)
    assert problems(report) >= {("patients", "age", "below the minimum 0", 1),
                                ("patients", "sex", "not one of female, male", 1),
                                ("patients", "age", "not a whole number", 1)}
    flat = {r["patient"]: r for r in run_duckdb(con, vcf, AS_OF).to_pylist()}
    con2 = connect()
    load(con2, DATA / "records.ndjson", vcf.record_type)
    nested = {r["patient"]: r for r in run_duckdb(con2, vcf, AS_OF).to_pylist()}
    assert flat["ok2"]["codes"] == nested["ok2"]["codes"] and flat["ok2"]["codes"]
    assert flat["ok3"]["codes"] == nested["ok3"]["codes"]
    # ok1: the CSV gives no pain score (empty): the same as the NDJSON record
    assert flat["ok1"]["codes"] == nested["ok1"]["codes"]


def test_a_missing_table_is_reported_and_read_as_unknown(vcf) -> None:  # type: ignore[no-untyped-def]
    con = connect()
    report = load(con, DATA / "flat_no_list", vcf.record_type)
    assert report.rows_valid == 2
    assert any(p.table == "fractures" and "missing table fractures.csv" in p.problem
               for p in report.problems)
    results = run_duckdb(con, vcf, AS_OF).to_pylist()
    # an unknown list: every rule of a `for` over the fractures waits on it
    assert all(r["undetermined"] for r in results)


def test_parquet_with_a_column_of_the_wrong_type(vcf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table = pa.table({"id": ["a", "b", "c"], "age": ["70", "x", None],
                      "sex": ["female", "male", "other"]})
    pq.write_table(table, tmp_path / "p.parquet")
    con = connect()
    report = load(con, tmp_path / "p.parquet", vcf.record_type)
    assert (report.rows_read, report.rows_valid) == (3, 1)
    assert ("patients", "age", "not a whole number (found VARCHAR)", 1) in problems(report)
    assert ("patients", "sex", "not one of female, male", 1) in problems(report)
    assert any(p.column == "fractures" and p.problem.startswith("missing column")
               for p in report.problems)


def test_unreadable_input_is_a_clear_error(vcf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LoadError, match="no such file"):
        load(connect(), tmp_path / "nothing.parquet", vcf.record_type)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(LoadError, match=r"not a \.parquet"):
        load(connect(), tmp_path / "x.txt", vcf.record_type)


def test_the_python_engine_over_the_loaded_rows_equals_duckdb(vcf) -> None:  # type: ignore[no-untyped-def]
    from spinerules.population.reference import compare, sql_row
    from spinerules.population.run import run_python

    con = connect()
    load(con, DATA / "records.ndjson", vcf.record_type)
    duck = [sql_row(r) for r in run_duckdb(con, vcf, AS_OF).to_pylist()]
    python = [sql_row(r) for r in run_python(con, vcf, AS_OF).to_pylist()]
    n, mismatches, examples = compare(python, duck)
    assert (n, mismatches) == (3, {}), examples
    assert any(r["codes"] for r in python)


def test_a_fhir_bulk_export_is_read_through_the_mapping(vcf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.fhir_in.test_bulk import as_bulk_resources, records, write_export

    recs = records()
    write_export(tmp_path, [r for n, rec in enumerate(recs) for r in as_bulk_resources(rec, n)])
    con = connect()
    report = load(con, tmp_path, vcf.record_type, as_of=AS_OF)
    assert (report.kind, report.rows_read, report.rows_valid) == ("fhir", len(recs), len(recs))
    results = run_duckdb(con, vcf, AS_OF).to_pylist()
    assert len(results) == len(recs) and all(r["codes"] for r in results)
