"""Running a guideline over a population: DuckDB (default), Spark, or the Python engine.

Each engine returns the same Arrow table, one row per valid patient: ``__row``,
``patient``, ``codes``, ``missing``, ``fired``, ``undetermined`` and ``scores`` (see
``sql.py``). The data is loaded and checked once, by DuckDB (``load.py``).
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spinerules.population.load import LoadReport, load
from spinerules.population.sql import compile_guideline

ENGINES = ("duckdb", "spark", "python")
#: (rows done, rows in all) after each batch
Progress = Callable[[int, int], None]


def results_schema() -> Any:
    import pyarrow as pa

    score = pa.struct([("name", pa.string()), ("value", pa.float64()),
                       ("low", pa.float64()), ("high", pa.float64())])
    return pa.schema([("__row", pa.int64()), ("patient", pa.string()),
                      ("codes", pa.list_(pa.string())), ("missing", pa.list_(pa.string())),
                      ("fired", pa.list_(pa.string())),
                      ("undetermined", pa.list_(pa.string())),
                      ("scores", pa.list_(score))])


def connect(threads: int | None = None, memory_limit: str | None = None) -> Any:
    import duckdb

    config: dict[str, Any] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    return duckdb.connect(config=config)


def run_duckdb(con: Any, guideline: Any, as_of: datetime.date, *, view: str = "patients",
               progress: Progress | None = None, batch: int = 65536) -> Any:
    """The results of the patients in DuckDB view ``view`` (an Arrow table)."""
    import pyarrow as pa

    total = con.execute(f'SELECT count(*) FROM "{view}"').fetchall()[0][0]
    query = compile_guideline(guideline, dialect="duckdb", as_of=as_of, relation=view)
    reader = _reader(con.sql(query.sql(pretty=False)), batch)
    batches = []
    done = 0
    for b in reader:
        batches.append(b)
        done += b.num_rows
        if progress is not None:
            progress(done, total)
    table = pa.Table.from_batches(batches, schema=reader.schema) if batches else \
        results_schema().empty_table()
    return table.cast(results_schema())


def _reader(relation: Any, batch: int) -> Any:
    """An Arrow record batch reader over a DuckDB relation (either API version)."""
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(batch)
    return relation.fetch_record_batch(batch)  # pragma: no cover - DuckDB before 1.4


def run_python(con: Any, guideline: Any, as_of: datetime.date, *, view: str = "patients",
               progress: Progress | None = None, batch: int = 4096) -> Any:
    """The Python engine (the reference) over the same patients, row for row."""
    import pyarrow as pa

    from spinerules.population.reference import python_row
    from spinerules.records.loader import load_record

    rule_ids = frozenset(r.rule_id for r in compile_guideline(
        guideline, as_of=as_of, relation=view).rules)
    total = con.execute(f'SELECT count(*) FROM "{view}"').fetchall()[0][0]
    reader = _reader(con.sql(f'SELECT * FROM "{view}"'), batch)
    out: dict[str, list[Any]] = {k: [] for k in results_schema().names}
    done = 0
    for b in reader:
        for row in b.to_pylist():
            number = row.pop("__row")
            record = load_record(guideline.record_type, _strip(row))
            r = python_row(guideline, record, as_of, rule_ids)
            out["__row"].append(number)
            for key in ("patient", "codes", "missing", "fired", "undetermined"):
                out[key].append(r[key])
            out["scores"].append([{"name": k, "value": v, "low": lo, "high": hi}
                                  for k, (v, lo, hi) in sorted(r["scores"].items())])
        done += b.num_rows
        if progress is not None:
            progress(done, total)
    return pa.table(out, schema=results_schema())


def _strip(value: Any) -> Any:
    """A row as a JSON record: no null keys (a missing key and null are both unknown)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def spark_session(master: str = "local[2]", app: str = "spinerules-population") -> Any:
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(master).appName(app)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "1g")
            .getOrCreate())


def run_spark(con: Any, guideline: Any, as_of: datetime.date, *, view: str = "patients",
              master: str = "local[2]", progress: Progress | None = None,
              session: Any = None) -> Any:
    """The same query in Spark SQL, on the patients checked by DuckDB (handed to Spark as
    Parquet). On a cluster, read the Parquet from shared storage instead (see the
    integrators' guide)."""
    import pyarrow as pa

    spark = session or spark_session(master)
    query = compile_guideline(guideline, dialect="spark", as_of=as_of, relation=view)
    with tempfile.TemporaryDirectory(prefix="spinerules-spark-") as tmp:
        path = Path(tmp) / "patients.parquet"
        con.sql(f'COPY (SELECT * FROM "{view}") TO \'{path}\' (FORMAT parquet)')
        spark.read.parquet(str(path)).createOrReplaceTempView(view)
        df = spark.sql(query.sql(pretty=False))
        table = df.toArrow() if hasattr(df, "toArrow") else pa.Table.from_pandas(df.toPandas())
    if progress is not None:
        progress(table.num_rows, table.num_rows)
    return _normalise(table)


def _normalise(table: Any) -> Any:
    """Spark's Arrow (its own field names and nullability) cast to the results schema."""
    import pyarrow as pa

    rows = table.to_pylist()
    return pa.Table.from_pylist(rows, schema=results_schema())


def run(guideline: Any, data: str | Path, *, engine: str = "duckdb",
        as_of: datetime.date, master: str = "local[2]", progress: Progress | None = None,
        con: Any = None) -> tuple[Any, LoadReport]:
    """Load ``data`` (checked) and run ``guideline`` over it on ``engine``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})")
    con = con or connect()
    report = load(con, data, guideline.record_type, as_of=as_of)
    if engine == "duckdb":
        return run_duckdb(con, guideline, as_of, progress=progress), report
    if engine == "python":
        return run_python(con, guideline, as_of, progress=progress), report
    return run_spark(con, guideline, as_of, master=master, progress=progress), report
