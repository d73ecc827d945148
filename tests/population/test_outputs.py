"""A query asked for some of its outputs only (``compile_guideline(outputs=...)``) gives
exactly the columns of the full query, and the codes of the Python engine's fast path, on
generated patients: leaving the other outputs out computes less, never something else."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("hypothesis")

import duckdb

from spinerules.api import load
from spinerules.population.generate import Recombiner, draw_pool
from spinerules.population.layout import to_arrow
from spinerules.population.sql import OUTPUTS, compile_guideline
from spinerules.testing.strategies import patients_for

AS_OF = datetime.date(2026, 2, 18)
N = 5_000


@pytest.fixture(scope="module")
def population() -> tuple[list[Any], Any]:
    spine = load("spine")
    pool = draw_pool(patients_for(spine), 200, seed=15)
    records = list(Recombiner(pool).records(N, seed=4))
    return records, to_arrow(records, spine.record_type)


def columns(con: Any, sql: str) -> dict[str, dict[str, Any]]:
    """Each output column, by patient (lists sorted: the order of the names is free)."""
    rel = con.sql(sql)
    names = [d[0] for d in rel.description]
    out: dict[str, dict[str, Any]] = {k: {} for k in names if k not in ("__row", "patient")}
    for row in rel.fetchall():
        r = dict(zip(names, row, strict=True))
        for k in out:
            v = r[k]
            out[k][r["patient"]] = sorted(v, key=repr) if isinstance(v, list) else v
    return out


@pytest.mark.parametrize("name", ["spine", "vcf"])
def test_a_query_of_some_outputs_equals_the_full_query_and_the_engine(
        population: tuple[list[Any], Any], name: str) -> None:
    records, table = population
    g = load(name)
    con = duckdb.connect(config={"threads": 2})
    con.register("patients", table)
    full = columns(con, compile_guideline(g, as_of=AS_OF).sql(pretty=False))
    assert list(full) == list(OUTPUTS)
    engine = {r.id: sorted(g.codes(r, as_of=AS_OF)) for r in records}
    assert full["codes"] == engine
    assert any(full["missing"].values()) and any(full["undetermined"].values())
    for outputs in [("codes",), ("codes", "missing"), ("missing",), ("fired", "scores"),
                    ("undetermined",)]:
        q = compile_guideline(g, as_of=AS_OF, outputs=outputs)
        part = columns(con, q.sql(pretty=False))
        assert list(part) == list(outputs)
        for k in outputs:
            assert part[k] == full[k], (outputs, k)
    # asked for codes only, the query is smaller: the rules that only request, the
    # per-rule outcomes and the scores' lists are not in it
    whole = compile_guideline(g, as_of=AS_OF)
    codes_only = compile_guideline(g, as_of=AS_OF, outputs=("codes",)).sql(pretty=False)
    assert len(codes_only) < len(whole.sql(pretty=False))
    assert whole.requests and not [r for r in whole.requests if f"'{r}'" in codes_only]


def test_unknown_outputs_are_refused() -> None:
    g = load("spine")
    for bad in [("codes", "explanations"), ()]:
        with pytest.raises(ValueError, match="outputs"):
            compile_guideline(g, as_of=AS_OF, outputs=bad)


def test_the_spark_dialect_of_codes_only_is_a_query() -> None:
    sql = compile_guideline(load("spine"), dialect="spark", as_of=AS_OF,
                            outputs=("codes",)).sql(pretty=False)
    assert sql.startswith("WITH") and "FILTER(" in sql and "LIST_WHERE" not in sql
