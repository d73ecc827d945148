"""Parity is the contract: the SQL query gives the Python engine's answers, patient by
patient.

100,000 generated patients (a Hypothesis pool recombined field by field, see
``population.generate``) go through every bundled guideline: on DuckDB, every patient's
codes equal those of the engine's fast path (``Guideline.codes``), and for the first
1,000 every part of the result equals the engine's full evaluation (codes, the
guideline's requests, each rule fired or undetermined, each score's value and range).
Spark (local mode) runs 10,000 of them through ``spine`` (the entry point that imports
every pathway): its codes equal the engine's, and its full rows equal DuckDB's.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("hypothesis")

import duckdb
import pyarrow.compute as pc

from spinerules.api import bundled_guidelines, load
from spinerules.population.generate import Recombiner, draw_pool
from spinerules.population.layout import to_arrow
from spinerules.population.reference import compare, python_row, sql_row
from spinerules.population.sql import compile_guideline
from spinerules.testing.strategies import patients_for

AS_OF = datetime.date(2026, 2, 18)
N_CODES, N_FULL, N_SPARK = 100_000, 1_000, 10_000


def population(n: int) -> tuple[list[Any], Any]:
    spine = load("spine")  # its thresholds are those of every pathway it imports
    pool = draw_pool(patients_for(spine), 400, seed=15)
    records = list(Recombiner(pool).records(n, seed=20261203))
    return records, to_arrow(records, spine.record_type)


def arrow(relation: Any) -> Any:
    """A DuckDB relation's Arrow table (DuckDB 2 gives a reader, earlier ones a table)."""
    out = relation.arrow()
    return out.read_all() if hasattr(out, "read_all") else out


def sql_rows(con: Any, g: Any, dialect_sql: str) -> list[dict[str, Any]]:
    rel = con.sql(dialect_sql)
    names = [d[0] for d in rel.description]
    return [sql_row(dict(zip(names, r, strict=True))) for r in rel.fetchall()]


def test_duckdb_equals_the_python_engine_on_100000_patients_per_guideline() -> None:
    records, table = population(N_CODES)
    con = duckdb.connect(config={"threads": 2})
    con.register("patients", table)
    summary = {}
    for b in bundled_guidelines():
        g = load(b.name)
        q = compile_guideline(g, as_of=AS_OF)
        result = arrow(con.sql(q.sql(pretty=False)))
        assert result.num_rows == N_CODES
        got = dict(zip(result.column("patient").to_pylist(),
                       result.column("codes").to_pylist(), strict=True))
        wrong = [r.id for r in records if sorted(g.codes(r, as_of=AS_OF)) != sorted(got[r.id])]
        assert wrong == [], f"{b.name}: {len(wrong)} patients differ, first {wrong[:5]}"
        rule_ids = frozenset(r.rule_id for r in q.rules)
        expected = [python_row(g, r, AS_OF, rule_ids) for r in records[:N_FULL]]
        rows = [sql_row(r) for r in result.filter(
            pc.less(result.column("__row"), N_FULL)).to_pylist()]
        n, mismatches, examples = compare(expected, rows)
        assert (n, mismatches) == (N_FULL, {}), f"{b.name}: {examples}"
        rows = [{"codes": c, "undetermined": u} for c, u in zip(
            got.values(), result.column("undetermined").to_pylist(), strict=True)]
        # the population exercises the guideline: codes, requests, undetermined rules
        codes = {c for r in rows for c in r["codes"]}
        assert len(codes) >= min(5, len(q.codes)), b.name
        assert any(r["undetermined"] for r in rows), b.name
        summary[b.name] = len(codes)
    assert len(summary) == len(bundled_guidelines())


def test_spark_local_mode_equals_the_engine_on_10000_patients() -> None:
    pytest.importorskip("pyspark")
    from spinerules.population.run import spark_session

    records, table = population(N_SPARK)
    g = load("spine")
    spark = spark_session("local[2]")
    try:
        import tempfile

        import pyarrow.parquet as pq
        with tempfile.TemporaryDirectory() as tmp:
            pq.write_table(table, f"{tmp}/p.parquet")
            spark.read.parquet(f"{tmp}/p.parquet").createOrReplaceTempView("patients")
            query = compile_guideline(g, dialect="spark", as_of=AS_OF)
            spark_rows = [sql_row(r.asDict(recursive=True))
                          for r in spark.sql(query.sql(pretty=False)).collect()]
    finally:
        spark.stop()
    assert len(spark_rows) == N_SPARK
    by = {r["patient"]: r for r in spark_rows}
    wrong = [r.id for r in records if sorted(g.codes(r, as_of=AS_OF)) != by[r.id]["codes"]]
    assert wrong == [], f"{len(wrong)} patients differ, first {wrong[:5]}"
    con = duckdb.connect()
    con.register("patients", table)
    duck = sql_rows(con, g, compile_guideline(g, as_of=AS_OF).sql(pretty=False))
    n, mismatches, examples = compare(duck, spark_rows)
    assert (n, mismatches) == (N_SPARK, {}), examples
