"""Population scale: a checked guideline compiled to SQL (``sql``), run on DuckDB, Apache
Spark or the Python engine over a table of patients (``run``), with a care-gap report
(``report``).

Heavy dependencies (sqlglot, duckdb, pyarrow, pyspark) are imported by the modules that
need them, never by this package itself: ``import spinerules.population`` costs nothing.
Install them with ``pip install spinerules[population]`` (DuckDB) and ``spinerules[spark]``.
"""
